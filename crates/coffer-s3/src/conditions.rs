//! Conditional requests: `If-Match`, `If-None-Match`, `If-Modified-Since`,
//! `If-Unmodified-Since` and their `x-amz-copy-source-if-*` twins, evaluated
//! with the precedence RFC 9110 and S3 give them.

use coffer_engine::ObjectRecord;
use http::{HeaderMap, HeaderValue};
use s3s::dto::{ETagCondition, Timestamp};
use s3s::{S3Error, S3Result, s3_error};
use time::OffsetDateTime;

/// The four conditions of one request, any of which may be absent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Conditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

/// What a failed `If-None-Match` or `If-Modified-Since` produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnchanged {
    /// GET and HEAD answer 304 Not Modified.
    NotModified,
    /// Copies answer 412 Precondition Failed.
    PreconditionFailed,
}

fn etag_matches(condition: &ETagCondition, object: &ObjectRecord) -> bool {
    match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(etag) => etag.value().trim_matches('"') == object.etag,
    }
}

/// HTTP dates have whole seconds; compare at that precision.
fn seconds(time: &Timestamp) -> i64 {
    OffsetDateTime::from(time.clone()).unix_timestamp()
}

impl Conditions<'_> {
    /// Checks the conditions against the object they apply to.
    pub fn check(&self, object: &ObjectRecord, when_unchanged: WhenUnchanged) -> S3Result<()> {
        let modified = object.last_modified.unix_timestamp();
        let match_failed = match self.if_match {
            Some(condition) => !etag_matches(condition, object),
            None => self.if_unmodified_since.is_some_and(|since| modified > seconds(since)),
        };
        if match_failed {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
        let unchanged = match self.if_none_match {
            Some(condition) => etag_matches(condition, object),
            None => self.if_modified_since.is_some_and(|since| modified <= seconds(since)),
        };
        if unchanged {
            return Err(match when_unchanged {
                WhenUnchanged::NotModified => not_modified(object),
                WhenUnchanged::PreconditionFailed => {
                    s3_error!(
                        PreconditionFailed,
                        "At least one of the pre-conditions you specified did not hold"
                    )
                }
            });
        }
        Ok(())
    }
}

/// A 304 carries the validators of the object it refers to, and no body.
fn not_modified(object: &ObjectRecord) -> S3Error {
    let mut err = s3_error!(NotModified);
    let mut headers = HeaderMap::new();
    if let Ok(etag) = HeaderValue::from_str(&object.quoted_etag()) {
        headers.insert(http::header::ETAG, etag);
    }
    if let Ok(date) = HeaderValue::from_str(&crate::headers::http_date(object.last_modified)) {
        headers.insert(http::header::LAST_MODIFIED, date);
    }
    err.set_headers(headers);
    err
}
