//! Every request body as the edge hands it to s3s: watched, so that a body
//! that cannot be read gets S3's answer rather than a 500.
//!
//! s3s reads the whole body of an XML request (bucket configurations,
//! DeleteObjects, CompleteMultipartUpload, ACLs, tags, …) itself, before the
//! operation runs, and answers any failure to read it with a bare
//! `InternalError`: a client that goes away or stalls, a body whose SHA-256
//! is not the signed `x-amz-content-sha256`, a malformed aws-chunked body
//! (found by fuzzing). So the edge watches the body it hands over: the
//! watch gives up on a body that stalls for [`IDLE_TIMEOUT`] (as object
//! uploads always did), records why reading failed, and the access hook,
//! which runs just before s3s reads such a body, marks the request as one
//! whose body s3s reads whole. An `InternalError` s3s raised (it has no
//! `Message`; Coffer's own always do) on such a request is a body that could
//! not be read, and [`Watch::answer`] gives the error S3 gives.
//!
//! aws-chunked bodies on these requests are refused outright by the access
//! hook ([`refuse_aws_chunked`]): s3s 0.14.1 compares the decoded XML with the
//! encoded Content-Length, so it refuses every one of them anyway, as an
//! IncompleteBody that names no cause. The SDKs send aws-chunked only for
//! object data (PutObject, UploadPart).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, Stream, StreamExt};
use http::{Request, Response};
use s3s::stream::{ByteStream, RemainingLength};
use s3s::{Body, S3Error, S3Result, StdError, s3_error};

/// How long a request body may go without sending a byte, as Amazon S3
/// allows roughly; a client that stalls longer gets `RequestTimeout` and its
/// connection's resources back.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// The text of the error a stalled body fails with.
pub(crate) const STALLED: &str = "the client stopped sending";

/// The operations whose body s3s reads whole, as XML, before they run.
const XML_BODY_OPERATIONS: [&str; 30] = [
    "CompleteMultipartUpload",
    "CreateBucket",
    "CreateBucketMetadataTableConfiguration",
    "DeleteObjects",
    "PutBucketAccelerateConfiguration",
    "PutBucketAcl",
    "PutBucketAnalyticsConfiguration",
    "PutBucketCors",
    "PutBucketEncryption",
    "PutBucketIntelligentTieringConfiguration",
    "PutBucketInventoryConfiguration",
    "PutBucketLifecycleConfiguration",
    "PutBucketLogging",
    "PutBucketMetricsConfiguration",
    "PutBucketNotificationConfiguration",
    "PutBucketOwnershipControls",
    "PutBucketPolicy",
    "PutBucketReplication",
    "PutBucketRequestPayment",
    "PutBucketTagging",
    "PutBucketVersioning",
    "PutBucketWebsite",
    "PutObjectAcl",
    "PutObjectLegalHold",
    "PutObjectLockConfiguration",
    "PutObjectRetention",
    "PutObjectTagging",
    "PutPublicAccessBlock",
    "RestoreObject",
    "SelectObjectContent",
];

/// What the edge learns about one request's body while s3s reads it.
#[derive(Default)]
pub struct Watch {
    /// Why reading the body failed, if it did.
    failure: Mutex<Option<(std::io::ErrorKind, String)>>,
    /// The access hook let through an operation whose body s3s reads whole.
    read_whole: std::sync::atomic::AtomicBool,
    /// The request signs its body's SHA-256 (`x-amz-content-sha256`).
    signed_hash: bool,
    /// What s3s left of the body unread when it dropped it.
    unread: Mutex<Option<Body>>,
}

/// An unread body smaller than this is read and dropped before the answer
/// goes out: closing a connection with unread bytes in its receive buffer
/// sends a TCP reset, which can reach the client before the answer does.
const DRAIN_BYTES_MAX: usize = 1 << 20;
/// How long the edge waits for such a body's bytes.
const DRAIN_WAIT: Duration = Duration::from_secs(1);

impl Watch {
    /// Puts a watch on `req`'s body (if it has one), and in its extensions
    /// for the access hook.
    pub fn install(req: &mut Request<Body>) -> Arc<Watch> {
        let signed_hash = req
            .headers()
            .get("x-amz-content-sha256")
            .is_some_and(|value| value.len() == 64 && value.as_bytes().iter().all(u8::is_ascii_hexdigit));
        let watch = Arc::new(Watch {
            signed_hash,
            ..Watch::default()
        });
        req.extensions_mut().insert(Arc::clone(&watch));
        if req.body().remaining_length().exact() != Some(0) {
            let inner = std::mem::take(req.body_mut());
            let watched = Watched {
                inner,
                idle: Box::pin(tokio::time::sleep(IDLE_TIMEOUT)),
                watch: Arc::clone(&watch),
                waiting: false,
                done: false,
            };
            *req.body_mut() = Body::from(Box::pin(watched) as s3s::stream::DynByteStream);
        }
        watch
    }

    /// Reads and drops what is left of a small body s3s did not read (an
    /// error answered before the body, such as a bad signature), so the
    /// connection can end cleanly.
    pub async fn drain_unread(&self) {
        let Some(mut body) = self.unread.lock().expect("not poisoned").take() else {
            return;
        };
        if body
            .remaining_length()
            .exact()
            .is_none_or(|left| left > DRAIN_BYTES_MAX)
        {
            return;
        }
        let _ = tokio::time::timeout(DRAIN_WAIT, async { while let Some(Ok(_)) = body.next().await {} }).await;
    }

    fn fail(&self, kind: std::io::ErrorKind, text: String) {
        let mut failure = self.failure.lock().expect("not poisoned");
        failure.get_or_insert((kind, text));
    }

    /// S3's error for a body s3s could not read whole, if `resp` is s3s's
    /// `InternalError` for one.
    pub fn answer(&self, resp: &Response<Body>) -> Option<S3Error> {
        if resp.status() != http::StatusCode::INTERNAL_SERVER_ERROR
            || !self.read_whole.load(std::sync::atomic::Ordering::Relaxed)
        {
            return None;
        }
        let body = resp.body().bytes()?;
        let text = std::str::from_utf8(&body).ok()?;
        if !text.contains("<Code>InternalError</Code>") || text.contains("<Message>") {
            return None;
        }
        if let Some((kind, text)) = self.failure.lock().expect("not poisoned").clone() {
            return Some(crate::error::from_body_error(std::io::Error::new(kind, text)));
        }
        // The body arrived whole, so what failed is s3s's check of it: its
        // SHA-256 is not the one signed.
        Some(if self.signed_hash {
            crate::error::sha256_mismatch()
        } else {
            s3_error!(IncompleteBody, "The request body could not be read.")
        })
    }
}

/// The access hook's part, for `operation`: refuses an aws-chunked body on an
/// operation whose body s3s reads whole, and marks such a request so that a
/// failure to read its body gets S3's answer.
pub fn refuse_aws_chunked(operation: &str, cx: &mut s3s::access::S3AccessContext<'_>) -> S3Result<()> {
    if !XML_BODY_OPERATIONS.contains(&operation) {
        return Ok(());
    }
    let streaming = cx
        .headers()
        .get("x-amz-content-sha256")
        .is_some_and(|value| value.as_bytes().starts_with(b"STREAMING-"));
    if let Some(watch) = cx.extensions_mut().get::<Arc<Watch>>() {
        watch.read_whole.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    if streaming {
        return Err(s3_error!(
            InvalidRequest,
            "{operation} does not accept an aws-chunked body (x-amz-content-sha256: STREAMING-*); send the document whole."
        ));
    }
    Ok(())
}

/// A request body with an idle timeout that tells its [`Watch`] why it
/// failed. The timeout counts from when the server starts waiting for the
/// client, not from the last bytes: a server slow to ask is not a client
/// slow to send.
struct Watched {
    inner: Body,
    idle: Pin<Box<tokio::time::Sleep>>,
    watch: Arc<Watch>,
    /// The server is waiting for bytes, since `idle` was set.
    waiting: bool,
    done: bool,
}

impl Stream for Watched {
    type Item = Result<Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.waiting = false;
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(err))) => {
                self.done = true;
                let kind = err
                    .downcast_ref::<std::io::Error>()
                    .map_or(std::io::ErrorKind::Other, std::io::Error::kind);
                self.watch.fail(kind, err.to_string());
                Poll::Ready(Some(Err(err)))
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if !self.waiting {
                    self.waiting = true;
                    let deadline = tokio::time::Instant::now() + IDLE_TIMEOUT;
                    self.idle.as_mut().reset(deadline);
                }
                if self.idle.poll_unpin(cx).is_pending() {
                    return Poll::Pending;
                }
                self.done = true;
                self.watch.fail(std::io::ErrorKind::TimedOut, STALLED.to_owned());
                Poll::Ready(Some(Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    STALLED,
                )))))
            }
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if !self.done {
            let unread = std::mem::take(&mut self.inner);
            *self.watch.unread.lock().expect("not poisoned") = Some(unread);
        }
    }
}

impl ByteStream for Watched {
    fn remaining_length(&self) -> RemainingLength {
        self.inner.remaining_length()
    }
}
