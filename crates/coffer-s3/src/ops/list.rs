//! Listings: ListObjects (v1), ListObjectsV2 and ListObjectVersions.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_engine::{Checksums, ListEntry, ListPage, ListQuery, ListedVersion, ObjectSummary};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use quick_xml::escape::escape;
use s3s::dto::*;
use s3s::xml::{SerResult, SerializeContent, Serializer};
use s3s::{S3Request, S3Response, S3Result, s3_error};
use time::{OffsetDateTime, UtcOffset};

use super::CofferS3;
use crate::checksum::Algorithm;
use crate::edge::RenderedBody;
use crate::error::from_engine;

/// A page never holds more than this many keys and common prefixes.
const LIST_KEYS_MAX: usize = 1000;

/// About the bytes of one `<Contents>` element, a listed version, and of a
/// listing's other elements: what a page's buffers start with, so they
/// rarely grow.
const CONTENTS_BYTES_HINT: usize = 256;
const VERSION_BYTES_HINT: usize = 512;
const DOCUMENT_BYTES_HINT: usize = 1024;

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

    /// Writes `name`, encoded as asked, as XML text.
    fn write_text(self, out: &mut String, name: &str) {
        if self.url {
            // Percent-encoding leaves no character XML would escape.
            out.extend(utf8_percent_encode(name, URL_KEEP));
        } else {
            out.push_str(&escape(name));
        }
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
    /// The `<Contents>` elements of a page, written straight from the
    /// summaries, in the order of S3's own responses. A page holds up to a
    /// thousand: building s3s's `Object` for each and serializing it event
    /// by event took a third of a listing's time.
    fn write_contents(&self, page: &ListPage<ObjectSummary>, encoding: Encoding, with_owner: bool) -> String {
        let mut out = String::with_capacity(page.entries.len() * CONTENTS_BYTES_HINT);
        // The keys of a page mostly share their owner: look each up once.
        let mut owner: Option<(&str, Owner)> = None;
        for object in page.items() {
            out.push_str("<Contents><Key>");
            encoding.write_text(&mut out, &object.key);
            out.push_str("</Key><LastModified>");
            write_timestamp(&mut out, object.last_modified);
            out.push_str("</LastModified><ETag>&quot;");
            out.push_str(&escape(object.etag.as_str()));
            out.push_str("&quot;</ETag>");
            if let Some(algorithm) = object.checksum_algorithm {
                write_element(&mut out, "ChecksumAlgorithm", algorithm);
            }
            if let Some(checksum_type) = &object.checksum_type {
                write_element(&mut out, "ChecksumType", checksum_type);
            }
            out.push_str("<Size>");
            out.push_str(itoa::Buffer::new().format(object.size));
            out.push_str("</Size>");
            if with_owner {
                let (id, listed) = match owner.take() {
                    Some((id, listed)) if id == object.owner => (id, listed),
                    _ => (object.owner.as_str(), self.owner_of(&object.owner)),
                };
                out.push_str("<Owner>");
                if let Some(id) = &listed.id {
                    write_element(&mut out, "ID", id);
                }
                if let Some(name) = &listed.display_name {
                    write_element(&mut out, "DisplayName", name);
                }
                out.push_str("</Owner>");
                owner = Some((id, listed));
            }
            write_element(
                &mut out,
                "StorageClass",
                object.storage_class.as_deref().unwrap_or(ObjectStorageClass::STANDARD),
            );
            out.push_str("</Contents>");
        }
        out
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
        let contents = self.write_contents(&page, encoding, true);
        let prefixes = page.into_prefixes();
        let output = ListObjectsOutput {
            name: Some(bucket.name),
            prefix: Some(encoding.encode(input.prefix.as_deref().unwrap_or_default())),
            marker: Some(encoding.encode(input.marker.as_deref().unwrap_or_default())),
            max_keys: i32::try_from(max_keys).ok(),
            is_truncated: Some(truncated),
            contents: None,
            common_prefixes: common_prefixes(prefixes, encoding),
            delimiter: encoding.encode_opt(input.delimiter.as_deref()),
            next_marker: next_marker
                .filter(|_| truncated && query.delimiter.is_some())
                .map(|marker| encoding.encode(&marker)),
            encoding_type: encoding.output(),
            request_charged: None,
        };
        let body = RenderedBody::xml("ListBucketResult", contents.len() + DOCUMENT_BYTES_HINT, |s| {
            optional(s, "Name", output.name.as_ref())?;
            optional(s, "Prefix", output.prefix.as_ref())?;
            optional(s, "Marker", output.marker.as_ref())?;
            optional(s, "MaxKeys", output.max_keys.as_ref())?;
            optional(s, "IsTruncated", output.is_truncated.as_ref())?;
            s.write_raw_text(&contents)?;
            if let Some(prefixes) = &output.common_prefixes {
                s.flattened_list("CommonPrefixes", prefixes)?;
            }
            optional(s, "Delimiter", output.delimiter.as_ref())?;
            optional(s, "NextMarker", output.next_marker.as_ref())?;
            optional(s, "EncodingType", output.encoding_type.as_ref())
        })?;
        Ok(body.respond(output))
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
        let contents = self.write_contents(&page, encoding, input.fetch_owner.unwrap_or(false));
        let prefixes = page.into_prefixes();
        let output = ListObjectsV2Output {
            name: Some(bucket.name),
            prefix: Some(encoding.encode(input.prefix.as_deref().unwrap_or_default())),
            max_keys: i32::try_from(max_keys).ok(),
            key_count: i32::try_from(key_count).ok(),
            continuation_token: input.continuation_token,
            is_truncated: Some(truncated),
            next_continuation_token: next_token,
            contents: None,
            common_prefixes: common_prefixes(prefixes, encoding),
            delimiter: encoding.encode_opt(input.delimiter.as_deref()),
            encoding_type: encoding.output(),
            start_after: encoding.encode_opt(input.start_after.as_deref()),
            request_charged: None,
        };
        let body = RenderedBody::xml("ListBucketResult", contents.len() + DOCUMENT_BYTES_HINT, |s| {
            optional(s, "Name", output.name.as_ref())?;
            optional(s, "Prefix", output.prefix.as_ref())?;
            optional(s, "MaxKeys", output.max_keys.as_ref())?;
            optional(s, "KeyCount", output.key_count.as_ref())?;
            optional(s, "ContinuationToken", output.continuation_token.as_ref())?;
            optional(s, "IsTruncated", output.is_truncated.as_ref())?;
            optional(s, "NextContinuationToken", output.next_continuation_token.as_ref())?;
            s.write_raw_text(&contents)?;
            if let Some(prefixes) = &output.common_prefixes {
                s.flattened_list("CommonPrefixes", prefixes)?;
            }
            optional(s, "Delimiter", output.delimiter.as_ref())?;
            optional(s, "EncodingType", output.encoding_type.as_ref())?;
            optional(s, "StartAfter", output.start_after.as_ref())
        })?;
        Ok(body.respond(output))
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
        Ok(body.respond(output))
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
    RenderedBody::xml("ListVersionsResult", entries.len() * VERSION_BYTES_HINT, |s| {
        optional(s, "Name", output.name.as_ref())?;
        optional(s, "Prefix", output.prefix.as_ref())?;
        optional(s, "KeyMarker", output.key_marker.as_ref())?;
        optional(s, "VersionIdMarker", output.version_id_marker.as_ref())?;
        optional(s, "NextKeyMarker", output.next_key_marker.as_ref())?;
        optional(s, "NextVersionIdMarker", output.next_version_id_marker.as_ref())?;
        optional(s, "MaxKeys", output.max_keys.as_ref())?;
        optional(s, "Delimiter", output.delimiter.as_ref())?;
        optional(s, "IsTruncated", output.is_truncated.as_ref())?;
        optional(s, "EncodingType", output.encoding_type.as_ref())?;
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

/// The element `name` with `value`, or nothing without a value.
fn optional<W: std::io::Write, T: SerializeContent>(s: &mut Serializer<W>, name: &str, value: Option<&T>) -> SerResult {
    value.map_or(Ok(()), |value| s.content(name, value))
}

/// `<name>value</name>`, the value escaped.
fn write_element(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&escape(value));
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// A time as S3 writes it in XML, `2009-10-12T17:50:30.000Z`: UTC, to the
/// millisecond, as s3s's `TimestampFormat::DateTime` writes it.
fn write_timestamp(out: &mut String, time: OffsetDateTime) {
    let time = time.to_offset(UtcOffset::UTC);
    let (year, month, day) = time.to_calendar_date();
    // Filled in place and added at once: a push per digit cost twice this.
    let mut text = *b"0000-00-00T00:00:00.000Z";
    for (at, value) in [
        (5..7, u32::from(u8::from(month))),
        (8..10, u32::from(day)),
        (11..13, u32::from(time.hour())),
        (14..16, u32::from(time.minute())),
        (17..19, u32::from(time.second())),
        (20..23, u32::from(time.millisecond())),
    ] {
        write_digits(&mut text[at], value);
    }
    if (0..=9999).contains(&year) {
        write_digits(&mut text[..4], year.unsigned_abs());
        out.push_str(std::str::from_utf8(&text).expect("digits and separators"));
    } else {
        out.push_str(itoa::Buffer::new().format(year));
        out.push_str(std::str::from_utf8(&text[4..]).expect("digits and separators"));
    }
}

/// `value` in decimal, zero-padded to the slot's width.
fn write_digits(slot: &mut [u8], mut value: u32) {
    for digit in slot.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::format_description::well_known::Rfc3339;

    fn written(time: OffsetDateTime) -> String {
        let mut out = String::new();
        write_timestamp(&mut out, time);
        out
    }

    fn at(rfc3339: &str) -> OffsetDateTime {
        OffsetDateTime::parse(rfc3339, &Rfc3339).unwrap()
    }

    /// S3's form: UTC, to the millisecond, every field zero-padded.
    #[test]
    fn timestamps_are_written_in_utc_to_the_millisecond() {
        assert_eq!(
            written(at("2026-11-27T05:03:38.123456789Z")),
            "2026-11-27T05:03:38.123Z"
        );
        assert_eq!(written(at("2009-01-02T03:04:05Z")), "2009-01-02T03:04:05.000Z");
        assert_eq!(written(at("2026-01-01T01:30:00.5+02:00")), "2025-12-31T23:30:00.500Z");
        assert_eq!(written(at("0042-12-31T23:59:59.999Z")), "0042-12-31T23:59:59.999Z");
        let before_year_zero = time::Date::from_calendar_date(-1, time::Month::March, 9).unwrap();
        assert_eq!(
            written(before_year_zero.midnight().assume_utc()),
            "-1-03-09T00:00:00.000Z",
            "a year outside four digits as it is"
        );
    }
}
