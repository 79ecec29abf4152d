//! Coffer's S3 front end: the only crate that knows S3's wire protocol.
//!
//! s3s parses HTTP requests into typed S3 operations, verifies SigV4 and
//! renders S3's XML; this crate supplies S3's semantics on top: the
//! operations in [`ops`] (one file per family), conditional requests,
//! checksums, the mapping of storage errors to S3 errors, and the request-id
//! layer. It also serves the admin API ([`admin`]) on its own listener, with
//! the same SigV4 verification. It may call `coffer-engine` and nothing below
//! it: storage is reached only through the [`coffer_engine::Engine`] trait.

pub mod admin;
pub mod auth;
mod checksum;
mod conditions;
mod error;
mod headers;
mod names;
mod ops;
mod preflight;
pub mod request_id;

use std::sync::Arc;

use coffer_engine::Engine;
use s3s::config::{S3Config, StaticConfigProvider};
use s3s::service::S3ServiceBuilder;

pub use crate::auth::{KeyStore, User};
pub use crate::request_id::CofferService;

/// XML request bodies (DeleteObjects, bucket configurations) larger than this
/// are refused with MaxMessageLengthExceeded.
const XML_BODY_BYTES_MAX: usize = 4 << 20;
/// Signed requests whose time is further than this from the server's are
/// refused with RequestTimeTooSkewed, as in Amazon S3.
const CLOCK_SKEW_SECS_MAX: u32 = 15 * 60;

/// Builds the S3 service over `engine`, authenticating with `keys`.
pub fn service(engine: Arc<dyn Engine>, keys: KeyStore, region: &str) -> CofferService {
    let s3 = ops::CofferS3::new(engine, keys.clone(), region);
    let mut builder = S3ServiceBuilder::new(s3);
    builder.set_auth(keys);
    builder.set_validation(names::BucketNames);
    let mut config = S3Config::default();
    config.xml_max_body_size = XML_BODY_BYTES_MAX;
    config.presigned_url_max_skew_time_secs = CLOCK_SKEW_SECS_MAX;
    builder.set_config(Arc::new(StaticConfigProvider::new(Arc::new(config))));
    CofferService::new(builder.build(), region)
}
