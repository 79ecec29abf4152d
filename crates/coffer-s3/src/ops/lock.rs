//! Object lock: a bucket's lock configuration and default retention, the
//! retention and legal hold of object versions, and the lock a new version
//! asks for in its headers. The engine enforces locks on every removal; this
//! file decides what lock each version gets and who may change it.

use coffer_engine::{BucketRecord, COMPLIANCE, GOVERNANCE, LockRecord, ObjectRecord};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::CofferS3;
use super::object::requested_version;
use crate::error::{custom, from_engine};

/// The bucket configuration document holding the default retention.
const LOCK_CONFIG: &str = "object-lock";

/// How long a year of default retention is, as S3 counts it.
const DAYS_PER_YEAR: i64 = 365;

/// A bucket's default retention, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DefaultRetentionDocument {
    mode: String,
    #[serde(default)]
    days: Option<i32>,
    #[serde(default)]
    years: Option<i32>,
}

impl DefaultRetentionDocument {
    fn retain_until(&self, now: OffsetDateTime) -> OffsetDateTime {
        let days = match (self.days, self.years) {
            (Some(days), _) => i64::from(days),
            (None, Some(years)) => i64::from(years) * DAYS_PER_YEAR,
            (None, None) => 0,
        };
        now + Duration::days(days)
    }
}

fn malformed_xml() -> s3s::S3Error {
    s3_error!(
        MalformedXML,
        "The XML you provided was not well-formed or did not validate against our published schema"
    )
}

fn missing_lock_configuration() -> s3s::S3Error {
    s3_error!(InvalidRequest, "Bucket is missing Object Lock Configuration")
}

fn no_object_lock_configuration() -> s3s::S3Error {
    custom(
        "NoSuchObjectLockConfiguration",
        http::StatusCode::NOT_FOUND,
        "The specified object does not have a ObjectLock configuration",
    )
}

/// A retention mode S3 knows, or MalformedXML.
fn retention_mode(mode: &str) -> S3Result<&'static str> {
    match mode {
        GOVERNANCE => Ok(GOVERNANCE),
        COMPLIANCE => Ok(COMPLIANCE),
        _ => Err(malformed_xml()),
    }
}

fn retain_until_in_future(until: OffsetDateTime) -> S3Result<OffsetDateTime> {
    if until <= OffsetDateTime::now_utc() {
        return Err(s3_error!(
            InvalidArgument,
            "The retain until date must be in the future!"
        ));
    }
    Ok(until)
}

/// The three lock headers of a write (PutObject, CopyObject,
/// CreateMultipartUpload), whose inputs are distinct types.
pub(super) struct LockHeaders<'a> {
    pub mode: Option<&'a ObjectLockMode>,
    pub retain_until: Option<&'a Timestamp>,
    pub legal_hold: Option<&'a ObjectLockLegalHoldStatus>,
}

macro_rules! lock_headers {
    ($input:expr) => {
        crate::ops::lock::LockHeaders {
            mode: $input.object_lock_mode.as_ref(),
            retain_until: $input.object_lock_retain_until_date.as_ref(),
            legal_hold: $input.object_lock_legal_hold_status.as_ref(),
        }
    };
}
pub(super) use lock_headers;

/// Whether a new retention only keeps or extends `current`: same mode, same
/// or later date. Anything else changes retention in force, which
/// COMPLIANCE never allows and GOVERNANCE allows only with the bypass.
fn only_extends(current: &LockRecord, mode: Option<&str>, until: Option<OffsetDateTime>) -> bool {
    let later = match (current.retain_until, until) {
        (Some(current), Some(until)) => until >= current,
        (Some(_), None) => false,
        (None, _) => true,
    };
    current.mode.as_deref() == mode && later
}

impl CofferS3 {
    /// The lock a new version of `bucket` gets: the one its headers ask for,
    /// or else the bucket's default retention.
    pub(super) async fn requested_lock(
        &self,
        bucket: &BucketRecord,
        headers: LockHeaders<'_>,
    ) -> S3Result<Option<LockRecord>> {
        let asked = headers.mode.is_some() || headers.retain_until.is_some() || headers.legal_hold.is_some();
        if !bucket.object_lock_enabled {
            return if asked {
                Err(missing_lock_configuration())
            } else {
                Ok(None)
            };
        }
        let (mode, retain_until) = match (headers.mode, headers.retain_until) {
            (Some(mode), Some(until)) => (
                Some(
                    retention_mode(mode.as_str())
                        .map_err(|_| s3_error!(InvalidArgument, "Unknown wormMode directive."))?,
                ),
                Some(retain_until_in_future(OffsetDateTime::from(until.clone()))?),
            ),
            (None, None) => match self.default_retention(&bucket.name).await? {
                Some(default) => (
                    Some(retention_mode(&default.mode)?),
                    Some(default.retain_until(OffsetDateTime::now_utc())),
                ),
                None => (None, None),
            },
            _ => {
                return Err(s3_error!(
                    InvalidArgument,
                    "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
                ));
            }
        };
        let legal_hold = match headers.legal_hold.map(ObjectLockLegalHoldStatus::as_str) {
            None | Some(ObjectLockLegalHoldStatus::OFF) => false,
            Some(ObjectLockLegalHoldStatus::ON) => true,
            Some(_) => return Err(s3_error!(InvalidArgument, "Legal Hold must be either of 'ON' or 'OFF'")),
        };
        if mode.is_none() && !legal_hold {
            return Ok(None);
        }
        Ok(Some(LockRecord {
            mode: mode.map(str::to_owned),
            retain_until,
            legal_hold,
        }))
    }

    async fn default_retention(&self, bucket: &str) -> S3Result<Option<DefaultRetentionDocument>> {
        let document = self
            .engine
            .bucket_config(bucket, LOCK_CONFIG)
            .await
            .map_err(from_engine)?;
        document
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|err| {
                    tracing::error!(%err, bucket, "unreadable default retention");
                    s3_error!(InternalError, "We encountered an internal error. Please try again.")
                })
            })
            .transpose()
    }

    pub(super) async fn do_put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let configuration = req.input.object_lock_configuration.as_ref().ok_or_else(malformed_xml)?;
        if configuration
            .object_lock_enabled
            .as_ref()
            .map(ObjectLockEnabled::as_str)
            != Some(ObjectLockEnabled::ENABLED)
        {
            return Err(malformed_xml());
        }
        let default = match configuration.rule.as_ref() {
            None => None,
            Some(rule) => {
                let retention = rule.default_retention.as_ref().ok_or_else(malformed_xml)?;
                let mode = retention_mode(retention.mode.as_ref().ok_or_else(malformed_xml)?.as_str())?;
                if retention.days.is_some() == retention.years.is_some() {
                    return Err(malformed_xml());
                }
                if retention.days.or(retention.years).is_some_and(|period| period <= 0) {
                    return Err(s3_error!(
                        InvalidArgument,
                        "Default retention period must be a positive integer value."
                    ));
                }
                Some(DefaultRetentionDocument {
                    mode: mode.to_owned(),
                    days: retention.days,
                    years: retention.years,
                })
            }
        };
        if !bucket.object_lock_enabled {
            // S3 lets a versioned bucket turn object lock on, never off.
            self.engine
                .update_bucket(
                    &bucket.name,
                    Box::new(|bucket| {
                        if !bucket.versioning_enabled() {
                            return Err(Box::new(s3_error!(
                                InvalidBucketState,
                                "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
                            )));
                        }
                        bucket.object_lock_enabled = true;
                        Ok(())
                    }),
                )
                .await
                .map_err(from_engine)?;
        }
        let document = default
            .map(|default| serde_json::to_vec(&default))
            .transpose()
            .map_err(|err| s3_error!(InternalError, "{err}"))?;
        self.set_bucket_config(&bucket.name, LOCK_CONFIG, document).await?;
        Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
    }

    pub(super) async fn do_get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        if !bucket.object_lock_enabled {
            return Err(custom(
                "ObjectLockConfigurationNotFoundError",
                http::StatusCode::NOT_FOUND,
                "Object Lock configuration does not exist for this bucket",
            ));
        }
        let rule = self
            .default_retention(&bucket.name)
            .await?
            .map(|default| ObjectLockRule {
                default_retention: Some(DefaultRetention {
                    days: default.days,
                    mode: Some(ObjectLockRetentionMode::from(default.mode)),
                    years: default.years,
                }),
            });
        Ok(S3Response::new(GetObjectLockConfigurationOutput {
            object_lock_configuration: Some(ObjectLockConfiguration {
                object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)),
                rule,
            }),
        }))
    }

    pub(super) async fn do_put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        if !bucket.object_lock_enabled {
            return Err(missing_lock_configuration());
        }
        let input = &req.input;
        let retention = input.retention.clone().unwrap_or_default();
        let mode = retention
            .mode
            .as_ref()
            .map(|mode| retention_mode(mode.as_str()))
            .transpose()?;
        let until = retention
            .retain_until_date
            .map(|until| retain_until_in_future(OffsetDateTime::from(until)))
            .transpose()?;
        if mode.is_some() != until.is_some() {
            return Err(malformed_xml());
        }
        let bypass_governance = self
            .may_bypass_governance(&req, &bucket, &input.key, input.bypass_governance_retention)
            .await;
        self.engine
            .update_object(
                &bucket.name,
                &input.key,
                requested_version(input.version_id.as_deref()),
                Box::new(move |object| {
                    let lock = object.lock.get_or_insert_with(LockRecord::default);
                    let in_force = lock
                        .retain_until
                        .is_some_and(|current| current > OffsetDateTime::now_utc());
                    let overridable = lock.mode.as_deref() == Some(GOVERNANCE) && bypass_governance;
                    if in_force && !only_extends(lock, mode, until) && !overridable {
                        return Err(Box::new(s3_error!(
                            AccessDenied,
                            "Access Denied because object protected by object lock."
                        )));
                    }
                    lock.mode = mode.map(str::to_owned);
                    lock.retain_until = until;
                    if *lock == LockRecord::default() {
                        object.lock = None;
                    }
                    Ok(())
                }),
            )
            .await
            .map_err(from_engine)?;
        Ok(S3Response::new(PutObjectRetentionOutput::default()))
    }

    pub(super) async fn do_get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        let object = self
            .locked_object(&req, &req.input.bucket, &req.input.key, req.input.version_id.as_deref())
            .await?;
        let lock = object
            .lock
            .filter(|lock| lock.mode.is_some())
            .ok_or_else(no_object_lock_configuration)?;
        Ok(S3Response::new(GetObjectRetentionOutput {
            retention: Some(ObjectLockRetention {
                mode: lock.mode.map(ObjectLockRetentionMode::from),
                retain_until_date: lock.retain_until.map(Timestamp::from),
            }),
        }))
    }

    pub(super) async fn do_put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        if !bucket.object_lock_enabled {
            return Err(missing_lock_configuration());
        }
        let input = &req.input;
        let status = input.legal_hold.as_ref().and_then(|hold| hold.status.as_ref());
        let on = match status.map(ObjectLockLegalHoldStatus::as_str) {
            Some(ObjectLockLegalHoldStatus::ON) => true,
            Some(ObjectLockLegalHoldStatus::OFF) => false,
            _ => return Err(malformed_xml()),
        };
        self.engine
            .update_object(
                &bucket.name,
                &input.key,
                requested_version(input.version_id.as_deref()),
                Box::new(move |object| {
                    object.lock.get_or_insert_with(LockRecord::default).legal_hold = on;
                    Ok(())
                }),
            )
            .await
            .map_err(from_engine)?;
        Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
    }

    pub(super) async fn do_get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        let object = self
            .locked_object(&req, &req.input.bucket, &req.input.key, req.input.version_id.as_deref())
            .await?;
        let lock = object.lock.ok_or_else(no_object_lock_configuration)?;
        let status = if lock.legal_hold {
            ObjectLockLegalHoldStatus::ON
        } else {
            ObjectLockLegalHoldStatus::OFF
        };
        Ok(S3Response::new(GetObjectLegalHoldOutput {
            legal_hold: Some(ObjectLockLegalHold {
                status: Some(ObjectLockLegalHoldStatus::from_static(status)),
            }),
        }))
    }

    /// The version whose lock a request reads, in a bucket with object lock.
    async fn locked_object<T>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> S3Result<ObjectRecord> {
        let bucket = self.target_bucket(req, bucket).await?;
        if !bucket.object_lock_enabled {
            return Err(missing_lock_configuration());
        }
        self.engine
            .object(&bucket.name, key, requested_version(version_id))
            .await
            .map_err(from_engine)
    }
}
