//! Listings: ListObjects (v1), ListObjectsV2 and ListObjectVersions.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_engine::{Checksums, ListEntry, ListQuery, ListedVersion, ObjectSummary};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::*;
use s3s::xml::{SerResult, Serializer};
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::CofferS3;
use crate::checksum::Algorithm;
use crate::edge::RenderedBody;
use crate::error::from_engine;

/// A page never holds more than this many keys and common prefixes.
const LIST_KEYS_MAX: usize = 1000;

/// What `encoding-type=url` leaves as is; everything else is %-encoded, so
/// clients that decode `+` as a space still read keys back exactly.
const URL_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// How names in a listing are written: as they are, or URL-encoded.
#[derive(Clone, Copy)]
pub(super) struct Encoding {
    url: bool,
}

impl Encoding {
    pub(super) fn from_request(encoding_type: Option<&EncodingType>) -> S3Result<Encoding> {
        match encoding_type.map(EncodingType::as_str) {
            None => Ok(Encoding { url: false }),
            Some(EncodingType::URL) => Ok(Encoding { url: true }),
            Some(_) => Err(s3_error!(
                InvalidArgument,
                "Invalid Encoding Method specified in Request"
            )),
        }
    }

    pub(super) fn encode(self, name: &str) -> String {
        if self.url {
            utf8_percent_encode(name, URL_KEEP).to_string()
        } else {
            name.to_owned()
        }
    }

    pub(super) fn encode_opt(self, name: Option<&str>) -> Option<String> {
        name.map(|name| self.encode(name))
    }

    pub(super) fn output(self) -> Option<EncodingType> {
        self.url.then(|| EncodingType::from_static(EncodingType::URL))
    }
}

pub(super) fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(LIST_KEYS_MAX),
        Some(n) if n < 0 => Err(s3_error!(
            InvalidArgument,
            "Argument maxKeys must be an integer between 0 and 2147483647"
        )),
        Some(n) => Ok(usize::try_from(n).unwrap_or(LIST_KEYS_MAX).min(LIST_KEYS_MAX)),
    }
}

/// The listing query S3's parameters describe.
pub(super) fn query(
    prefix: Option<&str>,
    delimiter: Option<&str>,
    start_after: Option<String>,
    max_keys: usize,
) -> ListQuery {
    ListQuery {
        prefix: prefix.unwrap_or_default().to_owned(),
        delimiter: delimiter.filter(|d| !d.is_empty()).map(str::to_owned),
        start_after: start_after.filter(|s| !s.is_empty()),
        max_keys,
    }
}

pub(super) fn common_prefixes(prefixes: Vec<String>, encoding: Encoding) -> Option<Vec<CommonPrefix>> {
    Some(
        prefixes
            .into_iter()
            .map(|prefix| CommonPrefix {
                prefix: Some(encoding.encode(&prefix)),
            })
            .collect(),
    )
}

fn checksum_algorithms(checksums: &Checksums) -> Option<Vec<ChecksumAlgorithm>> {
    Algorithm::of(checksums).map(|a| vec![ChecksumAlgorithm::from(a.name().to_owned())])
}

fn continuation_token(last: &str) -> String {
    URL_SAFE_NO_PAD.encode(last.as_bytes())
}

fn parse_continuation_token(token: &str) -> S3Result<String> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token provided is incorrect"))
}

impl CofferS3 {
    fn object_entry(&self, object: ObjectSummary, encoding: Encoding, with_owner: bool) -> Object {
        Object {
            checksum_algorithm: checksum_algorithms(&object.checksums),
            checksum_type: object.checksums.checksum_type.map(ChecksumType::from),
            e_tag: Some(ETag::Strong(object.etag)),
            key: Some(encoding.encode(&object.key)),
            last_modified: Some(object.last_modified.into()),
            owner: with_owner.then(|| self.owner_of(&object.owner)),
            restore_status: None,
            size: i64::try_from(object.size).ok(),
            storage_class: Some(ObjectStorageClass::from(
                object
                    .storage_class
                    .unwrap_or_else(|| ObjectStorageClass::STANDARD.to_owned()),
            )),
        }
    }

    pub(super) async fn do_list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let input = req.input;
        let encoding = Encoding::from_request(input.encoding_type.as_ref())?;
        let max_keys = max_keys(input.max_keys)?;
        let query = query(
            input.prefix.as_deref(),
            input.delimiter.as_deref(),
            input.marker.clone(),
            max_keys,
        );
        let page = self
            .engine
            .list_objects(&bucket.name, &query)
            .await
            .map_err(from_engine)?;
        let truncated = page.truncated;
        let next_marker = page.entries.last().map(|e| e.sort_key().to_owned());
        let (objects, prefixes) = page.split();
        let contents = objects
            .into_iter()
            .map(|object| self.object_entry(object, encoding, true))
            .collect();
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(bucket.name),
            prefix: Some(encoding.encode(input.prefix.as_deref().unwrap_or_default())),
            marker: Some(encoding.encode(input.marker.as_deref().unwrap_or_default())),
            max_keys: i32::try_from(max_keys).ok(),
            is_truncated: Some(truncated),
            contents: Some(contents),
            common_prefixes: common_prefixes(prefixes, encoding),
            delimiter: encoding.encode_opt(input.delimiter.as_deref()),
            next_marker: next_marker
                .filter(|_| truncated && query.delimiter.is_some())
                .map(|marker| encoding.encode(&marker)),
            encoding_type: encoding.output(),
            request_charged: None,
        }))
    }

    pub(super) async fn do_list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let input = req.input;
        let encoding = Encoding::from_request(input.encoding_type.as_ref())?;
        let max_keys = max_keys(input.max_keys)?;
        let start_after = match &input.continuation_token {
            Some(token) => Some(parse_continuation_token(token)?),
            None => input.start_after.clone(),
        };
        let query = query(
            input.prefix.as_deref(),
            input.delimiter.as_deref(),
            start_after,
            max_keys,
        );
        let page = self
            .engine
            .list_objects(&bucket.name, &query)
            .await
            .map_err(from_engine)?;
        let truncated = page.truncated;
        let next_token = page
            .entries
            .last()
            .filter(|_| truncated)
            .map(|entry| continuation_token(entry.sort_key()));
        let key_count = page.entries.len();
        let (objects, prefixes) = page.split();
        let fetch_owner = input.fetch_owner.unwrap_or(false);
        let contents = objects
            .into_iter()
            .map(|object| self.object_entry(object, encoding, fetch_owner))
            .collect();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(bucket.name),
            prefix: Some(encoding.encode(input.prefix.as_deref().unwrap_or_default())),
            max_keys: i32::try_from(max_keys).ok(),
            key_count: i32::try_from(key_count).ok(),
            continuation_token: input.continuation_token,
            is_truncated: Some(truncated),
            next_continuation_token: next_token,
            contents: Some(contents),
            common_prefixes: common_prefixes(prefixes, encoding),
            delimiter: encoding.encode_opt(input.delimiter.as_deref()),
            encoding_type: encoding.output(),
            start_after: encoding.encode_opt(input.start_after.as_deref()),
            request_charged: None,
        }))
    }

    pub(super) async fn do_list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let input = req.input;
        let encoding = Encoding::from_request(input.encoding_type.as_ref())?;
        let max_keys = max_keys(input.max_keys)?;
        let key_marker = input.key_marker.clone().filter(|marker| !marker.is_empty());
        let version_id_marker = input.version_id_marker.as_deref().filter(|marker| !marker.is_empty());
        if version_id_marker.is_some() && key_marker.is_none() {
            return Err(s3_error!(
                InvalidArgument,
                "A version-id marker cannot be specified without a key marker."
            ));
        }
        let query = query(
            input.prefix.as_deref(),
            input.delimiter.as_deref(),
            key_marker,
            max_keys,
        );
        let page = self
            .engine
            .list_object_versions(&bucket.name, &query, version_id_marker)
            .await
            .map_err(from_engine)?;
        let truncated = page.truncated;
        let (next_key_marker, next_version_id_marker) = match page.entries.last().filter(|_| truncated) {
            Some(ListEntry::Item(last)) => (Some(last.object.key.clone()), Some(last.object.version_id.clone())),
            Some(ListEntry::CommonPrefix(prefix)) => (Some(prefix.clone()), None),
            None => (None, None),
        };
        let (listed, prefixes) = page.split();
        let entries: Vec<VersionEntry> = listed
            .into_iter()
            .map(|listed| self.version_entry(listed, encoding))
            .collect();
        let output = ListObjectVersionsOutput {
            common_prefixes: common_prefixes(prefixes, encoding),
            delimiter: encoding.encode_opt(input.delimiter.as_deref()),
            encoding_type: encoding.output(),
            is_truncated: Some(truncated),
            key_marker: Some(encoding.encode(input.key_marker.as_deref().unwrap_or_default())),
            max_keys: i32::try_from(max_keys).ok(),
            name: Some(bucket.name),
            next_key_marker: next_key_marker.map(|key| encoding.encode(&key)),
            next_version_id_marker,
            prefix: Some(encoding.encode(input.prefix.as_deref().unwrap_or_default())),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            ..Default::default()
        };
        let body = render_versions(&output, &entries)?;
        let mut response = S3Response::new(output);
        response.extensions.insert(body);
        Ok(response)
    }

    fn version_entry(&self, listed: ListedVersion, encoding: Encoding) -> VersionEntry {
        let ListedVersion { object, is_latest } = listed;
        if object.delete_marker {
            return VersionEntry::DeleteMarker(DeleteMarkerEntry {
                is_latest: Some(is_latest),
                key: Some(encoding.encode(&object.key)),
                last_modified: Some(object.last_modified.into()),
                owner: Some(self.owner_of(&object.owner)),
                version_id: Some(object.version_id),
            });
        }
        VersionEntry::Version(ObjectVersion {
            checksum_algorithm: checksum_algorithms(&object.checksums),
            checksum_type: object.checksums.checksum_type.clone().map(ChecksumType::from),
            e_tag: Some(ETag::Strong(object.etag.clone())),
            is_latest: Some(is_latest),
            key: Some(encoding.encode(&object.key)),
            last_modified: Some(object.last_modified.into()),
            owner: Some(self.owner_of(&object.owner)),
            restore_status: None,
            size: i64::try_from(object.size).ok(),
            storage_class: Some(ObjectVersionStorageClass::from(
                object
                    .storage_class
                    .clone()
                    .unwrap_or_else(|| ObjectVersionStorageClass::STANDARD.to_owned()),
            )),
            version_id: Some(object.version_id),
        })
    }
}

/// One entry of a ListObjectVersions page.
enum VersionEntry {
    Version(ObjectVersion),
    DeleteMarker(DeleteMarkerEntry),
}

/// The ListVersionsResult document with versions and delete markers
/// interleaved in listing order, as S3 sends it; s3s would write all the
/// versions, then all the markers.
fn render_versions(output: &ListObjectVersionsOutput, entries: &[VersionEntry]) -> S3Result<RenderedBody> {
    fn text<W: std::io::Write>(s: &mut Serializer<W>, name: &str, value: Option<&String>) -> SerResult {
        value.map_or(Ok(()), |value| s.content(name, value))
    }
    RenderedBody::xml("ListVersionsResult", |s| {
        text(s, "Name", output.name.as_ref())?;
        text(s, "Prefix", output.prefix.as_ref())?;
        text(s, "KeyMarker", output.key_marker.as_ref())?;
        text(s, "VersionIdMarker", output.version_id_marker.as_ref())?;
        text(s, "NextKeyMarker", output.next_key_marker.as_ref())?;
        text(s, "NextVersionIdMarker", output.next_version_id_marker.as_ref())?;
        if let Some(max_keys) = &output.max_keys {
            s.content("MaxKeys", max_keys)?;
        }
        text(s, "Delimiter", output.delimiter.as_ref())?;
        if let Some(truncated) = &output.is_truncated {
            s.content("IsTruncated", truncated)?;
        }
        if let Some(encoding) = &output.encoding_type {
            s.content("EncodingType", encoding)?;
        }
        for entry in entries {
            match entry {
                VersionEntry::Version(version) => s.content("Version", version)?,
                VersionEntry::DeleteMarker(marker) => s.content("DeleteMarker", marker)?,
            }
        }
        if let Some(prefixes) = &output.common_prefixes {
            s.flattened_list("CommonPrefixes", prefixes)?;
        }
        Ok(())
    })
}
