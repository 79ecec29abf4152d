//! Access control lists, for compatibility with clients that use them:
//! canned ACLs, `x-amz-grant-*` headers and the AccessControlPolicy XML, and
//! what a list grants to whom.
//!
//! A bucket's ACL is kept in its `acl` configuration document, an object's in
//! its record, both as JSON of [`Acl`]. Where none is stored, the owner alone
//! has full control, as S3's `private` default.

use http::HeaderMap;
use s3s::dto;
use s3s::{S3Result, s3_error};
use serde::{Deserialize, Serialize};

use crate::policy::Principal;

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

/// What a grant allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    Read,
    Write,
    ReadAcp,
    WriteAcp,
    FullControl,
}

impl Permission {
    fn parse(name: &str) -> S3Result<Permission> {
        Ok(match name {
            "READ" => Permission::Read,
            "WRITE" => Permission::Write,
            "READ_ACP" => Permission::ReadAcp,
            "WRITE_ACP" => Permission::WriteAcp,
            "FULL_CONTROL" => Permission::FullControl,
            other => return Err(s3_error!(MalformedACLError, "Unknown permission {other}")),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
            Permission::FullControl => "FULL_CONTROL",
        }
    }

    fn covers(self, wanted: Permission) -> bool {
        self == wanted || self == Permission::FullControl
    }
}

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grantee {
    /// A user, by canonical id.
    User(String),
    /// A predefined group, by its URI.
    Group(String),
}

impl Grantee {
    fn group(uri: &str) -> S3Result<Grantee> {
        if [ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY].contains(&uri) {
            Ok(Grantee::Group(uri.to_owned()))
        } else {
            Err(s3_error!(InvalidArgument, "Invalid group uri"))
        }
    }

    fn includes(&self, principal: &Principal) -> bool {
        match (self, principal) {
            (Grantee::Group(uri), _) if uri == ALL_USERS => true,
            (Grantee::Group(uri), Principal::User { .. }) => uri == AUTHENTICATED_USERS,
            (Grantee::User(grantee), Principal::User { id, .. }) => grantee == id,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

/// An access control list: its owner and grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    /// The canonical id of the resource's owner.
    pub owner: String,
    pub grants: Vec<Grant>,
}

impl Acl {
    /// The default: the owner has full control, nobody else anything.
    pub fn private(owner: &str) -> Acl {
        Acl {
            owner: owner.to_owned(),
            grants: vec![Grant {
                grantee: Grantee::User(owner.to_owned()),
                permission: Permission::FullControl,
            }],
        }
    }

    /// A canned ACL. `bucket_owner` is the owner of the bucket an object is
    /// in (for `bucket-owner-*`); for buckets it is the owner itself.
    pub fn canned(name: &str, owner: &str, bucket_owner: &str) -> S3Result<Acl> {
        let mut acl = Acl::private(owner);
        let mut grant = |grantee: Grantee, permission| acl.grants.push(Grant { grantee, permission });
        match name {
            "private" => {}
            "public-read" => grant(Grantee::Group(ALL_USERS.into()), Permission::Read),
            "public-read-write" => {
                grant(Grantee::Group(ALL_USERS.into()), Permission::Read);
                grant(Grantee::Group(ALL_USERS.into()), Permission::Write);
            }
            "authenticated-read" => grant(Grantee::Group(AUTHENTICATED_USERS.into()), Permission::Read),
            "bucket-owner-read" if bucket_owner != owner => grant(Grantee::User(bucket_owner.into()), Permission::Read),
            "bucket-owner-full-control" if bucket_owner != owner => {
                grant(Grantee::User(bucket_owner.into()), Permission::FullControl);
            }
            "bucket-owner-read" | "bucket-owner-full-control" | "aws-exec-read" => {}
            "log-delivery-write" => {
                grant(Grantee::Group(LOG_DELIVERY.into()), Permission::Write);
                grant(Grantee::Group(LOG_DELIVERY.into()), Permission::ReadAcp);
            }
            other => return Err(s3_error!(InvalidArgument, "Unknown canned ACL {other}")),
        }
        Ok(acl)
    }

    /// The ACL a write asks for through `x-amz-acl` or `x-amz-grant-*`
    /// headers; `None` if it asks for none. Both at once is an error.
    pub fn from_headers(headers: &HeaderMap, owner: &str, bucket_owner: &str) -> S3Result<Option<Acl>> {
        let canned = headers.get("x-amz-acl").and_then(|value| value.to_str().ok());
        let grant_headers = [
            ("x-amz-grant-read", Permission::Read),
            ("x-amz-grant-write", Permission::Write),
            ("x-amz-grant-read-acp", Permission::ReadAcp),
            ("x-amz-grant-write-acp", Permission::WriteAcp),
            ("x-amz-grant-full-control", Permission::FullControl),
        ];
        let mut grants = Vec::new();
        for (header, permission) in grant_headers {
            if let Some(value) = headers.get(header) {
                let value = value
                    .to_str()
                    .map_err(|_| s3_error!(InvalidArgument, "Invalid {header} header"))?;
                for grantee in value.split(',').map(str::trim).filter(|g| !g.is_empty()) {
                    grants.push(Grant {
                        grantee: parse_grantee_header(grantee)?,
                        permission,
                    });
                }
            }
        }
        match (canned, grants.is_empty()) {
            (Some(_), false) => Err(s3_error!(
                InvalidRequest,
                "Specifying both Canned ACLs and Header Grants is not allowed"
            )),
            (Some(name), true) => Acl::canned(name, owner, bucket_owner).map(Some),
            (None, false) => Ok(Some(Acl {
                owner: owner.to_owned(),
                grants,
            })),
            (None, true) => Ok(None),
        }
    }

    /// An ACL from a PutBucketAcl / PutObjectAcl XML body.
    pub fn from_policy(policy: &dto::AccessControlPolicy, owner: &str) -> S3Result<Acl> {
        let mut grants = Vec::new();
        for grant in policy.grants.iter().flatten() {
            let grantee = grant
                .grantee
                .as_ref()
                .ok_or_else(|| s3_error!(MalformedACLError, "A grant has no grantee"))?;
            let permission = grant
                .permission
                .as_ref()
                .ok_or_else(|| s3_error!(MalformedACLError, "A grant has no permission"))?;
            let grantee = match grantee.type_.as_str() {
                dto::Type::CANONICAL_USER => Grantee::User(
                    grantee
                        .id
                        .clone()
                        .ok_or_else(|| s3_error!(MalformedACLError, "A CanonicalUser grantee has no ID"))?,
                ),
                dto::Type::GROUP => Grantee::group(grantee.uri.as_deref().unwrap_or_default())?,
                _ => return Err(unresolvable_email()),
            };
            grants.push(Grant {
                grantee,
                permission: Permission::parse(permission.as_str())?,
            });
        }
        Ok(Acl {
            owner: owner.to_owned(),
            grants,
        })
    }

    /// The ACL as GetBucketAcl / GetObjectAcl answer it.
    pub fn to_output(&self, display_name: impl Fn(&str) -> Option<String>) -> (dto::Owner, Vec<dto::Grant>) {
        let owner = dto::Owner {
            id: Some(self.owner.clone()),
            display_name: display_name(&self.owner),
        };
        let grants = self
            .grants
            .iter()
            .map(|grant| dto::Grant {
                grantee: Some(match &grant.grantee {
                    Grantee::User(id) => dto::Grantee {
                        type_: dto::Type::from_static(dto::Type::CANONICAL_USER),
                        id: Some(id.clone()),
                        display_name: display_name(id),
                        uri: None,
                        email_address: None,
                    },
                    Grantee::Group(uri) => dto::Grantee {
                        type_: dto::Type::from_static(dto::Type::GROUP),
                        uri: Some(uri.clone()),
                        id: None,
                        display_name: None,
                        email_address: None,
                    },
                }),
                permission: Some(dto::Permission::from(grant.permission.name().to_owned())),
            })
            .collect();
        (owner, grants)
    }

    /// Whether the list grants `permission` to `principal`.
    pub fn allows(&self, principal: &Principal, permission: Permission) -> bool {
        self.grants
            .iter()
            .any(|grant| grant.permission.covers(permission) && grant.grantee.includes(principal))
    }

    /// Whether the list grants anything to everyone or every signed-in user.
    pub fn is_public(&self) -> bool {
        self.grants.iter().any(
            |grant| matches!(&grant.grantee, Grantee::Group(uri) if uri == ALL_USERS || uri == AUTHENTICATED_USERS),
        )
    }

    /// Whether every grant is to one of the users `ids` (the ACLs a bucket
    /// with ACLs disabled still accepts: `private`, `bucket-owner-full-control`).
    pub fn grants_only_to(&self, ids: &[&str]) -> bool {
        self.grants
            .iter()
            .all(|grant| matches!(&grant.grantee, Grantee::User(id) if ids.contains(&id.as_str())))
    }

    /// The list without its grants to everyone and to every signed-in user
    /// (what IgnorePublicAcls evaluates).
    pub fn without_public_grants(&self) -> Acl {
        Acl {
            owner: self.owner.clone(),
            grants: self
                .grants
                .iter()
                .filter(|grant| !matches!(&grant.grantee, Grantee::Group(uri) if uri == ALL_USERS || uri == AUTHENTICATED_USERS))
                .cloned()
                .collect(),
        }
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("an ACL always serializes")
    }

    pub fn decode(text: &str) -> S3Result<Acl> {
        serde_json::from_str(text).map_err(|e| s3_error!(e, InternalError, "A stored ACL could not be read"))
    }
}

fn unresolvable_email() -> s3s::S3Error {
    s3_error!(
        UnresolvableGrantByEmailAddress,
        "The e-mail address you provided does not match any account on record."
    )
}

/// One grantee of an `x-amz-grant-*` header: `id="…"`, `uri="…"` or
/// `emailAddress="…"`.
fn parse_grantee_header(text: &str) -> S3Result<Grantee> {
    let (kind, value) = text
        .split_once('=')
        .ok_or_else(|| s3_error!(InvalidArgument, "Invalid grantee {text}"))?;
    let value = value.trim().trim_matches('"');
    match kind.trim() {
        "id" => Ok(Grantee::User(value.to_owned())),
        "uri" => Grantee::group(value),
        "emailAddress" => Err(unresolvable_email()),
        _ => Err(s3_error!(InvalidArgument, "Invalid grantee {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> Principal {
        Principal::User {
            id: id.into(),
            name: id.into(),
        }
    }

    #[test]
    fn canned_acls_grant_what_s3_grants() {
        let public = Acl::canned("public-read", "owner", "owner").unwrap();
        assert!(public.allows(&Principal::Anonymous, Permission::Read));
        assert!(!public.allows(&Principal::Anonymous, Permission::Write));
        assert!(public.allows(&user("owner"), Permission::WriteAcp));
        let authenticated = Acl::canned("authenticated-read", "owner", "owner").unwrap();
        assert!(!authenticated.allows(&Principal::Anonymous, Permission::Read));
        assert!(authenticated.allows(&user("someone"), Permission::Read));
        let writable = Acl::canned("public-read-write", "owner", "owner").unwrap();
        assert!(writable.allows(&Principal::Anonymous, Permission::Write));
        let for_bucket_owner = Acl::canned("bucket-owner-full-control", "writer", "bucket-owner").unwrap();
        assert!(for_bucket_owner.allows(&user("bucket-owner"), Permission::ReadAcp));
        assert!(!Acl::private("owner").is_public());
        assert!(Acl::canned("nonsense", "o", "o").is_err());
    }

    #[test]
    fn grant_headers_are_parsed_and_exclusive_with_canned_acls() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-grant-read",
            format!("id=\"alice-id\", uri=\"{ALL_USERS}\"").parse().unwrap(),
        );
        headers.insert("x-amz-grant-write-acp", "id=bob-id".parse().unwrap());
        let acl = Acl::from_headers(&headers, "owner", "owner").unwrap().unwrap();
        assert_eq!(acl.grants.len(), 3);
        assert!(acl.allows(&Principal::Anonymous, Permission::Read));
        assert!(acl.allows(&user("bob-id"), Permission::WriteAcp));
        assert!(
            !acl.allows(&user("owner"), Permission::Write),
            "explicit grants replace the default"
        );
        headers.insert("x-amz-acl", "private".parse().unwrap());
        assert!(Acl::from_headers(&headers, "owner", "owner").is_err());
        let mut email = HeaderMap::new();
        email.insert("x-amz-grant-read", "emailAddress=\"a@b.c\"".parse().unwrap());
        let err = Acl::from_headers(&email, "owner", "owner").unwrap_err();
        assert_eq!(err.code().as_str(), "UnresolvableGrantByEmailAddress");
        assert_eq!(Acl::from_headers(&HeaderMap::new(), "o", "o").unwrap(), None);
    }

    #[test]
    fn acls_survive_their_encoding() {
        let acl = Acl::canned("public-read-write", "owner", "owner").unwrap();
        assert_eq!(Acl::decode(&acl.encode()).unwrap(), acl);
    }
}
