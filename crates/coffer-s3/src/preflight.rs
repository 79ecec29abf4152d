//! What must happen before s3s parses a request: checks of the signature
//! parameters that s3s leaves to the service (the region and service a
//! signature was made for, the 7-day limit on presigned URLs, and that every
//! `x-amz-*` header is signed, so none can be slipped into a signed request
//! on its way), and the one header Amazon S3
//! tolerates where s3s does not: a Range header S3 cannot parse is ignored,
//! not refused. It also refuses the SigV4 dates s3s cannot parse safely
//! ([`check_s3s_dates`]). A refused request is never routed.

use http::Request;
use s3s::{Body, S3Error, S3Result, s3_error};

/// Amazon S3 refuses presigned URLs valid for longer than this.
const PRESIGNED_EXPIRES_SECS_MAX: u64 = 7 * 24 * 60 * 60;

/// Refuses requests signed for another region, or presigned for too long,
/// and drops a Range header that is not a single valid byte range.
pub fn check(req: &mut Request<Body>, region: &str) -> S3Result<()> {
    let range_invalid = req.headers().get(http::header::RANGE).is_some_and(|value| {
        value
            .to_str()
            .map_or(true, |text| s3s::dto::Range::parse(text).is_err())
    });
    if range_invalid {
        req.headers_mut().remove(http::header::RANGE);
    }
    check_s3s_dates(req)?;
    let query = req.uri().query().unwrap_or_default();
    let mut presigned_credential = None;
    let mut presigned_headers = None;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "X-Amz-Expires" => check_expires(&value)?,
            "X-Amz-Credential" => presigned_credential = Some(value.into_owned()),
            "X-Amz-SignedHeaders" => presigned_headers = Some(value.into_owned()),
            _ => {}
        }
    }
    if let Some(credential) = presigned_credential {
        check_scope(&credential, region, query_error)?;
        return check_all_signed(req, presigned_headers.as_deref().unwrap_or_default());
    }
    // As s3s reads it: any UTF-8, not only visible ASCII.
    let authorization = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|value| std::str::from_utf8(value.as_bytes()).ok())
        .filter(|value| value.starts_with("AWS4-HMAC-SHA256"));
    let Some(authorization) = authorization else {
        return Ok(());
    };
    let field = |name: &str| {
        authorization
            .split_once(name)
            .map(|(_, rest)| rest.split([',', ' ']).next().unwrap_or_default())
    };
    if let Some(credential) = field("Credential=") {
        check_scope(credential, region, header_error)?;
    }
    check_all_signed(req, field("SignedHeaders=").unwrap_or_default())
}

/// s3s 0.14.1 reads the digits of SigV4 dates with `c - b'0'` before it
/// checks that `c` is a digit, so a byte below `'0'` where a digit belongs
/// (`x-amz-date: "0260101T000000Z`) overflows: a panic in a build with
/// overflow checks (debug builds), which ends the connection unanswered.
/// Found by fuzzing. The dates it would read — `x-amz-date` and the
/// credential scope of an Authorization header, `X-Amz-Date` and
/// `X-Amz-Credential` of a presigned URL — are refused here first, with the
/// errors s3s gives them (a form's are checked in `post_form.rs`).
fn check_s3s_dates(req: &Request<Body>) -> S3Result<()> {
    // s3s reads every Authorization header but SigV2's as SigV4; each
    // "Credential=" in it is checked, s3s's own among them.
    let authorizations: Vec<&str> = header_texts(req, http::header::AUTHORIZATION.as_str())
        .filter(|value| !value.starts_with("AWS "))
        .collect();
    let credentials_ok = authorizations
        .iter()
        .all(|value| value.split("Credential=").skip(1).all(credential_date_ok));
    if !credentials_ok {
        return Err(s3_error!(InvalidRequest, "invalid header: authorization"));
    }
    if !authorizations.is_empty() && !header_texts(req, "x-amz-date").all(amz_date_ok) {
        return Err(s3_error!(InvalidRequest, "invalid header: x-amz-date"));
    }
    let query = req.uri().query().unwrap_or_default();
    let presigned = form_urlencoded::parse(query.as_bytes()).any(|(name, _)| name == "X-Amz-Signature");
    let fields_ok = form_urlencoded::parse(query.as_bytes()).all(|(name, value)| match name.as_ref() {
        "X-Amz-Date" => amz_date_ok(&value),
        "X-Amz-Credential" => credential_date_ok(&value),
        _ => true,
    });
    if presigned && !fields_ok {
        return Err(s3_error!(InvalidRequest, "missing presigned url v4 fields"));
    }
    Ok(())
}

/// The values of header `name` that are UTF-8, as s3s reads headers.
fn header_texts<'a>(req: &'a Request<Body>, name: &str) -> impl Iterator<Item = &'a str> {
    req.headers()
        .get_all(name)
        .into_iter()
        .filter_map(|value| std::str::from_utf8(value.as_bytes()).ok())
}

/// Whether s3s can read the date of a credential scope
/// (`access-key/YYYYMMDD/...`) safely: it reads the second part as a date
/// when it is 8 bytes long.
pub(crate) fn credential_date_ok(credential: &str) -> bool {
    let date = credential.split('/').nth(1).unwrap_or_default();
    date.len() != 8 || date.bytes().all(|b| b.is_ascii_digit())
}

/// Whether s3s can read an `x-amz-date` (`YYYYMMDDTHHMMSSZ`) safely: it
/// reads the digits of any 16-byte value.
pub(crate) fn amz_date_ok(date: &str) -> bool {
    let bytes = date.as_bytes();
    bytes.len() != 16
        || bytes
            .iter()
            .enumerate()
            .all(|(at, b)| matches!(at, 8 | 15) || b.is_ascii_digit())
}

/// Refuses a signed request carrying an `x-amz-*` header its signature does
/// not cover, as Amazon S3 does: such a header could have been added by
/// anyone on the way.
fn check_all_signed(req: &Request<Body>, signed_headers: &str) -> S3Result<()> {
    let signed: Vec<&str> = signed_headers.split(';').collect();
    let unsigned = req
        .headers()
        .keys()
        .any(|name| name.as_str().starts_with("x-amz-") && !signed.contains(&name.as_str()));
    if unsigned {
        return Err(s3_error!(
            AccessDenied,
            "There were headers present in the request which were not signed"
        ));
    }
    Ok(())
}

fn check_expires(value: &str) -> S3Result<()> {
    let seconds: u64 = value
        .parse()
        .map_err(|_| query_error("X-Amz-Expires should be a number".to_owned()))?;
    if seconds > PRESIGNED_EXPIRES_SECS_MAX {
        return Err(query_error(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is {PRESIGNED_EXPIRES_SECS_MAX}"
        )));
    }
    Ok(())
}

/// A credential scope is `access-key/date/region/service/aws4_request`:
/// it must name this endpoint's region and S3.
fn check_scope(credential: &str, region: &str, error: fn(String) -> S3Error) -> S3Result<()> {
    let scope: Vec<&str> = credential.rsplitn(5, '/').collect();
    if let Some(signed_for) = scope.get(2).filter(|signed_for| **signed_for != region) {
        return Err(error(format!(
            "The authorization header is malformed; the region '{signed_for}' is wrong; expecting '{region}'"
        )));
    }
    if let Some(service) = scope.get(1).filter(|service| **service != "s3") {
        return Err(error(format!(
            "The authorization header is malformed; incorrect service \"{service}\". This endpoint belongs to \"s3\"."
        )));
    }
    Ok(())
}

fn header_error(message: String) -> S3Error {
    s3_error!(AuthorizationHeaderMalformed, "{message}")
}

fn query_error(message: String) -> S3Error {
    s3_error!(AuthorizationQueryParametersError, "{message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, authorization: Option<&str>) -> Request<Body> {
        let mut builder = Request::builder().uri(uri);
        if let Some(value) = authorization {
            builder = builder.header("authorization", value);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[test]
    fn presigned_urls_live_at_most_a_week() {
        let mut week = request(
            "/b/k?X-Amz-Expires=604800&X-Amz-Credential=AK%2F20260101%2Fus-east-1%2Fs3%2Faws4_request",
            None,
        );
        assert!(check(&mut week, "us-east-1").is_ok());
        let mut longer = request("/b/k?X-Amz-Expires=604801", None);
        let err = check(&mut longer, "us-east-1").unwrap_err();
        assert_eq!(err.code().as_str(), "AuthorizationQueryParametersError");
        let mut garbage = request("/b/k?X-Amz-Expires=soon", None);
        assert!(check(&mut garbage, "us-east-1").is_err());
    }

    #[test]
    fn signatures_for_another_region_are_refused() {
        let header =
            "AWS4-HMAC-SHA256 Credential=AK/20260101/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=00";
        let err = check(&mut request("/b", Some(header)), "us-east-1").unwrap_err();
        assert_eq!(err.code().as_str(), "AuthorizationHeaderMalformed");
        assert!(check(&mut request("/b", Some(header)), "eu-west-1").is_ok());
        let query = "/b?X-Amz-Credential=AK%2F20260101%2Feu-west-1%2Fs3%2Faws4_request";
        let err = check(&mut request(query, None), "us-east-1").unwrap_err();
        assert_eq!(err.code().as_str(), "AuthorizationQueryParametersError");
    }

    #[test]
    fn signatures_for_another_service_are_refused() {
        let header =
            "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00";
        let err = check(&mut request("/b", Some(header)), "us-east-1").unwrap_err();
        assert_eq!(err.code().as_str(), "AuthorizationHeaderMalformed");
    }

    #[test]
    fn unsigned_amz_headers_are_refused() {
        let header = "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";
        let mut req = request("/b", Some(header));
        req.headers_mut()
            .insert("x-amz-date", http::HeaderValue::from_static("20260101T000000Z"));
        req.headers_mut()
            .insert("content-type", http::HeaderValue::from_static("text/plain"));
        assert!(
            check(&mut req, "us-east-1").is_ok(),
            "unsigned headers other than x-amz-* are allowed"
        );
        req.headers_mut()
            .insert("x-amz-meta-role", http::HeaderValue::from_static("admin"));
        let err = check(&mut req, "us-east-1").unwrap_err();
        assert_eq!(err.code().as_str(), "AccessDenied");
        let presigned = "/b?X-Amz-Credential=AK%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-SignedHeaders=host";
        let mut req = request(presigned, None);
        req.headers_mut()
            .insert("x-amz-acl", http::HeaderValue::from_static("public-read"));
        assert!(check(&mut req, "us-east-1").is_err());
    }

    #[test]
    fn unparseable_ranges_are_dropped() {
        for (range, kept) in [
            ("bytes=0-4", true),
            ("bytes=-3", true),
            ("bytes=abc", false),
            ("bytes=0-1,3-4", false),
            ("items=0-3", false),
        ] {
            let mut req = request("/b/k", None);
            req.headers_mut()
                .insert(http::header::RANGE, http::HeaderValue::from_static(range));
            check(&mut req, "us-east-1").unwrap();
            assert_eq!(req.headers().contains_key(http::header::RANGE), kept, "{range}");
        }
    }

    #[test]
    fn dates_s3s_cannot_read_are_refused() {
        // Found by fuzzing: s3s computes `c - b'0'` for every byte where it
        // expects a digit, which overflows below '0'.
        let auth = |credential: &str| {
            format!("AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host;x-amz-date, Signature=00")
        };
        let with_date = |authorization: &str, date: &[u8]| {
            let mut req = request("/b", Some(authorization));
            req.headers_mut()
                .insert("x-amz-date", http::HeaderValue::from_bytes(date).unwrap());
            req
        };
        let good = auth("AK/20260101/us-east-1/s3/aws4_request");
        assert!(check(&mut with_date(&good, b"20260101T000000Z"), "us-east-1").is_ok());
        for date in [&b"\"0260101T000000Z"[..], b"20260101T00-000Z", b"2026 101T000000Z"] {
            let err = check(&mut with_date(&good, date), "us-east-1").unwrap_err();
            assert_eq!(err.code().as_str(), "InvalidRequest", "{date:?}");
        }
        // Other lengths s3s refuses without reading a digit.
        assert!(check(&mut with_date(&good, b"2026"), "us-east-1").is_ok());
        // Without a SigV4 Authorization header s3s never reads x-amz-date.
        assert!(check(&mut with_date("AWS AK:c2ln", b"\"0260101T000000Z"), "us-east-1").is_ok());
        for authorization in [
            auth("AK/2026-1-1/us-east-1/s3/aws4_request"),
            "OTHER Credential=AK/2026.1.1/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00".to_owned(),
            format!("xCredential=a/b {}", auth("AK/2026 1 1/us-east-1/s3/aws4_request")),
        ] {
            let err = check(&mut with_date(&authorization, b"20260101T000000Z"), "us-east-1").unwrap_err();
            assert_eq!(err.code().as_str(), "InvalidRequest", "{authorization}");
        }
        let presigned = "/b?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-SignedHeaders=host&X-Amz-Signature=00";
        assert!(
            check(
                &mut request(&format!("{presigned}&X-Amz-Date=20260101T000000Z"), None),
                "us-east-1"
            )
            .is_ok()
        );
        for date in ["%220260101T000000Z", "2026010%2B+000000Z"] {
            let err = check(
                &mut request(&format!("{presigned}&X-Amz-Date={date}"), None),
                "us-east-1",
            )
            .unwrap_err();
            assert_eq!(err.code().as_str(), "InvalidRequest", "{date}");
        }
        let bad_scope = "/b?X-Amz-Credential=AK%2F2026-1-1%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=00";
        assert!(check(&mut request(bad_scope, None), "us-east-1").is_err());
    }

    #[test]
    fn the_region_check_reads_headers_as_s3s_does() {
        // A byte outside visible ASCII (in UTF-8) kept the header from being
        // read here at all, while s3s reads any UTF-8: none of this module's
        // checks ran on it (s3s happens to refuse this region name itself).
        let header =
            "AWS4-HMAC-SHA256 Credential=AK/20260101/eu-w\u{e9}st-1/s3/aws4_request, SignedHeaders=host, Signature=00";
        let mut req = request("/b", None);
        req.headers_mut().insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_bytes(header.as_bytes()).unwrap(),
        );
        let err = check(&mut req, "us-east-1").unwrap_err();
        assert_eq!(err.code().as_str(), "AuthorizationHeaderMalformed");
    }

    #[test]
    fn unsigned_and_sigv2_requests_pass_through() {
        assert!(check(&mut request("/b/k", None), "us-east-1").is_ok());
        assert!(check(&mut request("/b/k", Some("AWS AK:c2ln")), "us-east-1").is_ok());
    }
}
