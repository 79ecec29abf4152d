//! Coffer's S3 front end: the only crate that knows S3's wire protocol.
//!
//! s3s parses HTTP requests into typed S3 operations, verifies SigV4 and
//! renders S3's XML; this crate supplies S3's semantics on top: the
//! operations in [`ops`] (one file per family), the authorization of every
//! request ([`access`]: bucket policies, ACLs), conditional requests,
//! checksums, CORS, browser form uploads, virtual-hosted addressing, the
//! mapping of storage errors to S3 errors, and the [`edge`] layer between
//! hyper and s3s. It also serves the admin API ([`admin`]) on its own
//! listener, with the same SigV4 verification, and runs the lifecycle worker
//! ([`expiry`]) that enforces the rules of [`lifecycle`]. It may call `coffer-engine` and nothing below
//! it: storage is reached only through the [`coffer_engine::Engine`] trait.

pub mod access;
mod acl;
pub mod admin;
pub mod auth;
mod checksum;
mod conditions;
mod cors;
pub mod edge;
mod error;
mod exchange;
pub mod expiry;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod hashing;
mod headers;
mod host;
mod integrity;
pub mod lifecycle;
pub mod metrics;
pub mod monitor;
mod names;
mod ops;
mod policy;
mod post_form;
mod preflight;
mod request_body;
pub mod scrub;
mod signed_payload;
mod sse;

use std::sync::Arc;

use coffer_engine::{Engine, SealingKey};
use s3s::config::{S3Config, StaticConfigProvider};
use s3s::service::S3ServiceBuilder;

pub use crate::auth::{KeyStore, User};
pub use crate::edge::CofferService;

/// XML request bodies (DeleteObjects, bucket configurations) larger than this
/// are refused with MaxMessageLengthExceeded.
const XML_BODY_BYTES_MAX: usize = 4 << 20;
/// Signed requests whose time is further than this from the server's are
/// refused with RequestTimeTooSkewed, as in Amazon S3.
const CLOCK_SKEW_SECS_MAX: u32 = 15 * 60;
/// The largest file a browser form upload (POST Object) may carry. s3s holds
/// a form's file whole in memory before the operation runs, so this is far
/// below Amazon S3's 5 GB; larger uploads answer EntityTooLarge.
const POST_OBJECT_BYTES_MAX: u64 = 64 << 20;

/// Builds the S3 service over `engine`, authenticating with `keys`. With a
/// `domain`, requests to `bucket.domain` address `bucket` (virtual-hosted
/// style); path-style requests are served either way. `master_key` seals the
/// data of SSE-S3 versions: losing it loses them.
pub fn service(
    engine: Arc<dyn Engine>,
    keys: KeyStore,
    region: &str,
    domain: Option<&str>,
    master_key: SealingKey,
) -> CofferService {
    let cors = cors::Cors::new(Arc::clone(&engine), domain);
    let authorizer = Arc::new(access::Authorizer::new(Arc::clone(&engine), keys.clone()));
    let s3 = ops::CofferS3::new(engine, Arc::clone(&authorizer), region, master_key);
    let mut builder = S3ServiceBuilder::new(s3);
    builder.set_auth(keys);
    builder.set_access(access::CofferAccess { authorizer });
    builder.set_validation(names::BucketNames);
    if let Some(domain) = domain {
        builder.set_host(host::BucketDomain::new(domain));
    }
    let mut config = S3Config::default();
    config.xml_max_body_size = XML_BODY_BYTES_MAX;
    config.presigned_url_max_skew_time_secs = CLOCK_SKEW_SECS_MAX;
    config.post_object_max_file_size = POST_OBJECT_BYTES_MAX;
    builder.set_config(Arc::new(StaticConfigProvider::new(Arc::new(config))));
    CofferService::new(builder.build(), region).with_cors(cors)
}
