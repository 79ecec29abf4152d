//! Tags: object and bucket tagging, and the one check every tag set passes, as XML or `x-amz-tagging`.

use std::collections::BTreeMap;

use coffer_engine::{BucketRecord, ObjectRecord};
use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use super::CofferS3;
use super::object::{reported_version, requested_version};
use crate::edge::RenderedStatus;
use crate::error::{custom, from_engine};

/// The bucket configuration document that holds a bucket's tags.
const CONFIG_KIND: &str = "tagging";
/// Tag keys and values are measured in UTF-16 code units, as Amazon S3
/// stores them, so a character outside the Basic Multilingual Plane counts
/// twice.
const KEY_UNITS_MAX: usize = 128;
const VALUE_UNITS_MAX: usize = 256;
const HEADER_INVALID: &str = "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.";

/// What a tag set is attached to: the limits, and some of S3's messages,
/// differ between the two.
#[derive(Clone, Copy)]
pub(crate) enum Tagged {
    Object,
    Bucket,
}

impl Tagged {
    fn too_many(self) -> S3Error {
        let message = match self {
            Tagged::Object => "Object tags cannot be greater than 10",
            Tagged::Bucket => "Bucket tag count cannot be greater than 50",
        };
        custom("BadRequest", http::StatusCode::BAD_REQUEST, message)
    }

    fn tags_max(self) -> usize {
        match self {
            Tagged::Object => 10,
            Tagged::Bucket => 50,
        }
    }

    fn reserved_prefix(self) -> S3Error {
        match self {
            Tagged::Object => s3_error!(InvalidTag, "Your TagKey cannot be prefixed with aws:"),
            Tagged::Bucket => s3_error!(InvalidTag, "System tags cannot be added/updated by requester"),
        }
    }
}

/// Checks a tag set as Amazon S3 does and returns it as stored: at most 10
/// tags on an object and 50 on a bucket (BadRequest), keys of 1 to 128 and
/// values of up to 256 characters from `[\p{L}\p{Z}\p{N}_.:/=+\-@]`, no key
/// starting with `aws:` and no key twice (InvalidTag).
fn validated(pairs: Vec<(String, String)>, tagged: Tagged) -> S3Result<BTreeMap<String, String>> {
    if pairs.len() > tagged.tags_max() {
        return Err(tagged.too_many());
    }
    let mut tags = BTreeMap::new();
    for (key, value) in pairs {
        if key.is_empty() || key.encode_utf16().count() > KEY_UNITS_MAX || !key.chars().all(allowed) {
            return Err(s3_error!(InvalidTag, "The TagKey you have provided is invalid"));
        }
        if key.starts_with("aws:") {
            return Err(tagged.reserved_prefix());
        }
        if value.encode_utf16().count() > VALUE_UNITS_MAX || !value.chars().all(allowed) {
            return Err(s3_error!(InvalidTag, "The TagValue you have provided is invalid"));
        }
        if tags.insert(key, value).is_some() {
            return Err(s3_error!(InvalidTag, "Cannot provide multiple Tags with the same key"));
        }
    }
    Ok(tags)
}

/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]`, the pattern S3 documents for tags. The
/// standard library has no `\p{L}`; `is_alphanumeric` (Alphabetic or
/// Numeric) is its closest superset, and `\p{Z}` is spelled out.
fn allowed(c: char) -> bool {
    const SEPARATORS: [char; 8] = [
        ' ', '\u{A0}', '\u{1680}', '\u{2028}', '\u{2029}', '\u{202F}', '\u{205F}', '\u{3000}',
    ];
    let separator = SEPARATORS.contains(&c) || ('\u{2000}'..='\u{200A}').contains(&c);
    c.is_alphanumeric() || separator || "_.:/=+-@".contains(c)
}

/// The tags of a Tagging document. A tag without a key or a value does not
/// match S3's schema.
pub(crate) fn from_xml(tagging: &Tagging, tagged: Tagged) -> S3Result<BTreeMap<String, String>> {
    let pairs = tagging
        .tag_set
        .iter()
        .map(|tag| match (&tag.key, &tag.value) {
            (Some(key), Some(value)) => Ok((key.clone(), value.clone())),
            _ => Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            )),
        })
        .collect::<S3Result<_>>()?;
    validated(pairs, tagged)
}

/// The tags of an `x-amz-tagging` header: URL-encoded `key=value` pairs
/// joined by `&`, `+` standing for a space as in a query string. A key without `=` has an empty value and empty pairs are
/// skipped, as in S3; a pair without a key, bytes that are not UTF-8 once
/// decoded, or a key given twice make the header invalid (InvalidArgument).
pub(crate) fn from_header(header: Option<&str>) -> S3Result<BTreeMap<String, String>> {
    let Some(header) = header else {
        return Ok(BTreeMap::new());
    };
    let invalid = || s3_error!(InvalidArgument, "{HEADER_INVALID}");
    let decode = |text: &str| {
        let spaced = text.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .map(std::borrow::Cow::into_owned)
            .map_err(|_| invalid())
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pair in header.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (decode(key)?, decode(value)?);
        if key.is_empty() || pairs.iter().any(|(seen, _)| *seen == key) {
            return Err(invalid());
        }
        pairs.push((key, value));
    }
    validated(pairs, Tagged::Object)
}

fn tag_set(tags: BTreeMap<String, String>) -> TagSet {
    tags.into_iter()
        .map(|(key, value)| Tag {
            key: Some(key),
            value: Some(value),
        })
        .collect()
}

impl CofferS3 {
    pub(super) async fn do_put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let input = &req.input;
        let tags = from_xml(&input.tagging, Tagged::Object)?;
        let stored = self
            .set_object_tags(&bucket, &input.key, input.version_id.as_deref(), tags)
            .await?;
        Ok(S3Response::new(PutObjectTaggingOutput {
            version_id: reported_version(&bucket, &stored),
        }))
    }

    pub(super) async fn do_get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let input = &req.input;
        let object = self
            .engine
            .object(&bucket.name, &input.key, requested_version(input.version_id.as_deref()))
            .await
            .map_err(from_engine)?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            version_id: reported_version(&bucket, &object),
            tag_set: tag_set(object.tags),
        }))
    }

    pub(super) async fn do_delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let input = &req.input;
        let stored = self
            .set_object_tags(&bucket, &input.key, input.version_id.as_deref(), BTreeMap::new())
            .await?;
        Ok(S3Response::new(DeleteObjectTaggingOutput {
            version_id: reported_version(&bucket, &stored),
        }))
    }

    /// Replaces the tags of a key's version (the current one without a
    /// version id); a delete marker fails as a read of it does.
    async fn set_object_tags(
        &self,
        bucket: &BucketRecord,
        key: &str,
        version_id: Option<&str>,
        tags: BTreeMap<String, String>,
    ) -> S3Result<ObjectRecord> {
        self.engine
            .update_object(
                &bucket.name,
                key,
                requested_version(version_id),
                Box::new(move |object| {
                    object.tags = tags.clone();
                    Ok(())
                }),
            )
            .await
            .map_err(from_engine)
    }

    /// Answers 204, as S3 does. An empty tag set leaves the bucket untagged.
    pub(super) async fn do_put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let tags = from_xml(&req.input.tagging, Tagged::Bucket)?;
        let document = if tags.is_empty() {
            None
        } else {
            Some(serde_json::to_vec(&tags).map_err(|e| s3_error!(e, InternalError, "Tags could not be encoded"))?)
        };
        self.set_bucket_config(&bucket.name, CONFIG_KIND, document).await?;
        let mut response = S3Response::new(PutBucketTaggingOutput {});
        response.extensions.insert(RenderedStatus(http::StatusCode::NO_CONTENT));
        Ok(response)
    }

    pub(super) async fn do_get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let document = self
            .engine
            .bucket_config(&bucket.name, CONFIG_KIND)
            .await
            .map_err(from_engine)?
            .ok_or_else(|| s3_error!(NoSuchTagSet, "The TagSet does not exist"))?;
        let tags: BTreeMap<String, String> = serde_json::from_slice(&document)
            .map_err(|e| s3_error!(e, InternalError, "The bucket's stored tags could not be read"))?;
        Ok(S3Response::new(GetBucketTaggingOutput { tag_set: tag_set(tags) }))
    }

    /// Answers 204 whether or not the bucket had tags, as S3 does.
    pub(super) async fn do_delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        self.set_bucket_config(&bucket.name, CONFIG_KIND, None).await?;
        Ok(S3Response::new(DeleteBucketTaggingOutput {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn code(result: S3Result<BTreeMap<String, String>>) -> String {
        result.expect_err("refused").code().as_str().to_owned()
    }

    #[test]
    fn header_pairs_decode_as_url_query_parameters() {
        let tags = from_header(Some("a=1&b%2Fc=x%20y+z&empty&&")).unwrap();
        assert_eq!(tags["a"], "1");
        assert_eq!(tags["b/c"], "x y z");
        assert_eq!(tags["empty"], "");
        assert_eq!(tags.len(), 3);
        assert!(from_header(None).unwrap().is_empty());
    }

    #[test]
    fn header_refuses_duplicates_and_bad_encoding_as_invalid_argument() {
        assert_eq!(code(from_header(Some("a=1&a=2"))), "InvalidArgument");
        assert_eq!(code(from_header(Some("a=%FF"))), "InvalidArgument");
        assert_eq!(code(from_header(Some("=v"))), "InvalidArgument");
        assert_eq!(code(from_header(Some("a=1&="))), "InvalidArgument");
    }

    #[test]
    fn limits_are_s3s() {
        let eleven: Vec<_> = (0..11).map(|i| (i.to_string(), String::new())).collect();
        assert_eq!(code(validated(eleven.clone(), Tagged::Object)), "BadRequest");
        assert_eq!(validated(eleven, Tagged::Bucket).unwrap().len(), 11);
        let fifty_one: Vec<_> = (0..51).map(|i| (i.to_string(), String::new())).collect();
        assert_eq!(code(validated(fifty_one, Tagged::Bucket)), "BadRequest");

        let key = "k".repeat(128);
        let value = "v".repeat(256);
        assert!(validated(pairs(&[(&key, &value)]), Tagged::Object).is_ok());
        let long_key = "k".repeat(129);
        let long_value = "v".repeat(257);
        assert_eq!(code(validated(pairs(&[(&long_key, "")]), Tagged::Object)), "InvalidTag");
        assert_eq!(
            code(validated(pairs(&[("k", &long_value)]), Tagged::Object)),
            "InvalidTag"
        );
        // 64 characters outside the BMP are 128 UTF-16 code units; one more is too many.
        let astral = "\u{1D49C}".repeat(64);
        assert!(validated(pairs(&[(&astral, "")]), Tagged::Object).is_ok());
        let astral_long = format!("{astral}a");
        assert_eq!(
            code(validated(pairs(&[(&astral_long, "")]), Tagged::Object)),
            "InvalidTag"
        );
    }

    #[test]
    fn keys_and_values_are_checked() {
        let refused = |list: &[(&str, &str)]| code(validated(pairs(list), Tagged::Object));
        assert_eq!(refused(&[("", "v")]), "InvalidTag");
        assert_eq!(refused(&[("aws:k", "v")]), "InvalidTag");
        assert_eq!(refused(&[("k", "a,b")]), "InvalidTag");
        assert_eq!(refused(&[("k#", "v")]), "InvalidTag");
        assert_eq!(refused(&[("k", "1"), ("k", "2")]), "InvalidTag");
        let ok = validated(pairs(&[("Ünïcode 名前", "a+b-c=d.e_f:g/h@i 3")]), Tagged::Object).unwrap();
        assert_eq!(ok.len(), 1);
    }

    #[test]
    fn xml_tags_need_a_key_and_a_value() {
        let tagging = Tagging {
            tag_set: vec![Tag {
                key: Some("k".to_owned()),
                value: None,
            }],
        };
        assert_eq!(code(from_xml(&tagging, Tagged::Object)), "MalformedXML");
    }
}
