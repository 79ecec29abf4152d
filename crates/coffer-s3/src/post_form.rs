//! Browser form uploads (POST Object) around s3s: what happens to a form
//! before s3s parses it, and to s3s's answer after.
//!
//! s3s verifies the form's signature and policy and hands the fields to
//! `CofferS3::post_object` (`ops/post.rs`), but the file's name is gone by
//! then, and s3s words policy violations its own way. So, before s3s:
//! the fields preceding the file are read (Amazon S3 allows 20 KB of them,
//! so that is all this holds in memory), a form with no file is refused as
//! Amazon S3 refuses it, and `${filename}` in the `key` field becomes the
//! name of the uploaded file, so that s3s checks the policy against, stores
//! under and reports the final key. The signature covers only the policy
//! field, so rewriting another field leaves it valid. After s3s: its refusals
//! of a policy become Amazon S3's `AccessDenied` "Invalid according to
//! Policy: ...".

use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::{HeaderValue, Request, Response};
use s3s::service::S3Service;
use s3s::stream::ByteStream;
use s3s::{Body, HttpError, S3Error, S3Result, StdError, s3_error};

/// Amazon S3 refuses forms whose fields and boundaries before the file's
/// content exceed this.
const PRE_DATA_BYTES_MAX: usize = 20 * 1024;
/// Replaced in the `key` field by the name of the uploaded file.
const FILENAME_VARIABLE: &str = "${filename}";

/// Serves `req` with `service`, preparing a form upload before and amending
/// its refusal after.
pub async fn call(service: &S3Service, mut req: Request<Body>) -> Result<Response<Body>, HttpError> {
    let Some(boundary) = form_boundary(&req) else {
        return service.call(req).await;
    };
    if let Err(err) = prepare(&mut req, boundary.as_bytes()).await {
        return http_response(err);
    }
    let resp = service.call(req).await?;
    match policy_refusal(&resp) {
        Some(message) => http_response(s3_error!(AccessDenied, "{message}")),
        None => Ok(resp),
    }
}

fn http_response(err: S3Error) -> Result<Response<Body>, HttpError> {
    err.to_http_response().map_err(|e| HttpError::new(Box::new(e)))
}

/// The multipart boundary of a POST whose body is a form.
pub(crate) fn form_boundary(req: &Request<Body>) -> Option<String> {
    if req.method() != http::Method::POST {
        return None;
    }
    let content_type = req.headers().get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    let mut params = content_type.split(';');
    if !params.next()?.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// Reads the form up to the file's content, substitutes `${filename}` in the
/// key, and puts the (rewritten) bytes back in front of the rest of the body.
/// A form this cannot follow goes to s3s unchanged, to be refused there.
pub(crate) async fn prepare(req: &mut Request<Body>, boundary: &[u8]) -> S3Result<()> {
    let mut body = std::mem::take(req.body_mut());
    let mut head = Vec::new();
    let found = loop {
        match scan(&head, boundary) {
            Scan::Incomplete if head.len() <= PRE_DATA_BYTES_MAX => match body.next().await {
                Some(Ok(chunk)) => head.extend_from_slice(&chunk),
                Some(Err(_)) => return Err(malformed()),
                None => break None,
            },
            Scan::Incomplete => return Err(pre_data_too_large()),
            Scan::NoFile => {
                return Err(s3_error!(
                    InvalidArgument,
                    "POST requires exactly one file upload per request."
                ));
            }
            Scan::Malformed => break None,
            Scan::File(file) => break Some(file),
        }
    };
    if let Some(file) = found {
        if file.content_start > PRE_DATA_BYTES_MAX {
            return Err(pre_data_too_large());
        }
        check_s3s_dates(&head, &file)?;
        if let Some(filename) = file.filename {
            let rewritten = substitute_filename(&head, &file.keys, &filename);
            adjust_content_length(req, head.len(), rewritten.len());
            head = rewritten;
        }
    }
    let resumed = Resumed {
        head: Some(Bytes::from(head)),
        rest: body,
    };
    *req.body_mut() = Body::from(Box::pin(resumed) as s3s::stream::DynByteStream);
    Ok(())
}

/// Refuses the SigV4 dates of a form that s3s cannot read safely, with
/// s3s's errors, as `preflight.rs` does for headers and query strings: s3s
/// takes the last field of each name.
fn check_s3s_dates(head: &[u8], file: &FilePart) -> S3Result<()> {
    if !file.signed {
        return Ok(());
    }
    let last = |ranges: &[Range<usize>]| {
        ranges
            .last()
            .and_then(|range| std::str::from_utf8(&head[range.clone()]).ok())
    };
    if last(&file.credentials).is_some_and(|credential| !crate::preflight::credential_date_ok(credential)) {
        return Err(s3_error!(InvalidRequest, "invalid field: x-amz-credential"));
    }
    if last(&file.dates).is_some_and(|date| !crate::preflight::amz_date_ok(date)) {
        return Err(s3_error!(InvalidRequest, "invalid field: x-amz-date"));
    }
    Ok(())
}

fn malformed() -> S3Error {
    s3_error!(
        MalformedPOSTRequest,
        "The body of your POST request is not well-formed multipart/form-data."
    )
}

fn pre_data_too_large() -> S3Error {
    s3_error!(
        MaxPostPreDataLengthExceededError,
        "Your POST request fields preceding the upload file were too large."
    )
}

/// `head` with `${filename}` replaced in each of the `keys` value ranges.
/// Every other byte stays as sent, even bytes that are not UTF-8: s3s judges
/// them, and a key is never stored other than as the client wrote it.
fn substitute_filename(head: &[u8], keys: &[Range<usize>], filename: &str) -> Vec<u8> {
    let variable = FILENAME_VARIABLE.as_bytes();
    let mut rewritten = Vec::with_capacity(head.len() + filename.len());
    let mut copied = 0;
    for key in keys {
        rewritten.extend_from_slice(&head[copied..key.start]);
        let mut value = &head[key.clone()];
        while let Some(at) = find(value, variable) {
            rewritten.extend_from_slice(&value[..at]);
            rewritten.extend_from_slice(filename.as_bytes());
            value = &value[at + variable.len()..];
        }
        rewritten.extend_from_slice(value);
        copied = key.end;
    }
    rewritten.extend_from_slice(&head[copied..]);
    rewritten
}

/// Keeps a declared Content-Length true to the body whose first `was` bytes
/// became `now` bytes.
fn adjust_content_length(req: &mut Request<Body>, was: usize, now: usize) {
    let length = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if let Some(length) = length {
        let length = length.saturating_sub(was) + now;
        req.headers_mut()
            .insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    }
}

/// A body whose first bytes were read (and perhaps rewritten) before s3s saw
/// it.
struct Resumed {
    head: Option<Bytes>,
    rest: Body,
}

impl Stream for Resumed {
    type Item = Result<Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(head) = self.head.take().filter(|head| !head.is_empty()) {
            return Poll::Ready(Some(Ok(head)));
        }
        self.rest.poll_next_unpin(cx)
    }
}

impl ByteStream for Resumed {}

/// What the bytes of a form read so far show.
#[derive(Debug, PartialEq)]
enum Scan {
    /// The file's part has not begun yet.
    Incomplete,
    /// Not a form this module can follow; s3s judges it.
    Malformed,
    /// The form ends without a file.
    NoFile,
    File(FilePart),
}

#[derive(Debug, PartialEq)]
struct FilePart {
    /// Where the file's content begins: everything before it is form fields,
    /// boundaries and part headers.
    content_start: usize,
    /// The name of the uploaded file, as the client gave it.
    filename: Option<String>,
    /// Where the values of the `key` fields are.
    keys: Vec<Range<usize>>,
    /// Where the values of the SigV4 date fields are, in order.
    dates: Vec<Range<usize>>,
    credentials: Vec<Range<usize>>,
    /// Whether the form has an `x-amz-signature` field (SigV4).
    signed: bool,
}

/// Follows the parts of a multipart form in `buf` (RFC 7578) up to the
/// start of the file's content. As s3s does, it allows one empty line before
/// the first boundary, takes a part's last Content-Disposition, and takes
/// field names without regard to case.
fn scan(buf: &[u8], boundary: &[u8]) -> Scan {
    let delimiter = [b"--", boundary].concat();
    let mut pos = if buf.starts_with(b"\r\n") { 2 } else { 0 };
    let mut keys = Vec::new();
    let (mut dates, mut credentials, mut signed) = (Vec::new(), Vec::new(), false);
    loop {
        let headers_start = pos + delimiter.len() + 2;
        let Some(after) = buf.get(pos..headers_start) else {
            return Scan::Incomplete;
        };
        let (line, ending) = after.split_at(delimiter.len());
        if line != delimiter {
            return Scan::Malformed;
        }
        match ending {
            b"--" => return Scan::NoFile,
            b"\r\n" => {}
            _ => return Scan::Malformed,
        }
        let Some(headers_len) = find(&buf[headers_start..], b"\r\n\r\n") else {
            return Scan::Incomplete;
        };
        let content_start = headers_start + headers_len + 4;
        let Ok(headers) = std::str::from_utf8(&buf[headers_start..headers_start + headers_len]) else {
            return Scan::Malformed;
        };
        // The last Content-Disposition of a part is the one s3s reads.
        let disposition = headers
            .split("\r\n")
            .filter_map(|header| {
                let (name, value) = header.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case("content-disposition")
                    .then(|| Disposition::parse(value))
            })
            .last();
        let Some(Disposition {
            name: Some(name),
            filename,
        }) = disposition
        else {
            return Scan::Malformed;
        };
        if name.eq_ignore_ascii_case("file") {
            return Scan::File(FilePart {
                content_start,
                filename,
                keys,
                dates,
                credentials,
                signed,
            });
        }
        let end = [b"\r\n", delimiter.as_slice()].concat();
        let Some(value_len) = find(&buf[content_start..], &end) else {
            return Scan::Incomplete;
        };
        let value = content_start..content_start + value_len;
        match name.to_ascii_lowercase().as_str() {
            "key" => keys.push(value),
            "x-amz-date" => dates.push(value),
            "x-amz-credential" => credentials.push(value),
            "x-amz-signature" => signed = true,
            _ => {}
        }
        pos = content_start + value_len + 2;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// The parameters of a part's Content-Disposition that matter here.
#[derive(Debug, Default, PartialEq)]
struct Disposition {
    name: Option<String>,
    filename: Option<String>,
}

impl Disposition {
    /// Parses `form-data; name="field"; filename="a.txt"`. Values may be
    /// tokens or quoted strings with backslash escapes.
    fn parse(value: &str) -> Disposition {
        let mut disposition = Disposition::default();
        let mut rest = value.split_once(';').map_or("", |(_, params)| params);
        loop {
            rest = rest.trim_start_matches([' ', '\t', ';']);
            let Some((param, after)) = rest.split_once('=') else {
                return disposition;
            };
            let (value, after) = match after.strip_prefix('"') {
                Some(quoted) => unquote(quoted),
                None => {
                    let end = after.find(';').unwrap_or(after.len());
                    (after[..end].trim().to_owned(), &after[end..])
                }
            };
            match param.trim().to_ascii_lowercase().as_str() {
                "name" => disposition.name = Some(value),
                "filename" => disposition.filename = Some(value),
                _ => {}
            }
            rest = after;
        }
    }
}

/// The quoted string that `quoted` starts with (after its opening quote),
/// and what follows it.
fn unquote(quoted: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return (value, &quoted[at + 1..]),
            '\\' => value.extend(chars.next().map(|(_, escaped)| escaped)),
            c => value.push(c),
        }
    }
    (value, "")
}

/// Amazon S3's message for s3s's refusal of a form's policy, if `resp` is
/// one. s3s checks the signature, then the expiration, then each condition
/// in order, then that every field has a condition; the first failure is in
/// its error message, which names the condition.
fn policy_refusal(resp: &Response<Body>) -> Option<String> {
    if resp.status().as_u16() < 400 {
        return None;
    }
    let body = resp.body().bytes()?;
    let text = std::str::from_utf8(&body).ok()?;
    let code = xml_text(text, "Code")?;
    let message = xml_text(text, "Message")?;
    let refusal = match code.as_str() {
        "InvalidPolicyDocument" => failed_condition(&message)?,
        "AccessDenied" if message == "Request has expired" => "Policy expired.".to_owned(),
        "AccessDenied" => {
            let (_, field) = message.split_once("\"")?;
            let (field, _) = field.split_once("\" not specified in the policy")?;
            format!("Extra input fields: {field}")
        }
        _ => return None,
    };
    Some(format!("Invalid according to Policy: {refusal}"))
}

/// Amazon S3's words for the condition named by s3s's message
/// `Policy condition 'eq' for field 'key' failed: expected 'a', got 'b'`
/// (`expected prefix 'a'` for starts-with).
fn failed_condition(message: &str) -> Option<String> {
    let rest = message.strip_prefix("Policy condition '")?;
    let (operator, rest) = rest.split_once("' for field '")?;
    let (field, rest) = rest.split_once("' failed: expected ")?;
    let rest = rest.strip_prefix("prefix ").unwrap_or(rest).strip_prefix('\'')?;
    let (value, _) = rest.rsplit_once("', got '")?;
    let quoted = |text: &str| serde_json::Value::from(text).to_string();
    Some(format!(
        "Policy Condition failed: [{}, {}, {}]",
        quoted(operator),
        quoted(&format!("${field}")),
        quoted(value)
    ))
}

/// The unescaped text of the first `<tag>` element of an XML document.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let (_, rest) = xml.split_once(&format!("<{tag}>"))?;
    let (text, _) = rest.split_once(&format!("</{tag}>"))?;
    Some(
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDARY: &[u8] = b"XyZ";

    fn form(parts: &[(&str, &str)], file: Option<&str>) -> Vec<u8> {
        let mut form = String::new();
        for (name, value) in parts {
            form.push_str(&format!(
                "--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        match file {
            Some(disposition) => form.push_str(&format!(
                "--XyZ\r\nContent-Disposition: {disposition}\r\nContent-Type: text/plain\r\n\r\nDATA\r\n--XyZ--\r\n"
            )),
            None => form.push_str("--XyZ--\r\n"),
        }
        form.into_bytes()
    }

    #[test]
    fn finds_the_file_and_the_key() {
        let body = form(
            &[("Key", "up/${filename}"), ("policy", "e30=")],
            Some("form-data; name=\"file\"; filename=\"a \\\"b\\\".txt\""),
        );
        let Scan::File(file) = scan(&body, BOUNDARY) else {
            panic!("no file in {:?}", scan(&body, BOUNDARY));
        };
        assert_eq!(&body[file.content_start..file.content_start + 4], b"DATA");
        assert_eq!(file.filename.as_deref(), Some("a \"b\".txt"));
        assert_eq!(file.keys.len(), 1);
        assert_eq!(&body[file.keys[0].clone()], b"up/${filename}");
        let rewritten = substitute_filename(&body, &file.keys, "x.txt");
        let text = String::from_utf8(rewritten).unwrap();
        assert!(text.contains("\r\n\r\nup/x.txt\r\n--XyZ\r\n"), "{text}");
    }

    #[test]
    fn keys_keep_their_bytes() {
        // Found by fuzzing: a key that was not UTF-8 was rewritten lossily
        // (each bad byte became U+FFFD) whenever the file had a name, so the
        // object was stored under a key the client never sent.
        let mut body =
            b"--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nup/\xff\xfe/${filename}\r\n".to_vec();
        body.extend_from_slice(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\n\r\nDATA",
        );
        let Scan::File(file) = scan(&body, BOUNDARY) else {
            panic!("no file in {:?}", scan(&body, BOUNDARY));
        };
        let rewritten = substitute_filename(&body, &file.keys, "f.txt");
        assert_eq!(rewritten, replace_all(&body, b"${filename}", b"f.txt"));
        let unchanged = replace_all(&body, b"${filename}", b"");
        let Scan::File(file) = scan(&unchanged, BOUNDARY) else {
            panic!("no file");
        };
        assert_eq!(substitute_filename(&unchanged, &file.keys, "f.txt"), unchanged);
    }

    #[test]
    fn signed_forms_with_dates_s3s_cannot_read_are_refused() {
        let signed = |date: &str, credential: &str| {
            form(
                &[
                    ("key", "k"),
                    ("x-amz-credential", credential),
                    ("X-Amz-Date", date),
                    ("x-amz-signature", "00"),
                ],
                Some("form-data; name=\"file\"; filename=\"f\""),
            )
        };
        let code = |body: &[u8]| {
            let Scan::File(file) = scan(body, BOUNDARY) else {
                panic!("no file");
            };
            check_s3s_dates(body, &file)
                .err()
                .map(|err| err.code().as_str().to_owned())
        };
        let scope = "AK/20260101/us-east-1/s3/aws4_request";
        assert_eq!(code(&signed("20260101T000000Z", scope)), None);
        assert_eq!(
            code(&signed("\"0260101T000000Z", scope)).as_deref(),
            Some("InvalidRequest")
        );
        assert_eq!(
            code(&signed("20260101T000000Z", "AK/2026-1-1/us-east-1/s3/aws4_request")).as_deref(),
            Some("InvalidRequest")
        );
        // A part with two Content-Dispositions is the field the last names,
        // for s3s and so here (a fuzzer's find: s3s panicked on the date).
        let twice = replace_all(
            &signed("\"0260101T000000Z", scope),
            b"Content-Disposition: form-data; name=\"X-Amz-Date\"",
            b"Content-Disposition: form-data; nameless\r\nContent-Disposition: form-data; name=\"X-Amz-Date\"",
        );
        assert_eq!(code(&twice).as_deref(), Some("InvalidRequest"));
        // s3s reads them only in a SigV4 form.
        let unsigned = form(
            &[("key", "k"), ("x-amz-date", "\"0260101T000000Z")],
            Some("form-data; name=\"file\"; filename=\"f\""),
        );
        assert_eq!(code(&unsigned), None);
    }

    fn replace_all(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let at = find(bytes, from).expect("present");
        [&bytes[..at], to, &bytes[at + from.len()..]].concat()
    }

    #[test]
    fn every_prefix_of_a_form_is_incomplete() {
        let body = form(&[("key", "k")], Some("form-data; name=\"file\"; filename=\"f\""));
        let content_start = find(&body, b"DATA").unwrap();
        for end in 0..content_start {
            assert_eq!(scan(&body[..end], BOUNDARY), Scan::Incomplete, "{end}");
        }
        assert!(matches!(scan(&body[..content_start], BOUNDARY), Scan::File(_)));
    }

    #[test]
    fn a_form_without_a_file_or_not_a_form() {
        assert_eq!(scan(&form(&[("key", "k")], None), BOUNDARY), Scan::NoFile);
        assert_eq!(scan(b"--Other\r\n\r\n", BOUNDARY), Scan::Malformed);
    }

    #[test]
    fn s3s_policy_messages_become_amazon_s3_messages() {
        assert_eq!(
            failed_condition("Policy condition 'starts-with' for field 'key' failed: expected prefix 'up/', got 'x'")
                .as_deref(),
            Some(r#"Policy Condition failed: ["starts-with", "$key", "up/"]"#)
        );
        assert_eq!(
            failed_condition("Policy condition 'eq' for field 'content-type' failed: expected 'a\"b', got ''")
                .as_deref(),
            Some(r#"Policy Condition failed: ["eq", "$content-type", "a\"b"]"#)
        );
        assert_eq!(failed_condition("x-amz-date does not match policy"), None);
    }
}
