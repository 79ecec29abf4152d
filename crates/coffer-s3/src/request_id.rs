//! The outermost layer: gives every request an id and makes every error body
//! complete.
//!
//! s3s renders S3's error XML but leaves out `Resource` and `RequestId`, and
//! sets no `x-amz-request-id`. This layer generates the id, puts it (and
//! `x-amz-id-2`) on every response, and adds both elements to error bodies,
//! whether the error came from s3s (signature, parsing) or from Coffer.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderValue, Request, Response};
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
    pub fn new(inner: S3Service) -> CofferService {
        CofferService {
            inner,
            ids: std::sync::Arc::new(RequestIds {
                prefix: rand::random(),
                next: AtomicU64::new(1),
            }),
        }
    }

    pub async fn call(&self, mut req: Request<Body>) -> Result<Response<Body>, HttpError> {
        let request_id = self.ids.next();
        let resource = req.uri().path().to_owned();
        req.extensions_mut().insert(RequestId(request_id.clone()));
        let mut resp = self.inner.call(req).await?;
        complete_error_body(&mut resp, &resource, &request_id);
        let id = HeaderValue::from_str(&request_id).expect("request ids are hex");
        resp.headers_mut().insert("x-amz-id-2", id.clone());
        resp.headers_mut().insert("x-amz-request-id", id);
        Ok(resp)
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

/// Adds `Resource` and `RequestId` to an S3 error body that lacks them.
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
    let mut completed = String::with_capacity(text.len() + resource.len() + 64);
    completed.push_str(&text[..end]);
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

fn escape_xml(text: &str) -> String {
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
