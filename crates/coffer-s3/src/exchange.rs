//! One S3 request as the access log and the metrics see it, from its arrival
//! at the edge to the end of its response body.
//!
//! The edge begins an [`Exchange`] for every S3 request. It counts the bytes
//! of the request body as s3s reads them, and leaves a [`RequestFacts`] slot
//! in the request's extensions that the access hook (`crate::access`) fills
//! with what only s3s learns: the operation, the caller, the bucket and the
//! key. The response body is wrapped to count the bytes handed to hyper.
//! When it ends, or is dropped because the client went away, the request is
//! counted in [`Metrics`] and one access log line is written: target
//! `access`, level info. Bytes out and the latency are therefore those of
//! the whole body, not of the headers: a GET's line comes once its last
//! byte has left (or the client has gone, with the bytes sent until then).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use s3s::{Body, StdError};

use crate::metrics::{Metrics, Served, UNKNOWN_OPERATION};

/// What stands in an access log field nothing is known for, as in S3's
/// server access logs.
const ABSENT: &str = "-";

/// What the access hook learns of a request.
#[derive(Debug)]
pub(crate) struct Identified {
    pub operation: String,
    /// The name of the user whose key signed the request, or `anonymous`.
    pub user: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
}

/// Shared by the edge, the request body and the access hook.
#[derive(Debug, Default)]
struct Facts {
    identified: OnceLock<Identified>,
    received: AtomicU64,
}

/// The slot the access hook fills, in the request's extensions.
#[derive(Debug, Clone)]
pub(crate) struct RequestFacts(Arc<Facts>);

impl RequestFacts {
    /// Records what the access hook learned; s3s calls it once a request.
    pub(crate) fn identify(&self, identified: Identified) {
        let _ = self.0.identified.set(identified);
    }
}

/// One S3 request under way.
pub(crate) struct Exchange {
    metrics: Arc<Metrics>,
    request_id: String,
    method: Method,
    started: Instant,
    facts: Arc<Facts>,
}

impl Exchange {
    /// Starts observing `req`: its body is counted as it is read, and the
    /// access hook will find the slot for what it learns.
    pub(crate) fn begin(metrics: &Arc<Metrics>, request_id: &str, req: &mut Request<Body>) -> Exchange {
        let facts = Arc::new(Facts::default());
        req.extensions_mut().insert(RequestFacts(Arc::clone(&facts)));
        let body = std::mem::take(req.body_mut());
        *req.body_mut() = Body::http_body(Counted {
            inner: body,
            tally: Arc::clone(&facts),
        });
        Exchange {
            metrics: Arc::clone(metrics),
            request_id: request_id.to_owned(),
            method: req.method().clone(),
            started: Instant::now(),
            facts,
        }
    }

    /// Hands the response over to be counted as its body leaves; `error_code`
    /// is the S3 error code of an error response.
    pub(crate) fn respond(self, resp: &mut Response<Body>, error_code: Option<&str>) {
        let body = std::mem::take(resp.body_mut());
        let tally = Responding {
            status: resp.status().as_u16(),
            error_code: error_code.map(str::to_owned),
            sent: 0,
            exchange: self,
        };
        *resp.body_mut() = Body::http_body(Counted { inner: body, tally });
    }

    /// Counts the request and writes its access log line.
    fn end(&self, status: u16, error_code: Option<&str>, sent: u64) {
        let duration = self.started.elapsed();
        let received = self.facts.received.load(Ordering::Relaxed);
        let identified = self.facts.identified.get();
        let operation = identified.map_or(UNKNOWN_OPERATION, |facts| facts.operation.as_str());
        self.metrics.record(&Served {
            operation,
            status,
            error_code,
            received,
            sent,
            duration,
        });
        tracing::info!(
            target: "access",
            request_id = %self.request_id,
            method = %self.method,
            user = identified.map_or(ABSENT, |facts| facts.user.as_str()),
            operation,
            bucket = identified.and_then(|facts| facts.bucket.as_deref()).unwrap_or(ABSENT),
            key = identified.and_then(|facts| facts.key.as_deref()).unwrap_or(ABSENT),
            status,
            error_code = error_code.unwrap_or(ABSENT),
            bytes_in = received,
            bytes_out = sent,
            latency_ms = duration.as_micros() as f64 / 1000.0,
        );
    }
}

/// Where a [`Counted`] body reports the length of each data frame.
trait Tally: Send + Sync + Unpin + 'static {
    fn add(&mut self, bytes: u64);
}

/// A body that reports its bytes to `tally` as they pass.
struct Counted<T> {
    inner: Body,
    tally: T,
}

impl<T: Tally> HttpBody for Counted<T> {
    type Data = Bytes;
    type Error = StdError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, StdError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.tally.add(data.len() as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The request body's bytes go to the facts the response's end reads.
impl Tally for Arc<Facts> {
    fn add(&mut self, bytes: u64) {
        self.received.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// The response of an exchange. Dropped with its body, which hyper drops
/// once the last frame is written or the connection fails, it ends the
/// exchange.
struct Responding {
    exchange: Exchange,
    status: u16,
    error_code: Option<String>,
    sent: u64,
}

impl Tally for Responding {
    fn add(&mut self, bytes: u64) {
        self.sent += bytes;
    }
}

impl Drop for Responding {
    fn drop(&mut self) {
        self.exchange.end(self.status, self.error_code.as_deref(), self.sent);
    }
}
