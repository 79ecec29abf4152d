//! Object headers S3 stores and returns: content headers and user metadata.

use std::collections::BTreeMap;

pub use coffer_engine::ContentHeaders;
use s3s::{S3Result, s3_error};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

/// User metadata larger than this (names and values, in bytes) is refused,
/// as Amazon S3 refuses it.
const USER_METADATA_BYTES_MAX: usize = 2 * 1024;

/// An RFC 7231 IMF-fixdate, as HTTP headers carry dates.
pub fn http_date(time: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_else(|_| time.format(&Rfc2822).unwrap_or_default())
}

/// The raw `Expires` header of a request: S3 stores and returns it verbatim,
/// even when it is not a valid date.
pub fn raw_expires(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get(http::header::EXPIRES)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// The Content-Type S3 gives objects stored without one.
pub const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

/// The transfer coding of streamed SigV4 bodies; it describes the request,
/// not the object, so it is never stored.
const AWS_CHUNKED: &str = "aws-chunked";

/// Content headers as given on a PUT, a copy with REPLACE, or an upload:
/// `content_headers!(request_headers, input)` for any input with the five
/// content fields.
macro_rules! content_headers {
    ($headers:expr, $input:expr) => {
        $crate::headers::ContentHeaders {
            content_type: Some(
                $input
                    .content_type
                    .as_deref()
                    .unwrap_or($crate::headers::DEFAULT_CONTENT_TYPE)
                    .to_owned(),
            ),
            content_encoding: $input
                .content_encoding
                .as_deref()
                .and_then($crate::headers::without_aws_chunked),
            content_disposition: $input.content_disposition.clone(),
            content_language: $input.content_language.clone(),
            cache_control: $input.cache_control.clone(),
            expires: $crate::headers::raw_expires(&$headers),
        }
    };
}
pub(crate) use content_headers;

/// Validates and copies `x-amz-meta-*` values.
pub fn user_metadata(metadata: Option<&s3s::dto::Metadata>) -> S3Result<BTreeMap<String, String>> {
    let metadata: BTreeMap<String, String> = metadata
        .into_iter()
        .flatten()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
        .collect();
    let size: usize = metadata.iter().map(|(name, value)| name.len() + value.len()).sum();
    if size > USER_METADATA_BYTES_MAX {
        return Err(s3_error!(
            MetadataTooLarge,
            "Your metadata headers exceed the maximum allowed metadata size."
        ));
    }
    Ok(metadata)
}

/// A Content-Encoding list without `aws-chunked`; `None` if nothing is left.
pub fn without_aws_chunked(encoding: &str) -> Option<String> {
    let codings: Vec<&str> = encoding
        .split(',')
        .map(str::trim)
        .filter(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case(AWS_CHUNKED))
        .collect();
    (!codings.is_empty()).then(|| codings.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_chunked_is_not_stored_as_a_content_encoding() {
        assert_eq!(without_aws_chunked("aws-chunked"), None);
        assert_eq!(without_aws_chunked("aws-chunked,gzip"), Some("gzip".to_owned()));
        assert_eq!(without_aws_chunked("gzip, br"), Some("gzip,br".to_owned()));
    }
}
