//! Object data whose SHA-256 the request signs (`x-amz-content-sha256` in
//! hex), checked by Coffer as it stores the data rather than by s3s.
//!
//! s3s checks such a body by hashing it, with one SHA-256 of its own, while
//! the operation reads it. Object writes (PutObject, UploadPart) hash their
//! data anyway, for the ETag, and hash the large bodies that arrive
//! together side by side (`crate::hashing`), where their SHA-256s cost a
//! third less than one after the other. So the edge sets every signed body
//! aside ([`set_aside`]) and hands s3s a stand-in that fetches it when first
//! read: an operation that reads its body through s3s (every other one)
//! gets it checked by s3s as before, and an object write takes it from the
//! request's extensions ([`take`]) with the SHA-256 it must have, which
//! `checksum::BodyHasher` checks before anything is committed. s3s has
//! verified the request's signature before any operation runs. This module
//! calls only s3s's body types.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::Request;
use s3s::stream::{ByteStream, RemainingLength};
use s3s::{Body, StdError};

/// A request's body, set aside until its operation or s3s reads it.
type Slot = Arc<Mutex<Option<Body>>>;

/// The extension an object write finds its data in.
#[derive(Clone)]
struct SignedBody {
    slot: Slot,
    sha256: [u8; 32],
}

/// Sets aside the body of a PUT signed with SigV4 whose
/// `x-amz-content-sha256` is a SHA-256 (not `UNSIGNED-PAYLOAD` nor an
/// aws-chunked encoding), leaving s3s a stand-in for it.
pub fn set_aside(req: &mut Request<Body>) {
    if req.method() != http::Method::PUT || req.body().remaining_length().exact() == Some(0) {
        return;
    }
    let signed = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .is_some_and(|value| value.as_bytes().starts_with(b"AWS4-HMAC-SHA256 "))
        || req
            .uri()
            .query()
            .is_some_and(|query| query.split('&').any(|pair| pair.starts_with("X-Amz-Signature=")));
    if !signed {
        return;
    }
    let Some(sha256) = req
        .headers()
        .get("x-amz-content-sha256")
        .and_then(|value| hex::decode(value.as_bytes()).ok())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
    else {
        return;
    };
    let slot: Slot = Arc::new(Mutex::new(Some(std::mem::take(req.body_mut()))));
    let stand_in = StandIn {
        slot: Arc::clone(&slot),
        body: None,
    };
    *req.body_mut() = Body::from(Box::pin(stand_in) as s3s::stream::DynByteStream);
    req.extensions_mut().insert(SignedBody { slot, sha256 });
}

/// The body the edge set aside, with the SHA-256 its request signs, if
/// nothing has read it yet. The caller must check the SHA-256.
pub fn take(extensions: &http::Extensions) -> Option<(Body, [u8; 32])> {
    let signed = extensions.get::<SignedBody>()?;
    let body = signed.slot.lock().expect("body slot poisoned").take()?;
    Some((body, signed.sha256))
}

/// What s3s reads in place of a body set aside: the body itself, taken when
/// first polled, or nothing if an object write has taken it.
struct StandIn {
    slot: Slot,
    body: Option<Body>,
}

impl Stream for StandIn {
    type Item = Result<Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.body.is_none() {
            let Some(body) = self.slot.lock().expect("body slot poisoned").take() else {
                return Poll::Ready(None);
            };
            self.body = Some(body);
        }
        self.body.as_mut().expect("taken above").poll_next_unpin(cx)
    }
}

impl ByteStream for StandIn {
    fn remaining_length(&self) -> RemainingLength {
        match &self.body {
            Some(body) => body.remaining_length(),
            None => match &*self.slot.lock().expect("body slot poisoned") {
                Some(body) => body.remaining_length(),
                None => RemainingLength::new_exact(0),
            },
        }
    }
}
