//! The edge: the outermost layer, between hyper and s3s. It gives every
//! request an id, makes every error body complete, and handles what must
//! happen before s3s parses a request or after it answers.
//!
//! s3s renders S3's error XML but leaves out `Resource` and `RequestId`, and
//! sets no `x-amz-request-id`, and some of its errors carry no `Message`.
//! This layer generates the id, puts it (and `x-amz-id-2`) on every response,
//! and completes error bodies with `Message`, `Resource` and `RequestId`,
//! whether the error came from s3s (signature, parsing) or from Coffer. It
//! also runs the [`crate::preflight`] checks before s3s routes the request,
//! watches every request body ([`crate::request_body`]: an idle timeout, and
//! S3's error where s3s fails to read an XML body whole), passes browser
//! form uploads through [`crate::post_form`], hands CORS
//! preflights and the CORS headers of actual requests to
//! [`crate::cors`], and mends two HTTP-level gaps: s3s answers a ranged HEAD
//! with 200, and a bodiless `Expect: 100-continue` request gets no interim
//! response. On the S3 listener it follows each request as an
//! [`crate::exchange::Exchange`], for the metrics and the access log; on the
//! admin listener it hands the unsigned monitoring endpoints to
//! [`crate::monitor`] before s3s could refuse them. A panic while serving a
//! request, on either listener, answers it with `500 InternalError`, logged
//! and counted like any other.

use std::any::Any;
use std::fmt::Write as _;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use s3s::service::S3Service;
use s3s::{Body, HttpError};

/// The id of the request being served, in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The S3 service with request ids: what the server hands to hyper.
#[derive(Clone)]
pub struct CofferService {
    inner: S3Service,
    ids: std::sync::Arc<RequestIds>,
    region: std::sync::Arc<str>,
    /// The bucket CORS rules; `None` for the admin API, which has none.
    cors: Option<std::sync::Arc<crate::cors::Cors>>,
    /// The address of the connection's peer, for `aws:SourceIp` conditions.
    peer: Option<std::net::SocketAddr>,
    /// Where S3 requests are counted; `None` for the admin API.
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    /// The health and metrics endpoints; only the admin API has them.
    monitor: Option<std::sync::Arc<crate::monitor::Monitor>>,
    /// Whether connections come over TLS, for `aws:SecureTransport` conditions.
    over_tls: bool,
}

/// Request ids: a per-process random prefix and a counter, as hex, so ids are
/// unique across restarts and cheap to make.
struct RequestIds {
    prefix: u32,
    next: AtomicU64,
}

impl RequestIds {
    fn next(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{:08X}{:012X}", self.prefix, n)
    }
}

impl CofferService {
    pub fn new(inner: S3Service, region: &str) -> CofferService {
        CofferService {
            inner,
            region: region.into(),
            ids: std::sync::Arc::new(RequestIds {
                prefix: rand::random(),
                next: AtomicU64::new(1),
            }),
            cors: None,
            peer: None,
            metrics: None,
            monitor: None,
            over_tls: false,
        }
    }

    /// This service for a listener whose connections come over TLS.
    pub fn over_tls(self) -> CofferService {
        CofferService { over_tls: true, ..self }
    }

    /// This service for one connection, whose peer is at `peer`.
    pub fn for_peer(&self, peer: std::net::SocketAddr) -> CofferService {
        CofferService {
            peer: Some(peer),
            ..self.clone()
        }
    }

    /// Answers preflight `OPTIONS` requests and adds CORS headers to
    /// requests that carry an `Origin`, from the buckets' CORS rules.
    pub fn with_cors(mut self, cors: crate::cors::Cors) -> CofferService {
        self.cors = Some(std::sync::Arc::new(cors));
        self
    }

    /// Counts every request in `metrics` and writes its access log line.
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> CofferService {
        self.metrics = Some(metrics);
        self
    }

    /// Serves the health and metrics endpoints of `monitor`, unsigned.
    pub fn with_monitor(mut self, monitor: crate::monitor::Monitor) -> CofferService {
        self.monitor = Some(std::sync::Arc::new(monitor));
        self
    }

    pub async fn call(&self, mut req: Request<Body>) -> Result<Response<Body>, HttpError> {
        let resource = req.uri().path().to_owned();
        if let Some(monitor) = self.monitor.as_deref() {
            match AssertUnwindSafe(monitor.answer(&req)).catch_unwind().await {
                Ok(Some(resp)) => return Ok(resp),
                Ok(None) => {}
                Err(panic) => {
                    let request_id = self.ids.next();
                    let mut resp = panicked(&*panic, &request_id, req.method(), &resource)?;
                    complete_error_body(&mut resp, &resource, &request_id);
                    set_request_id(&mut resp, &request_id);
                    return Ok(resp);
                }
            }
        }
        let request_id = self.ids.next();
        let exchange = self
            .metrics
            .as_ref()
            .map(|metrics| crate::exchange::Exchange::begin(metrics, &request_id, &mut req));
        req.extensions_mut().insert(RequestId(request_id.clone()));
        if let Some(peer) = self.peer {
            req.extensions_mut().insert(crate::access::PeerAddr(peer));
        }
        if self.over_tls {
            req.extensions_mut().insert(crate::access::SecureTransport);
        }
        let is_head = req.method() == http::Method::HEAD;
        let unread_expect_continue = expects_continue_without_body(&req);
        let method = req.method().clone();
        // A panic while serving one request (a bug, in Coffer or below it)
        // answers that request with InternalError, and is logged and
        // counted, instead of ending the connection unanswered.
        let (mut resp, cors_headers) = match AssertUnwindSafe(self.serve(req)).catch_unwind().await {
            Ok(served) => served?,
            Err(panic) => (panicked(&*panic, &request_id, &method, &resource)?, None),
        };
        if let Some(headers) = cors_headers {
            // Errors too carry them, as in S3, so a browser script can read
            // why its request failed.
            resp.headers_mut().extend(headers);
        }
        if let Some(RenderedStatus(status)) = resp.extensions_mut().remove::<RenderedStatus>() {
            *resp.status_mut() = status;
        }
        if let Some(RenderedBody(body)) = resp.extensions_mut().remove::<RenderedBody>() {
            resp.headers_mut()
                .insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            *resp.body_mut() = Body::from(body);
        }
        complete_error_body(&mut resp, &resource, &request_id);
        // s3s answers a ranged GET with 206 but a ranged HEAD with 200.
        if is_head && resp.status() == http::StatusCode::OK && resp.headers().contains_key(http::header::CONTENT_RANGE)
        {
            *resp.status_mut() = http::StatusCode::PARTIAL_CONTENT;
        }
        if unread_expect_continue {
            // hyper answers `Expect: 100-continue` with no body to read by
            // sending the final response without an interim 100. That is
            // legal, but botocore (boto3, the aws CLI) then misreads the next
            // response on the same connection, so the connection ends here.
            resp.headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        set_request_id(&mut resp, &request_id);
        if let Some(exchange) = exchange {
            let error_body = resp.body().bytes().filter(|_| resp.status().as_u16() >= 400);
            let text = error_body.as_deref().and_then(|body| std::str::from_utf8(body).ok());
            exchange.respond(&mut resp, text.and_then(error_code));
        }
        Ok(resp)
    }

    /// Serves a request that has its id and extensions: CORS, the checks
    /// before s3s, s3s and the operation. Returns the response and the CORS
    /// headers it must carry.
    async fn serve(&self, mut req: Request<Body>) -> Result<(Response<Body>, Option<HeaderMap>), HttpError> {
        // A client waiting for `100 Continue` has sent no body to drain.
        let expects_continue = req
            .headers()
            .get(http::header::EXPECT)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let is_options = req.method() == http::Method::OPTIONS;
        let cors_headers = match self.cors.as_deref() {
            Some(cors) if !is_options => cors.actual_headers(&req).await,
            _ => None,
        };
        let resp = match self.cors.as_deref() {
            // s3s routes no OPTIONS request. S3 answers preflights before,
            // and without, any signature check: browsers send them bare.
            Some(cors) if is_options => cors.preflight(&req).await,
            _ => match crate::preflight::check(&mut req, &self.region) {
                Ok(()) => {
                    let watch = crate::request_body::Watch::install(&mut req);
                    crate::signed_payload::set_aside(&mut req);
                    let resp = crate::post_form::call(&self.inner, req).await?;
                    if !expects_continue {
                        watch.drain_unread().await;
                    }
                    match watch.answer(&resp) {
                        Some(err) => http_response(err)?,
                        None => resp,
                    }
                }
                Err(err) => http_response(err)?,
            },
        };
        Ok((resp, cors_headers))
    }
}

impl hyper::service::Service<Request<hyper::body::Incoming>> for CofferService {
    type Response = Response<Body>;
    type Error = HttpError;
    type Future = BoxFuture<'static, Result<Response<Body>, HttpError>>;

    fn call(&self, req: Request<hyper::body::Incoming>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move { service.call(req.map(Body::from)).await })
    }
}

fn http_response(err: s3s::S3Error) -> Result<Response<Body>, HttpError> {
    err.to_http_response().map_err(|e| HttpError::new(Box::new(e)))
}

/// Logs a panic while serving a request and answers it as S3 answers a
/// failure inside the server.
fn panicked(
    panic: &(dyn Any + Send),
    request_id: &str,
    method: &http::Method,
    resource: &str,
) -> Result<Response<Body>, HttpError> {
    tracing::error!(
        panic = %panic_text(panic),
        request_id,
        %method,
        resource,
        "serving a request panicked"
    );
    http_response(s3s::s3_error!(
        InternalError,
        "We encountered an internal error. Please try again."
    ))
}

/// What a panic said, when it said it with a string.
fn panic_text(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

const X_AMZ_ID_2: HeaderName = HeaderName::from_static("x-amz-id-2");
const X_AMZ_REQUEST_ID: HeaderName = HeaderName::from_static("x-amz-request-id");

fn set_request_id(resp: &mut Response<Body>, request_id: &str) {
    let id = HeaderValue::from_str(request_id).expect("request ids are hex");
    resp.headers_mut().insert(X_AMZ_ID_2, id.clone());
    resp.headers_mut().insert(X_AMZ_REQUEST_ID, id);
}

/// The namespace of S3's XML documents.
pub(crate) const S3_XML_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// A response body an operation wrote itself, where s3s's rendering of the
/// output differs from S3's; it replaces the body s3s wrote.
#[derive(Clone)]
pub(crate) struct RenderedBody(pub bytes::Bytes);

impl RenderedBody {
    /// An S3 XML document whose root element, in S3's namespace, `write`
    /// fills; `capacity` is about its length in bytes, when known.
    pub(crate) fn xml(
        root: &str,
        capacity: usize,
        write: impl FnOnce(&mut s3s::xml::Serializer<&mut Vec<u8>>) -> s3s::xml::SerResult,
    ) -> s3s::S3Result<RenderedBody> {
        let mut body = Vec::with_capacity(capacity);
        let mut s = s3s::xml::Serializer::new(&mut body);
        s.decl()
            .and_then(|()| s.element_with_ns(root, S3_XML_NAMESPACE, write))
            .map_err(|err| {
                tracing::error!(?err, root, "rendering a response document failed");
                s3s::s3_error!(InternalError, "We encountered an internal error. Please try again.")
            })?;
        Ok(RenderedBody(body.into()))
    }

    /// The response to an operation with this body in place of s3s's
    /// rendering of `output`; `output` still gives the response's headers.
    pub(crate) fn respond<T>(self, output: T) -> s3s::S3Response<T> {
        let mut response = s3s::S3Response::new(output);
        response.extensions.insert(self);
        response
    }
}

/// The status of a successful response, where s3s's differs from S3's; it
/// replaces the status s3s set.
#[derive(Clone, Copy)]
pub(crate) struct RenderedStatus(pub http::StatusCode);

/// True for a request that asks for `100 Continue` but has no body, so hyper
/// never sends the interim response.
fn expects_continue_without_body(req: &Request<Body>) -> bool {
    let expects_continue = req
        .headers()
        .get(http::header::EXPECT)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let empty = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .is_some_and(|value| value.as_bytes() == b"0");
    expects_continue && empty
}

/// Adds `Message`, `Resource` and `RequestId` to an S3 error body that
/// lacks them.
fn complete_error_body(resp: &mut Response<Body>, resource: &str, request_id: &str) {
    if resp.status().as_u16() < 400 {
        return;
    }
    let Some(body) = resp.body().bytes() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return;
    };
    let Some(end) = text.rfind("</Error>") else {
        return;
    };
    if text.contains("<RequestId>") {
        return;
    }
    let mut completed = String::with_capacity(text.len() + resource.len() + 128);
    match text.find("</Code>") {
        Some(code_end) if !text.contains("<Message>") => {
            let code_end = code_end + "</Code>".len();
            let code = error_code(text).unwrap_or_default();
            completed.push_str(&text[..code_end]);
            let _ = write!(completed, "<Message>{}</Message>", escape_xml(default_message(code)));
            completed.push_str(&text[code_end..end]);
        }
        _ => completed.push_str(&text[..end]),
    }
    let _ = write!(
        completed,
        "<Resource>{}</Resource><RequestId>{request_id}</RequestId>",
        escape_xml(resource)
    );
    completed.push_str(&text[end..]);
    let len = completed.len();
    *resp.body_mut() = Body::from(Bytes::from(completed));
    resp.headers_mut()
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
}

/// The `Code` of an S3 error document.
fn error_code(text: &str) -> Option<&str> {
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    Some(&text[start..start + len])
}

pub(crate) fn escape_xml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Amazon S3's message for errors that s3s raises without one.
fn default_message(code: &str) -> &'static str {
    match code {
        "AccessDenied" => "Access Denied",
        "InvalidBucketName" => "The specified bucket is not valid.",
        "InvalidURI" => "Couldn't parse the specified URI.",
        "KeyTooLongError" => "Your key is too long",
        "MalformedXML" => "The XML you provided was not well-formed or did not validate against our published schema",
        "MalformedPOSTRequest" => "The body of your POST request is not well-formed multipart/form-data.",
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "MissingContentLength" => "You must provide the Content-Length HTTP header.",
        "NotImplemented" => "A header you provided implies functionality that is not implemented",
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        }
        "InvalidAccessKeyId" => "The AWS Access Key Id you provided does not exist in our records.",
        "RequestTimeTooSkewed" => "The difference between the request time and the current time is too large.",
        "IncompleteBody" => "You did not provide the number of bytes specified by the Content-Length HTTP header.",
        "MaxMessageLengthExceeded" => "Your request was too big.",
        "InvalidRequest" => "Invalid Request",
        "InvalidArgument" => "Invalid Argument",
        "InvalidRange" => "The requested range is not satisfiable",
        "NoSuchBucket" => "The specified bucket does not exist",
        "NoSuchKey" => "The specified key does not exist.",
        "PreconditionFailed" => "At least one of the pre-conditions you specified did not hold",
        _ => "The request could not be completed.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An S3 implementation with a bug: ListBuckets panics.
    struct Buggy;

    #[async_trait::async_trait]
    impl s3s::S3 for Buggy {
        async fn list_buckets(
            &self,
            _req: s3s::S3Request<s3s::dto::ListBucketsInput>,
        ) -> s3s::S3Result<s3s::S3Response<s3s::dto::ListBucketsOutput>> {
            panic!("a planted bug");
        }
    }

    /// Lets unsigned requests through to the operation.
    struct Everyone;

    #[async_trait::async_trait]
    impl s3s::access::S3Access for Everyone {
        async fn check(&self, _cx: &mut s3s::access::S3AccessContext<'_>) -> s3s::S3Result<()> {
            Ok(())
        }
    }

    fn get(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).expect("a request")
    }

    /// The service as the admin listener's is built: no metrics, no CORS.
    /// (The S3 listener's, with metrics, is tested end to end in
    /// tests/s3/failpoints.rs.)
    #[tokio::test]
    async fn a_panic_while_serving_answers_internal_error_and_the_service_goes_on() {
        let mut builder = s3s::service::S3ServiceBuilder::new(Buggy);
        builder.set_access(Everyone);
        let service = CofferService::new(builder.build(), "us-east-1");
        for _ in 0..2 {
            let mut resp = service
                .call(get("/"))
                .await
                .expect("an answer, not a dropped connection");
            assert_eq!(resp.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
            let id = resp.headers()["x-amz-request-id"].to_str().expect("ASCII").to_owned();
            let body = resp.body_mut().store_all_limited(1 << 20).await.expect("a body");
            let text = std::str::from_utf8(&body).expect("UTF-8");
            assert!(text.contains("<Error><Code>InternalError</Code>"), "{text}");
            assert!(text.contains("<Message>We encountered an internal error"), "{text}");
            assert!(text.contains(&format!("<RequestId>{id}</RequestId>")), "{text}");
            assert!(text.contains("<Resource>/</Resource>"), "{text}");
        }
        // Requests that do not panic are served as before.
        let resp = service.call(get("/bucket?location")).await.expect("an answer");
        assert_eq!(resp.status(), http::StatusCode::NOT_IMPLEMENTED);
    }
}
