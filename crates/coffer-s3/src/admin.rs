//! The admin API: users and access keys, as JSON over HTTP on its own
//! listener. Requests are signed with SigV4 exactly as S3 requests are, and
//! s3s verifies them; only admin users (the root user among them) get in.
//!
//! | request | does |
//! |---|---|
//! | `GET /admin/v1/users` | lists users and their access keys (no secrets) |
//! | `POST /admin/v1/users` `{"name", "access_key"?, "secret_key"?, "admin"?}` | creates a user with one key (generated when not given); answers the key with its secret |
//! | `DELETE /admin/v1/users/NAME` | removes a user that owns no bucket, and its keys |
//! | `POST /admin/v1/users/NAME/keys` `{"access_key"?, "secret_key"?}` | adds a key to a user |
//! | `PUT /admin/v1/keys/AK` `{"enabled": bool}` | enables or disables a key |
//! | `DELETE /admin/v1/keys/AK` | removes a key |
//! | `POST /admin/v1/lifecycle/clock` `{"advance_days"?, "advance_seconds"?}` | moves the lifecycle worker's clock forward; answers `{"now"}` |
//! | `POST /admin/v1/lifecycle/run` | runs one lifecycle pass; answers what it did when it is done |
//! | `GET /admin/v1/buckets/NAME` | a bucket: owner, versioning, quota, and what it holds |
//! | `PUT /admin/v1/buckets/NAME/quota` `{"max_bytes": N or null}` | sets or clears the bucket's quota; answers the bucket as `GET` does |
//! | `GET /admin/v1/server` | the server: version, uptime, data directory, what all buckets hold |
//!
//! Every change is committed to the engine, then applied to the live
//! [`KeyStore`], so it holds from the next request on. The two lifecycle
//! calls are for tests: they are refused unless the server was started with
//! its test clock (`coffer serve --lifecycle-test-clock`). The same listener
//! serves the unsigned health and metrics endpoints of [`crate::monitor`].

use std::sync::Arc;

use bytes::Bytes;
use coffer_engine::{Engine, KeyRecord, UserRecord};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use s3s::route::S3Route;
use s3s::service::S3ServiceBuilder;
use s3s::{Body, S3Request, S3Response, S3Result, s3_error};
use serde::{Deserialize, Serialize};

use crate::auth::{KeyStore, User, new_key_pair};
use crate::edge::CofferService;
use crate::error::from_engine;
use crate::expiry;
use crate::metrics::{Metrics, usage_of_every_bucket};
use crate::monitor::Monitor;

const API_PREFIX: &str = "/admin/v1/";
/// Admin request bodies are small JSON documents.
const BODY_BYTES_MAX: usize = 64 << 10;
/// The user the root keys of `coffer serve` belong to; never stored.
pub const ROOT_USER: &str = "root";
/// IAM's rule for user names: letters, digits and `+=,.@_-`, up to 64.
const USER_NAME_LEN_MAX: usize = 64;

/// Builds the admin service over `engine`, sharing `keys` with the S3 service.
/// With `lifecycle_test`, the lifecycle worker whose clock tests may move and
/// whose passes they may run. `monitor` answers the health and metrics
/// endpoints; `data_dir` is where the server keeps its data, as the server
/// information names it.
pub fn service(
    engine: Arc<dyn Engine>,
    keys: KeyStore,
    region: &str,
    lifecycle_test: Option<Arc<expiry::Worker>>,
    monitor: Monitor,
    data_dir: &str,
) -> CofferService {
    let mut builder = S3ServiceBuilder::new(NoS3);
    builder.set_auth(keys.clone());
    builder.set_route(AdminApi {
        engine,
        keys,
        lifecycle_test,
        metrics: Arc::clone(&monitor.metrics),
        data_dir: data_dir.to_owned(),
    });
    CofferService::new(builder.build(), region).with_monitor(monitor)
}

/// s3s wants an S3 implementation; the admin listener serves no S3 operation.
struct NoS3;

#[async_trait::async_trait]
impl s3s::S3 for NoS3 {}

struct AdminApi {
    engine: Arc<dyn Engine>,
    keys: KeyStore,
    lifecycle_test: Option<Arc<expiry::Worker>>,
    /// Kept since the server started, so it tells the uptime.
    metrics: Arc<Metrics>,
    data_dir: String,
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    access_key: Option<String>,
    secret_key: Option<String>,
    #[serde(default)]
    admin: bool,
}

#[derive(Deserialize)]
struct NewKey {
    access_key: Option<String>,
    secret_key: Option<String>,
}

#[derive(Deserialize)]
struct KeyChange {
    enabled: bool,
}

/// How far to move the lifecycle worker's clock; the two add up.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockChange {
    #[serde(default)]
    advance_days: u32,
    #[serde(default)]
    advance_seconds: u32,
}

/// A bucket's quota; `null` clears it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaChange {
    max_bytes: Option<u64>,
}

#[derive(Serialize)]
struct BucketView {
    name: String,
    /// The owner's user name, or its canonical id if no user has it now.
    owner: String,
    owner_id: String,
    created: String,
    /// `Enabled`, `Suspended`, or `Unversioned` if never configured.
    versioning: String,
    object_lock: bool,
    quota_bytes: Option<u64>,
    objects: u64,
    bytes: u64,
    uploads_in_progress: u64,
}

#[derive(Serialize)]
struct ServerView {
    version: &'static str,
    uptime_seconds: u64,
    data_dir: String,
    buckets: usize,
    objects: u64,
    bytes: u64,
    uploads_in_progress: u64,
}

fn rfc3339(when: time::OffsetDateTime) -> S3Result<String> {
    when.format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| s3_error!(e, InternalError))
}

#[derive(Serialize)]
struct UserView {
    name: String,
    id: String,
    admin: bool,
    keys: Vec<KeyView>,
}

#[derive(Serialize)]
struct KeyView {
    access_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_key: Option<String>,
    user: String,
    enabled: bool,
}

impl KeyView {
    fn of(key: &KeyRecord, with_secret: bool) -> KeyView {
        KeyView {
            access_key: key.access_key.clone(),
            secret_key: with_secret.then(|| key.secret_key.clone()),
            user: key.user.clone(),
            enabled: key.enabled,
        }
    }
}

/// The request, as the admin API routes it.
enum Call<'a> {
    ListUsers,
    CreateUser,
    DeleteUser(&'a str),
    CreateKey(&'a str),
    UpdateKey(&'a str),
    DeleteKey(&'a str),
    AdvanceLifecycleClock,
    RunLifecycle,
    BucketInfo(&'a str),
    SetBucketQuota(&'a str),
    ServerInfo,
}

fn route<'a>(method: &Method, path: &'a str) -> Option<Call<'a>> {
    let rest = path.strip_prefix(API_PREFIX)?;
    let segments: Vec<&str> = rest.split('/').collect();
    Some(match (method, segments.as_slice()) {
        (&Method::GET, ["users"]) => Call::ListUsers,
        (&Method::POST, ["users"]) => Call::CreateUser,
        (&Method::DELETE, ["users", name]) => Call::DeleteUser(name),
        (&Method::POST, ["users", name, "keys"]) => Call::CreateKey(name),
        (&Method::PUT, ["keys", access_key]) => Call::UpdateKey(access_key),
        (&Method::DELETE, ["keys", access_key]) => Call::DeleteKey(access_key),
        (&Method::POST, ["lifecycle", "clock"]) => Call::AdvanceLifecycleClock,
        (&Method::POST, ["lifecycle", "run"]) => Call::RunLifecycle,
        (&Method::GET, ["buckets", name]) => Call::BucketInfo(name),
        (&Method::PUT, ["buckets", name, "quota"]) => Call::SetBucketQuota(name),
        (&Method::GET, ["server"]) => Call::ServerInfo,
        _ => return None,
    })
}

fn check_user_name(name: &str) -> S3Result<()> {
    if name == ROOT_USER {
        return Err(s3_error!(
            InvalidArgument,
            "The name {ROOT_USER} is reserved for the root user."
        ));
    }
    let valid = !name.is_empty()
        && name.len() <= USER_NAME_LEN_MAX
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if !valid {
        return Err(s3_error!(
            InvalidArgument,
            "User names are 1 to 64 letters, digits and +=,.@_- characters."
        ));
    }
    Ok(())
}

fn check_key_pair(access_key: &str, secret_key: &str) -> S3Result<()> {
    let printable = |text: &str| text.chars().all(|c| c.is_ascii_graphic());
    if access_key.len() < 3 || !printable(access_key) || access_key.contains('/') {
        return Err(s3_error!(
            InvalidArgument,
            "An access key is at least 3 printable characters, without '/'."
        ));
    }
    if secret_key.len() < 8 || !printable(secret_key) {
        return Err(s3_error!(
            InvalidArgument,
            "A secret key is at least 8 printable characters."
        ));
    }
    Ok(())
}

fn json_response(status: StatusCode, value: &impl Serialize) -> S3Result<S3Response<Body>> {
    let body = serde_json::to_vec_pretty(value).map_err(|e| s3_error!(e, InternalError))?;
    let mut response = S3Response::with_status(Body::from(Bytes::from(body)), status);
    response
        .headers
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

async fn json_body<T: for<'de> Deserialize<'de>>(body: &mut Body) -> S3Result<T> {
    let bytes = body
        .store_all_limited(BODY_BYTES_MAX)
        .await
        .map_err(|_| s3_error!(MaxMessageLengthExceeded, "The request body is too large."))?;
    serde_json::from_slice(&bytes).map_err(|e| s3_error!(InvalidArgument, "The request body is not valid: {e}"))
}

impl AdminApi {
    async fn list_users(&self) -> S3Result<S3Response<Body>> {
        let users = self.engine.list_users().await.map_err(from_engine)?;
        let keys = self.engine.list_keys().await.map_err(from_engine)?;
        let views: Vec<UserView> = users
            .into_iter()
            .map(|user| UserView {
                keys: keys
                    .iter()
                    .filter(|key| key.user == user.name)
                    .map(|key| KeyView::of(key, false))
                    .collect(),
                name: user.name,
                id: user.id,
                admin: user.admin,
            })
            .collect();
        json_response(StatusCode::OK, &views)
    }

    async fn create_user(&self, body: &mut Body) -> S3Result<S3Response<Body>> {
        let request: NewUser = json_body(body).await?;
        check_user_name(&request.name)?;
        let key = self.new_key(&request.name, request.access_key, request.secret_key)?;
        let user = User::named(&request.name, request.admin);
        let record = UserRecord {
            name: request.name.clone(),
            id: user.id.clone(),
            created: time::OffsetDateTime::now_utc(),
            admin: request.admin,
        };
        self.engine.create_user(record).await.map_err(from_engine)?;
        if let Err(err) = self.engine.create_key(key.clone()).await {
            // Keep users and keys consistent: a user whose key was refused is
            // not left behind without one.
            let _ = self.engine.delete_user(&request.name).await;
            return Err(from_engine(err));
        }
        self.keys
            .insert(&key.access_key, &key.secret_key, key.enabled, user.clone());
        let view = UserView {
            name: request.name,
            id: user.id,
            admin: request.admin,
            keys: vec![KeyView::of(&key, true)],
        };
        json_response(StatusCode::CREATED, &view)
    }

    async fn delete_user(&self, name: &str) -> S3Result<S3Response<Body>> {
        let removed = self.engine.delete_user(name).await.map_err(from_engine)?;
        for key in &removed {
            self.keys.remove(&key.access_key);
        }
        json_response(
            StatusCode::OK,
            &removed.iter().map(|key| KeyView::of(key, false)).collect::<Vec<_>>(),
        )
    }

    async fn create_key(&self, user_name: &str, body: &mut Body) -> S3Result<S3Response<Body>> {
        let request: NewKey = json_body(body).await?;
        let users = self.engine.list_users().await.map_err(from_engine)?;
        let user = users
            .iter()
            .find(|user| user.name == user_name)
            .ok_or_else(|| from_engine(coffer_engine::EngineError::NoSuchUser(user_name.to_owned())))?;
        let key = self.new_key(user_name, request.access_key, request.secret_key)?;
        self.engine.create_key(key.clone()).await.map_err(from_engine)?;
        self.keys.insert(
            &key.access_key,
            &key.secret_key,
            key.enabled,
            User::named(&user.name, user.admin),
        );
        json_response(StatusCode::CREATED, &KeyView::of(&key, true))
    }

    async fn update_key(&self, access_key: &str, body: &mut Body) -> S3Result<S3Response<Body>> {
        let change: KeyChange = json_body(body).await?;
        let keys = self.engine.list_keys().await.map_err(from_engine)?;
        let mut key = keys
            .into_iter()
            .find(|key| key.access_key == access_key)
            .ok_or_else(|| from_engine(coffer_engine::EngineError::NoSuchAccessKey(access_key.to_owned())))?;
        key.enabled = change.enabled;
        self.engine.update_key(key.clone()).await.map_err(from_engine)?;
        let users = self.engine.list_users().await.map_err(from_engine)?;
        if let Some(user) = users.iter().find(|user| user.name == key.user) {
            self.keys.insert(
                &key.access_key,
                &key.secret_key,
                key.enabled,
                User::named(&user.name, user.admin),
            );
        }
        json_response(StatusCode::OK, &KeyView::of(&key, false))
    }

    async fn delete_key(&self, access_key: &str) -> S3Result<S3Response<Body>> {
        let removed = self.engine.delete_key(access_key).await.map_err(from_engine)?;
        self.keys.remove(access_key);
        json_response(StatusCode::OK, &KeyView::of(&removed, false))
    }

    /// The lifecycle worker, if the server runs it with the test clock.
    fn lifecycle_test(&self) -> S3Result<&expiry::Worker> {
        self.lifecycle_test.as_deref().ok_or_else(|| {
            s3_error!(
                AccessDenied,
                "The lifecycle test calls are off: start coffer serve with --lifecycle-test-clock."
            )
        })
    }

    async fn advance_lifecycle_clock(&self, body: &mut Body) -> S3Result<S3Response<Body>> {
        let worker = self.lifecycle_test()?;
        let change: ClockChange = json_body(body).await?;
        let by =
            time::Duration::days(change.advance_days.into()) + time::Duration::seconds(change.advance_seconds.into());
        let now = worker
            .advance_clock(by)
            .ok_or_else(|| s3_error!(InvalidArgument, "The lifecycle clock moves at most a century ahead."))?;
        json_response(StatusCode::OK, &serde_json::json!({ "now": rfc3339(now)? }))
    }

    async fn run_lifecycle(&self) -> S3Result<S3Response<Body>> {
        let report = self.lifecycle_test()?.pass().await.map_err(from_engine)?;
        json_response(StatusCode::OK, &report)
    }

    async fn bucket_info(&self, name: &str) -> S3Result<S3Response<Body>> {
        let bucket = self.engine.bucket(name).await.map_err(from_engine)?;
        self.bucket_view(bucket).await
    }

    async fn set_bucket_quota(&self, name: &str, body: &mut Body) -> S3Result<S3Response<Body>> {
        let change: QuotaChange = json_body(body).await?;
        let bucket = self
            .engine
            .update_bucket(
                name,
                Box::new(move |bucket| {
                    bucket.quota_bytes = change.max_bytes;
                    Ok(())
                }),
            )
            .await
            .map_err(from_engine)?;
        self.bucket_view(bucket).await
    }

    async fn bucket_view(&self, bucket: coffer_engine::BucketRecord) -> S3Result<S3Response<Body>> {
        let usage = self.engine.bucket_usage(&bucket.name).await.map_err(from_engine)?;
        let users = self.engine.list_users().await.map_err(from_engine)?;
        let owner = users
            .into_iter()
            .find(|user| user.id == bucket.owner)
            .map(|user| user.name)
            .or_else(|| self.keys.user_by_id(&bucket.owner).map(|user| user.display_name))
            .unwrap_or_else(|| bucket.owner.clone());
        let view = BucketView {
            owner,
            created: rfc3339(bucket.created)?,
            versioning: bucket.versioning.unwrap_or_else(|| "Unversioned".to_owned()),
            object_lock: bucket.object_lock_enabled,
            quota_bytes: bucket.quota_bytes,
            objects: usage.objects,
            bytes: usage.bytes,
            uploads_in_progress: usage.uploads,
            owner_id: bucket.owner,
            name: bucket.name,
        };
        json_response(StatusCode::OK, &view)
    }

    async fn server_info(&self) -> S3Result<S3Response<Body>> {
        let usages = usage_of_every_bucket(self.engine.as_ref()).await.map_err(from_engine)?;
        let view = ServerView {
            version: env!("CARGO_PKG_VERSION"),
            uptime_seconds: self.metrics.uptime().as_secs(),
            data_dir: self.data_dir.clone(),
            buckets: usages.len(),
            objects: usages.iter().map(|(_, usage)| usage.objects).sum(),
            bytes: usages.iter().map(|(_, usage)| usage.bytes).sum(),
            uploads_in_progress: usages.iter().map(|(_, usage)| usage.uploads).sum(),
        };
        json_response(StatusCode::OK, &view)
    }

    fn new_key(&self, user: &str, access_key: Option<String>, secret_key: Option<String>) -> S3Result<KeyRecord> {
        let (generated_access_key, generated_secret_key) = new_key_pair();
        let access_key = access_key.unwrap_or(generated_access_key);
        let secret_key = secret_key.unwrap_or(generated_secret_key);
        check_key_pair(&access_key, &secret_key)?;
        if self.keys.user(&access_key).is_some() {
            return Err(from_engine(coffer_engine::EngineError::AccessKeyExists(access_key)));
        }
        Ok(KeyRecord {
            access_key,
            secret_key,
            user: user.to_owned(),
            created: time::OffsetDateTime::now_utc(),
            enabled: true,
        })
    }
}

#[async_trait::async_trait]
impl S3Route for AdminApi {
    fn is_match(&self, _method: &Method, _uri: &Uri, _headers: &HeaderMap, _extensions: &mut http::Extensions) -> bool {
        true
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        let admin = req
            .credentials
            .as_ref()
            .and_then(|credentials| self.keys.user(&credentials.access_key))
            .is_some_and(|user| user.admin);
        if !admin {
            return Err(s3_error!(AccessDenied, "Only admin users may use the admin API."));
        }
        Ok(())
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let mut body = req.input;
        let path = req.uri.path().to_owned();
        match route(&req.method, &path) {
            Some(Call::ListUsers) => self.list_users().await,
            Some(Call::CreateUser) => self.create_user(&mut body).await,
            Some(Call::DeleteUser(name)) => self.delete_user(name).await,
            Some(Call::CreateKey(name)) => self.create_key(name, &mut body).await,
            Some(Call::UpdateKey(access_key)) => self.update_key(access_key, &mut body).await,
            Some(Call::DeleteKey(access_key)) => self.delete_key(access_key).await,
            Some(Call::AdvanceLifecycleClock) => self.advance_lifecycle_clock(&mut body).await,
            Some(Call::RunLifecycle) => self.run_lifecycle().await,
            Some(Call::BucketInfo(name)) => self.bucket_info(name).await,
            Some(Call::SetBucketQuota(name)) => self.set_bucket_quota(name, &mut body).await,
            Some(Call::ServerInfo) => self.server_info().await,
            None => Err(s3_error!(
                NotImplemented,
                "No such admin API call: {} {path}",
                req.method
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_the_documented_api() {
        assert!(matches!(route(&Method::GET, "/admin/v1/users"), Some(Call::ListUsers)));
        assert!(matches!(
            route(&Method::POST, "/admin/v1/users"),
            Some(Call::CreateUser)
        ));
        assert!(matches!(
            route(&Method::DELETE, "/admin/v1/users/alice"),
            Some(Call::DeleteUser("alice"))
        ));
        assert!(matches!(
            route(&Method::POST, "/admin/v1/users/alice/keys"),
            Some(Call::CreateKey("alice"))
        ));
        assert!(matches!(
            route(&Method::PUT, "/admin/v1/keys/AK1"),
            Some(Call::UpdateKey("AK1"))
        ));
        assert!(matches!(
            route(&Method::DELETE, "/admin/v1/keys/AK1"),
            Some(Call::DeleteKey("AK1"))
        ));
        assert!(matches!(
            route(&Method::POST, "/admin/v1/lifecycle/clock"),
            Some(Call::AdvanceLifecycleClock)
        ));
        assert!(matches!(
            route(&Method::POST, "/admin/v1/lifecycle/run"),
            Some(Call::RunLifecycle)
        ));
        assert!(matches!(
            route(&Method::GET, "/admin/v1/buckets/photos"),
            Some(Call::BucketInfo("photos"))
        ));
        assert!(matches!(
            route(&Method::PUT, "/admin/v1/buckets/photos/quota"),
            Some(Call::SetBucketQuota("photos"))
        ));
        assert!(matches!(
            route(&Method::GET, "/admin/v1/server"),
            Some(Call::ServerInfo)
        ));
        assert!(route(&Method::GET, "/admin/v2/users").is_none());
        assert!(route(&Method::PUT, "/admin/v1/users").is_none());
    }

    #[test]
    fn names_and_keys_are_checked() {
        assert!(check_user_name("alice.smith@example").is_ok());
        assert!(check_user_name("").is_err());
        assert!(check_user_name(ROOT_USER).is_err());
        assert!(check_user_name("has space").is_err());
        assert!(check_user_name(&"x".repeat(65)).is_err());
        assert!(check_key_pair("AKIA", "secret-key").is_ok());
        assert!(check_key_pair("A/K", "secret-key").is_err());
        assert!(check_key_pair("AKIA", "short").is_err());
    }
}
