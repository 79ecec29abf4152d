//! Authorization: whether the caller of a request may perform its action on
//! its bucket or object, decided before the operation runs and before a byte
//! of its body is read.
//!
//! The decision follows S3's: an explicit `Deny` in the bucket policy refuses;
//! otherwise the bucket's owner may do anything; otherwise an `Allow` in the
//! policy, or a grant in the bucket's ACL (or, for reading an object and its
//! ACL, the object's ACL) allows; otherwise the answer is AccessDenied.
//! Anonymous requests pass exactly where a policy or an ACL lets everyone in.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use coffer_engine::{BucketRecord, Engine, EngineError};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::Credentials;
use s3s::path::S3Path;
use s3s::{S3Error, S3Result, s3_error};

use crate::acl::{Acl, Permission};
use crate::auth::{KeyStore, User};
use crate::error::from_engine;
use crate::exchange::{Identified, RequestFacts};
use crate::policy::{Policy, Principal, Request, Verdict};

/// The configuration document kinds authorization reads.
pub const POLICY_CONFIG: &str = "policy";
pub const ACL_CONFIG: &str = "acl";
pub const PUBLIC_ACCESS_BLOCK_CONFIG: &str = "public-access-block";
pub const OWNERSHIP_CONFIG: &str = "ownership";

/// The Object Ownership setting under which ACLs are disabled.
pub const BUCKET_OWNER_ENFORCED: &str = "BucketOwnerEnforced";

/// A bucket's PublicAccessBlock configuration; all off unless set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

/// The address a request came from, in its extensions (`aws:SourceIp`).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// In a request's extensions when it came over TLS (`aws:SecureTransport`).
#[derive(Debug, Clone, Copy)]
pub struct SecureTransport;

/// The canonical id S3 gives anonymous requesters.
const ANONYMOUS_ID: &str = "65a011a29cdf8ec533ec3d1ccaae921c";

/// Decides requests; shared by the s3s access hook and the operations that
/// touch a second bucket (the source of a copy).
pub struct Authorizer {
    engine: Arc<dyn Engine>,
    keys: KeyStore,
}

fn access_denied() -> S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

/// The IAM action of an S3 operation, as bucket policies name it.
fn action(operation: &str) -> String {
    let action = match operation {
        "HeadObject" => "GetObject",
        "HeadBucket" | "ListObjects" | "ListObjectsV2" => "ListBucket",
        "ListObjectVersions" => "ListBucketVersions",
        "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload"
        | "PostObject" => "PutObject",
        "DeleteObjects" => "DeleteObject",
        "ListParts" => "ListMultipartUploadParts",
        "ListMultipartUploads" => "ListBucketMultipartUploads",
        "GetBucketCors" => "GetBucketCORS",
        "PutBucketCors" | "DeleteBucketCors" => "PutBucketCORS",
        // S3 has no action of its own for removing the rules.
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => "PutLifecycleConfiguration",
        "GetBucketLifecycleConfiguration" => "GetLifecycleConfiguration",
        "DeleteBucketPolicy" => "DeleteBucketPolicy",
        "PutObjectLockConfiguration" => "PutBucketObjectLockConfiguration",
        "GetObjectLockConfiguration" => "GetBucketObjectLockConfiguration",
        "PutBucketEncryption" | "DeleteBucketEncryption" => "PutEncryptionConfiguration",
        "GetBucketEncryption" => "GetEncryptionConfiguration",
        // IAM has no action of its own for removing a bucket's tags.
        "DeleteBucketTagging" => "PutBucketTagging",
        other => other,
    };
    format!("s3:{action}")
}

/// The ACL permission an action needs, and whether the object's ACL (rather
/// than the bucket's) is the one that grants it.
fn acl_permission(action: &str) -> Option<(Permission, bool)> {
    Some(match action {
        "s3:GetObject" | "s3:GetObjectAttributes" => (Permission::Read, true),
        "s3:GetObjectAcl" => (Permission::ReadAcp, true),
        "s3:PutObjectAcl" => (Permission::WriteAcp, true),
        "s3:ListBucket" | "s3:ListBucketVersions" | "s3:ListBucketMultipartUploads" => (Permission::Read, false),
        "s3:PutObject" | "s3:DeleteObject" | "s3:AbortMultipartUpload" | "s3:ListMultipartUploadParts" => {
            (Permission::Write, false)
        }
        "s3:GetBucketAcl" => (Permission::ReadAcp, false),
        "s3:PutBucketAcl" => (Permission::WriteAcp, false),
        _ => return None,
    })
}

/// Actions a bucket's owner may always perform, whatever its policy says, so
/// that a policy can never lock its owner out for good.
fn owner_always(action: &str) -> bool {
    matches!(
        action,
        "s3:GetBucketPolicy" | "s3:PutBucketPolicy" | "s3:DeleteBucketPolicy"
    )
}

impl Authorizer {
    pub fn new(engine: Arc<dyn Engine>, keys: KeyStore) -> Authorizer {
        Authorizer { engine, keys }
    }

    /// The user who signed a request; anonymous requests get S3's anonymous
    /// user, so that what they write has an owner.
    pub fn caller(&self, credentials: Option<&Credentials>) -> S3Result<User> {
        match credentials {
            Some(credentials) => self.keys.user(&credentials.access_key).ok_or_else(access_denied),
            None => Ok(User {
                id: ANONYMOUS_ID.to_owned(),
                display_name: "anonymous".to_owned(),
                admin: false,
            }),
        }
    }

    fn principal(&self, credentials: Option<&Credentials>) -> S3Result<Principal> {
        match credentials {
            Some(_) => {
                let user = self.caller(credentials)?;
                Ok(Principal::User {
                    id: user.id,
                    name: user.display_name,
                })
            }
            None => Ok(Principal::Anonymous),
        }
    }

    /// The display name of a canonical user id, for Owner and Grantee elements.
    pub fn display_name(&self, id: &str) -> Option<String> {
        self.keys.user_by_id(id).map(|user| user.display_name)
    }

    /// The bucket's PublicAccessBlock configuration, if set.
    pub async fn public_access_block(&self, bucket: &str) -> S3Result<Option<PublicAccessBlock>> {
        let stored = self
            .engine
            .bucket_config(bucket, PUBLIC_ACCESS_BLOCK_CONFIG)
            .await
            .map_err(from_engine)?;
        stored
            .map(|bytes| serde_json::from_slice(&bytes))
            .transpose()
            .map_err(|e| s3_error!(e, InternalError, "A stored public access block could not be read"))
    }

    /// The bucket's Object Ownership setting, if set.
    pub async fn ownership(&self, bucket: &str) -> S3Result<Option<String>> {
        let stored = self
            .engine
            .bucket_config(bucket, OWNERSHIP_CONFIG)
            .await
            .map_err(from_engine)?;
        Ok(stored.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Refuses an ACL that the bucket's settings forbid: any but the default
    /// when ACLs are disabled (BucketOwnerEnforced), a public one when public
    /// ACLs are blocked.
    pub async fn check_acl_allowed(&self, bucket: &BucketRecord, acl: &Acl) -> S3Result<()> {
        let enforced = self.ownership(&bucket.name).await?.as_deref() == Some(BUCKET_OWNER_ENFORCED);
        if enforced && !acl.grants_only_to(&[&acl.owner, &bucket.owner]) {
            return Err(s3_error!(
                AccessControlListNotSupported,
                "The bucket does not allow ACLs"
            ));
        }
        let blocked = self.public_access_block(&bucket.name).await?.unwrap_or_default();
        if blocked.block_public_acls && acl.is_public() {
            return Err(access_denied());
        }
        Ok(())
    }

    /// The bucket's ACL, or the default: its owner alone.
    pub async fn bucket_acl(&self, bucket: &BucketRecord) -> S3Result<Acl> {
        match self
            .engine
            .bucket_config(&bucket.name, ACL_CONFIG)
            .await
            .map_err(from_engine)?
        {
            Some(bytes) => Acl::decode(&String::from_utf8_lossy(&bytes)),
            None => Ok(Acl::private(&bucket.owner)),
        }
    }

    /// Decides whether the signer of `credentials` may perform `action` on
    /// `bucket`, or on `key` in it. `context` gives the condition keys a
    /// bucket policy can test; it is called only if the bucket has a policy.
    pub async fn authorize(
        &self,
        credentials: Option<&Credentials>,
        bucket: &BucketRecord,
        key: Option<&str>,
        action: &str,
        context: impl FnOnce() -> HashMap<String, String>,
    ) -> S3Result<()> {
        let principal = self.principal(credentials)?;
        let is_owner = matches!(&principal, Principal::User { id, .. } if *id == bucket.owner);
        if is_owner && owner_always(action) {
            return Ok(());
        }
        let resource = match key {
            Some(key) => format!("arn:aws:s3:::{}/{key}", bucket.name),
            None => format!("arn:aws:s3:::{}", bucket.name),
        };
        let policy = match self
            .engine
            .bucket_config(&bucket.name, POLICY_CONFIG)
            .await
            .map_err(from_engine)?
        {
            Some(text) => Some(
                Policy::parse(&text, &bucket.name)
                    .map_err(|e| s3_error!(InternalError, "A stored bucket policy could not be read: {}", e.0))?,
            ),
            None => None,
        };
        let verdict = policy.as_ref().map_or(Verdict::Silent, |policy| {
            policy.evaluate(&Request {
                principal: &principal,
                action,
                resource: &resource,
                context: &context(),
            })
        });
        if verdict == Verdict::Deny {
            return Err(access_denied());
        }
        if is_owner {
            return Ok(());
        }
        let blocked = self.public_access_block(&bucket.name).await?.unwrap_or_default();
        // RestrictPublicBuckets: a public policy grants nobody outside the
        // owner's account.
        let policy_voided = blocked.restrict_public_buckets && policy.as_ref().is_some_and(Policy::is_public);
        if verdict == Verdict::Allow && !policy_voided {
            return Ok(());
        }
        let Some((permission, on_object)) = acl_permission(action) else {
            return Err(access_denied());
        };
        if self.ownership(&bucket.name).await?.as_deref() == Some(BUCKET_OWNER_ENFORCED) {
            return Err(access_denied());
        }
        let acl = match (on_object, key) {
            (true, Some(key)) => match self.engine.object(&bucket.name, key, None).await {
                Ok(object) => match &object.acl {
                    Some(text) => Acl::decode(text)?,
                    None => Acl::private(&object.owner),
                },
                Err(EngineError::NoSuchKey(_)) => return Err(access_denied()),
                Err(err) => return Err(from_engine(err)),
            },
            _ => self.bucket_acl(bucket).await?,
        };
        let acl = if blocked.ignore_public_acls {
            acl.without_public_grants()
        } else {
            acl
        };
        if acl.allows(&principal, permission) {
            Ok(())
        } else {
            Err(access_denied())
        }
    }
}

/// The condition keys a bucket policy can test, for one request.
fn condition_context(cx: &mut S3AccessContext<'_>, caller: Option<&User>) -> HashMap<String, String> {
    let mut context = HashMap::new();
    let mut set = |key: &str, value: String| {
        context.insert(key.to_owned(), value);
    };
    set("aws:currenttime", time::OffsetDateTime::now_utc().to_string());
    match caller {
        Some(user) => {
            set("aws:username", user.display_name.clone());
            set("aws:userid", user.id.clone());
            set("aws:principaltype", "User".to_owned());
        }
        None => set("aws:principaltype", "Anonymous".to_owned()),
    }
    for (header, key) in [
        ("referer", "aws:referer"),
        ("user-agent", "aws:useragent"),
        ("x-amz-acl", "s3:x-amz-acl"),
        ("x-amz-content-sha256", "s3:x-amz-content-sha256"),
        ("x-amz-server-side-encryption", "s3:x-amz-server-side-encryption"),
        ("x-amz-storage-class", "s3:x-amz-storage-class"),
        ("x-amz-metadata-directive", "s3:x-amz-metadata-directive"),
        ("x-amz-copy-source", "s3:x-amz-copy-source"),
    ] {
        if let Some(value) = cx.headers().get(header).and_then(|v| v.to_str().ok()) {
            set(key, value.to_owned());
        }
    }
    for (name, value) in form_urlencoded::parse(cx.uri().query().unwrap_or_default().as_bytes()) {
        if matches!(name.as_ref(), "prefix" | "delimiter" | "max-keys") {
            set(&format!("s3:{name}"), value.into_owned());
        }
    }
    if let Some(PeerAddr(peer)) = cx.extensions_mut().get::<PeerAddr>() {
        set("aws:sourceip", peer.ip().to_string());
    }
    let secure = cx.extensions_mut().get::<SecureTransport>().is_some();
    set("aws:securetransport", secure.to_string());
    context
}

/// The record of the bucket a request was authorized against, left in the
/// request's extensions so that the operation need not read it again.
#[derive(Clone)]
pub struct AuthorizedBucket(pub BucketRecord);

/// The s3s access hook: runs the [`Authorizer`] for every S3 request.
pub struct CofferAccess {
    pub authorizer: Arc<Authorizer>,
}

#[async_trait::async_trait]
impl S3Access for CofferAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let credentials = cx.credentials().cloned();
        let operation = cx.s3_op().name().to_owned();
        // The last hook before s3s reads an XML body whole.
        crate::request_body::refuse_aws_chunked(&operation, cx)?;
        let caller = credentials
            .as_ref()
            .and_then(|c| self.authorizer.keys.user(&c.access_key));
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        // The edge's access log and metrics learn of the request here, the
        // one place s3s tells what it is.
        if let Some(facts) = cx.extensions_mut().get::<RequestFacts>() {
            facts.identify(Identified {
                operation: operation.clone(),
                user: caller
                    .as_ref()
                    .map_or_else(|| "anonymous".to_owned(), |user| user.display_name.clone()),
                bucket: bucket.clone(),
                key: key.clone(),
            });
        }
        let bucket = match bucket {
            Some(bucket) if operation != "CreateBucket" => bucket,
            _ => {
                return if credentials.is_some() {
                    Ok(())
                } else {
                    Err(access_denied())
                };
            }
        };
        let record = match self.authorizer.engine.bucket(&bucket).await {
            Ok(record) => record,
            // The operation answers NoSuchBucket, as S3 does, to anyone.
            Err(EngineError::NoSuchBucket(_)) => return Ok(()),
            Err(err) => return Err(from_engine(err)),
        };
        cx.extensions_mut().insert(AuthorizedBucket(record.clone()));
        self.authorizer
            .authorize(
                credentials.as_ref(),
                &record,
                key.as_deref(),
                &action(&operation),
                || condition_context(cx, caller.as_ref()),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_map_to_the_actions_policies_name() {
        assert_eq!(action("GetObject"), "s3:GetObject");
        assert_eq!(action("HeadObject"), "s3:GetObject");
        assert_eq!(action("ListObjectsV2"), "s3:ListBucket");
        assert_eq!(action("UploadPart"), "s3:PutObject");
        assert_eq!(action("DeleteObjects"), "s3:DeleteObject");
        assert_eq!(action("PutBucketCors"), "s3:PutBucketCORS");
        assert_eq!(action("PutObjectTagging"), "s3:PutObjectTagging");
        assert_eq!(action("GetObjectTagging"), "s3:GetObjectTagging");
        assert_eq!(action("DeleteObjectTagging"), "s3:DeleteObjectTagging");
        assert_eq!(action("PutBucketTagging"), "s3:PutBucketTagging");
        assert_eq!(action("GetBucketTagging"), "s3:GetBucketTagging");
        assert_eq!(action("DeleteBucketTagging"), "s3:PutBucketTagging");
        assert_eq!(action("GetObjectAttributes"), "s3:GetObjectAttributes");
        assert_eq!(acl_permission("s3:GetObjectAttributes"), Some((Permission::Read, true)));
        assert_eq!(acl_permission("s3:GetObjectTagging"), None);
        assert_eq!(
            action("PutBucketLifecycleConfiguration"),
            "s3:PutLifecycleConfiguration"
        );
        assert_eq!(action("DeleteBucketLifecycle"), "s3:PutLifecycleConfiguration");
        assert_eq!(
            action("GetBucketLifecycleConfiguration"),
            "s3:GetLifecycleConfiguration"
        );
        assert_eq!(acl_permission("s3:GetObject"), Some((Permission::Read, true)));
        assert_eq!(acl_permission("s3:PutObject"), Some((Permission::Write, false)));
        assert_eq!(acl_permission("s3:PutBucketPolicy"), None);
    }
}
