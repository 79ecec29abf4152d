//! The admin listener's unsigned endpoints, for probes and Prometheus:
//!
//! | request | answers |
//! |---|---|
//! | `GET /health/live` | 200 while the process serves |
//! | `GET /health/ready` | 200 while the store is open and S3 requests are accepted; 503 once the server shuts down |
//! | `GET /metrics` | every metric ([`crate::metrics`]), as OpenMetrics text |
//!
//! They answer before s3s sees the request, so they need no signature. The
//! admin listener is on the loopback address unless the operator chose
//! otherwise; with a metrics token, `/metrics` also wants
//! `Authorization: Bearer TOKEN` (401 otherwise). The probes stay open:
//! they tell nothing but that the server is up.

use std::sync::Arc;

use bytes::Bytes;
use coffer_engine::Engine;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use s3s::Body;
use tokio::sync::watch;

use crate::expiry;
use crate::metrics::{self, Metrics};

/// What the monitoring endpoints read.
pub struct Monitor {
    pub engine: Arc<dyn Engine>,
    pub metrics: Arc<Metrics>,
    pub lifecycle: Arc<expiry::Worker>,
    /// When set, `/metrics` wants it as a bearer token.
    pub metrics_token: Option<String>,
    /// Turns true when the server begins to shut down.
    pub stopping: watch::Receiver<bool>,
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut resp = Response::new(Body::from(Bytes::from_static(text.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Compares in time that depends on the lengths only, so the answer's timing
/// does not tell how much of a guessed token was right.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && given.iter().zip(expected).fold(0, |diff, (a, b)| diff | (a ^ b)) == 0
}

impl Monitor {
    /// The answer to `req` if it is for one of the monitoring endpoints.
    pub(crate) async fn answer(&self, req: &Request<Body>) -> Option<Response<Body>> {
        if req.method() != Method::GET {
            return None;
        }
        Some(match req.uri().path() {
            "/health/live" => plain(StatusCode::OK, "live\n"),
            "/health/ready" if *self.stopping.borrow() => plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
            "/health/ready" => plain(StatusCode::OK, "ready\n"),
            "/metrics" => self.scrape(req).await,
            _ => return None,
        })
    }

    async fn scrape(&self, req: &Request<Body>) -> Response<Body> {
        if let Some(token) = &self.metrics_token {
            let given = req
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
            if !given.is_some_and(|given| same_secret(given, token.as_bytes())) {
                let mut resp = plain(StatusCode::UNAUTHORIZED, "a bearer token is required\n");
                resp.headers_mut()
                    .insert(http::header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return resp;
            }
        }
        match self.metrics.render(self.engine.as_ref(), &self.lifecycle).await {
            Ok(text) => {
                let mut resp = Response::new(Body::from(text));
                resp.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static(metrics::CONTENT_TYPE),
                );
                resp
            }
            Err(err) => {
                tracing::error!(%err, "reading the metrics failed");
                plain(StatusCode::INTERNAL_SERVER_ERROR, "the metrics could not be read\n")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_whole() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cre", b"s3cret"));
        assert!(!same_secret(b"s3cret!", b"s3cret"));
        assert!(!same_secret(b"s3creT", b"s3cret"));
        assert!(!same_secret(b"", b"s3cret"));
    }
}
