//! The S3 lifecycle rule language: a bucket's lifecycle rules as stored (the
//! bucket's `lifecycle` configuration document, JSON), their validation and
//! conversion from and back to s3s's `BucketLifecycleConfiguration` as Amazon S3
//! answers PutBucketLifecycleConfiguration and GetBucketLifecycleConfiguration,
//! and what the rules ask of one object version or one multipart upload at a
//! given moment. It is pure: it does no I/O and reads no clock (callers pass
//! `now`), so the request handlers and the expiry worker decide what to read and
//! what to change. It may call s3s's DTOs and errors, serde and `time`, and
//! names nothing of the engine but [`EngineError`] for an unreadable document.
//!
//! Transitions are refused (NotImplemented): Coffer keeps every object in one
//! storage class, and a stored transition that never happens would tell a
//! client something false.

use std::collections::{BTreeMap, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use coffer_engine::EngineError;
use s3s::dto::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleAndOperator, LifecycleRuleFilter, Timestamp,
};
use s3s::{S3Error, S3Result, s3_error};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, Time, UtcOffset};

/// The kind under which the rules are kept with `Engine::put_bucket_config`.
pub const CONFIG_KIND: &str = "lifecycle";

/// Amazon S3's limit, which it does not raise on request.
const RULES_MAX: usize = 1000;
const ID_CHARS_MAX: usize = 255;
const NEWER_NONCURRENT_VERSIONS_MAX: u32 = 100;
/// The bound S3 names when it refuses a size filter.
const OBJECT_SIZE_MAX: u64 = 1_099_511_627_776_000;
const MALFORMED_XML: &str = "The XML you provided was not well-formed or did not validate against our published schema";

/// The stored document: a bucket's lifecycle rules, in the order they were put.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Lifecycle {
    pub rules: Vec<Rule>,
}

/// One lifecycle rule, after validation. Every rule has an ID: S3 makes one up
/// for a rule put without one, and GetBucketLifecycleConfiguration shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Rule {
    #[serde(rename = "ID")]
    pub id: String,
    pub status: Status,
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Expiration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_version_expiration: Option<NoncurrentVersionExpiration>,
    /// `AbortIncompleteMultipartUpload`'s `DaysAfterInitiation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_incomplete_multipart_upload_days: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Enabled,
    Disabled,
}

/// Which objects a rule applies to, kept in the form it was put in so that
/// GetBucketLifecycleConfiguration answers what was sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Scope {
    /// The rule-level `<Prefix>` of the original lifecycle language, which S3
    /// still accepts in place of a `<Filter>`.
    Prefix(String),
    Filter(Filter),
}

/// A `<Filter>`: S3 allows at most one predicate directly inside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Filter {
    /// An empty `<Filter/>`: every object.
    All,
    Prefix(String),
    Tag(Tag),
    ObjectSizeGreaterThan(u64),
    ObjectSizeLessThan(u64),
    And(And),
}

/// An `<And>` of two or more predicates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct And {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_size_greater_than: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_size_less_than: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    /// S3's user guide lets a filter's tag leave `<Value>` out; such a tag
    /// matches objects whose tag has that key and an empty value. `None` is
    /// kept apart from `Some("")` only to answer GET as it was put.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// An `<Expiration>`: exactly one of its three elements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Expiration {
    Days(u32),
    /// Always midnight UTC.
    Date(#[serde(with = "time::serde::rfc3339")] OffsetDateTime),
    ExpiredObjectDeleteMarker(bool),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NoncurrentVersionExpiration {
    pub noncurrent_days: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_noncurrent_versions: Option<u32>,
}

/// What the caller knows of one version of a key when it asks what the rules
/// want done with it.
#[derive(Debug, Clone, Copy)]
pub struct VersionFacts<'a> {
    pub key: &'a str,
    /// A delete marker's size is 0, as S3's filters see it.
    pub size: u64,
    pub tags: &'a BTreeMap<String, String>,
    pub last_modified: OffsetDateTime,
    /// The current version of its key (the only one, in an unversioned bucket).
    pub is_latest: bool,
    pub is_delete_marker: bool,
    /// When the version became noncurrent: the last-modified time of the next
    /// newer version of the key. `None` for the current version.
    pub noncurrent_since: Option<OffsetDateTime>,
    /// How many noncurrent versions of the key are newer than this one. S3
    /// does not count noncurrent delete markers among the versions that
    /// `NewerNoncurrentVersions` retains.
    pub newer_noncurrent_versions: usize,
    /// For a delete marker: no other version of its key remains.
    pub only_version: bool,
}

/// What a rule asks to be done with a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The current version expires. An unversioned bucket deletes it; a
    /// versioned one adds a delete marker in front of it (a suspended one a
    /// `null` marker, which replaces a `null` version). The bucket's
    /// versioning state decides which, so the caller does.
    Expire,
    /// Permanently remove this noncurrent version.
    DeleteVersion,
    /// Permanently remove this delete marker: it is the current and only
    /// version of its key.
    RemoveExpiredDeleteMarker,
}

impl Lifecycle {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a lifecycle configuration serializes")
    }

    pub fn decode(document: &[u8]) -> Result<Lifecycle, EngineError> {
        serde_json::from_slice(document)
            .map_err(|err| EngineError::Internal(format!("stored lifecycle configuration is unreadable: {err}")))
    }

    /// Checks a PutBucketLifecycleConfiguration document as Amazon S3 does and
    /// converts it to the stored form, giving each rule without an ID a new
    /// one. Transitions, which S3 would accept, are refused last, so that any
    /// fault S3 itself would report is reported first, with S3's code.
    pub fn from_dto(config: &BucketLifecycleConfiguration) -> S3Result<Lifecycle> {
        // s3s refuses a document without rules as MalformedXML before any
        // operation runs; an empty list built otherwise gets the same answer.
        let Some(first) = config.rules.first() else {
            return Err(malformed());
        };
        if config.rules.len() > RULES_MAX {
            return Err(s3_error!(
                InvalidRequest,
                "The number of lifecycle rules must not exceed the allowed limit of {RULES_MAX} rules."
            ));
        }
        // S3 reads the whole configuration in the form of its first rule: the
        // original language (rule-level prefixes) or the one with filters.
        let filters = first.filter.is_some();
        let mut rules = Vec::with_capacity(config.rules.len());
        let mut transitions = false;
        for rule in &config.rules {
            let (valid, has_transitions) = validate_rule(rule, filters)?;
            rules.push(valid);
            transitions |= has_transitions;
        }
        let mut ids = HashSet::new();
        if rules
            .iter()
            .any(|rule| !rule.id.is_empty() && !ids.insert(rule.id.as_str()))
        {
            return Err(s3_error!(
                InvalidArgument,
                "Rule ID must be unique. Found same ID for more than one rule"
            ));
        }
        if transitions {
            return Err(s3_error!(
                NotImplemented,
                "Lifecycle transitions are not implemented: Coffer keeps every object in the STANDARD storage class"
            ));
        }
        for rule in &mut rules {
            if rule.id.is_empty() {
                rule.id = generated_id();
            }
        }
        Ok(Lifecycle { rules })
    }

    /// The document GetBucketLifecycleConfiguration answers: what was put,
    /// with the IDs given to rules put without one.
    pub fn to_dto(&self) -> BucketLifecycleConfiguration {
        BucketLifecycleConfiguration {
            rules: self.rules.iter().map(Rule::to_dto).collect(),
        }
    }

    /// What the rules want done with `version` at `now`, if anything. Each
    /// kind of version can meet only one kind of action (a current version
    /// expires, a noncurrent one is deleted, a lone current delete marker is
    /// removed), so the first enabled rule that has fallen due decides.
    pub fn object_action(&self, version: &VersionFacts, now: OffsetDateTime) -> Option<Action> {
        self.rules.iter().find_map(|rule| rule.object_action(version, now))
    }

    /// Whether an enabled rule aborts the multipart upload of `key` begun at
    /// `initiated`, at `now`.
    pub fn upload_action(&self, key: &str, initiated: OffsetDateTime, now: OffsetDateTime) -> bool {
        self.rules.iter().any(|rule| {
            rule.status == Status::Enabled
                && rule.scope.matches_key(key)
                && rule
                    .abort_incomplete_multipart_upload_days
                    .is_some_and(|days| fallen_due(initiated, days, now))
        })
    }
}

impl Rule {
    fn object_action(&self, version: &VersionFacts, now: OffsetDateTime) -> Option<Action> {
        if self.status != Status::Enabled || !self.scope.matches(version) {
            return None;
        }
        if !version.is_latest {
            let expiration = self.noncurrent_version_expiration.as_ref()?;
            let since = version.noncurrent_since?;
            let retained = expiration
                .newer_noncurrent_versions
                .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
            return (version.newer_noncurrent_versions >= retained
                && fallen_due(since, expiration.noncurrent_days, now))
            .then_some(Action::DeleteVersion);
        }
        let expiration = self.expiration.as_ref()?;
        if version.is_delete_marker {
            // S3 acts on a current delete marker only once no other version
            // remains. Expiration by Days then removes it once it is as old as
            // the rule asks; by Date it does nothing.
            if !version.only_version {
                return None;
            }
            return match *expiration {
                Expiration::ExpiredObjectDeleteMarker(true) => Some(Action::RemoveExpiredDeleteMarker),
                Expiration::Days(days) if fallen_due(version.last_modified, days, now) => {
                    Some(Action::RemoveExpiredDeleteMarker)
                }
                _ => None,
            };
        }
        let due = match *expiration {
            Expiration::Days(days) => fallen_due(version.last_modified, days, now),
            Expiration::Date(date) => now >= date,
            Expiration::ExpiredObjectDeleteMarker(_) => false,
        };
        due.then_some(Action::Expire)
    }

    fn to_dto(&self) -> LifecycleRule {
        let (filter, prefix) = match &self.scope {
            Scope::Prefix(prefix) => (None, Some(prefix.clone())),
            Scope::Filter(filter) => (Some(filter.to_dto()), None),
        };
        LifecycleRule {
            abort_incomplete_multipart_upload: self.abort_incomplete_multipart_upload_days.map(|days| {
                AbortIncompleteMultipartUpload {
                    days_after_initiation: Some(to_i32(days)),
                }
            }),
            expiration: self.expiration.as_ref().map(Expiration::to_dto),
            filter,
            id: Some(self.id.clone()),
            noncurrent_version_expiration: self.noncurrent_version_expiration.as_ref().map(|expiration| {
                s3s::dto::NoncurrentVersionExpiration {
                    newer_noncurrent_versions: expiration.newer_noncurrent_versions.map(to_i32),
                    noncurrent_days: Some(to_i32(expiration.noncurrent_days)),
                }
            }),
            noncurrent_version_transitions: None,
            prefix,
            status: ExpirationStatus::from_static(match self.status {
                Status::Enabled => ExpirationStatus::ENABLED,
                Status::Disabled => ExpirationStatus::DISABLED,
            }),
            transitions: None,
        }
    }
}

impl Scope {
    fn matches(&self, version: &VersionFacts) -> bool {
        match self {
            Scope::Prefix(prefix) => version.key.starts_with(prefix.as_str()),
            Scope::Filter(filter) => filter.matches(version),
        }
    }

    /// Whether the scope takes in `key` by its prefix alone, as the abort of
    /// uploads needs: an upload has neither tags nor a size yet. Validation
    /// keeps tag and size filters away from that action, so a filter that
    /// names them never takes an upload in.
    fn matches_key(&self, key: &str) -> bool {
        match self {
            Scope::Prefix(prefix) | Scope::Filter(Filter::Prefix(prefix)) => key.starts_with(prefix.as_str()),
            Scope::Filter(Filter::All) => true,
            Scope::Filter(Filter::And(and)) if and.tags.is_empty() && !and.has_size() => {
                and.prefix.as_deref().is_none_or(|prefix| key.starts_with(prefix))
            }
            Scope::Filter(_) => false,
        }
    }

    fn has_tags(&self) -> bool {
        match self {
            Scope::Filter(Filter::Tag(_)) => true,
            Scope::Filter(Filter::And(and)) => !and.tags.is_empty(),
            _ => false,
        }
    }

    fn has_size(&self) -> bool {
        match self {
            Scope::Filter(Filter::ObjectSizeGreaterThan(_) | Filter::ObjectSizeLessThan(_)) => true,
            Scope::Filter(Filter::And(and)) => and.has_size(),
            _ => false,
        }
    }
}

impl Filter {
    fn matches(&self, version: &VersionFacts) -> bool {
        match self {
            Filter::All => true,
            Filter::Prefix(prefix) => version.key.starts_with(prefix.as_str()),
            Filter::Tag(tag) => tag.matches(version.tags),
            Filter::ObjectSizeGreaterThan(bound) => version.size > *bound,
            Filter::ObjectSizeLessThan(bound) => version.size < *bound,
            Filter::And(and) => {
                and.prefix
                    .as_deref()
                    .is_none_or(|prefix| version.key.starts_with(prefix))
                    && and.tags.iter().all(|tag| tag.matches(version.tags))
                    && and.object_size_greater_than.is_none_or(|bound| version.size > bound)
                    && and.object_size_less_than.is_none_or(|bound| version.size < bound)
            }
        }
    }

    fn to_dto(&self) -> LifecycleRuleFilter {
        let mut dto = LifecycleRuleFilter::default();
        match self {
            Filter::All => {}
            Filter::Prefix(prefix) => dto.prefix = Some(prefix.clone()),
            Filter::Tag(tag) => dto.tag = Some(tag.to_dto()),
            Filter::ObjectSizeGreaterThan(bound) => dto.object_size_greater_than = Some(to_i64(*bound)),
            Filter::ObjectSizeLessThan(bound) => dto.object_size_less_than = Some(to_i64(*bound)),
            Filter::And(and) => {
                dto.and = Some(LifecycleRuleAndOperator {
                    object_size_greater_than: and.object_size_greater_than.map(to_i64),
                    object_size_less_than: and.object_size_less_than.map(to_i64),
                    prefix: and.prefix.clone(),
                    tags: (!and.tags.is_empty()).then(|| and.tags.iter().map(Tag::to_dto).collect()),
                });
            }
        }
        dto
    }
}

impl And {
    fn has_size(&self) -> bool {
        self.object_size_greater_than.is_some() || self.object_size_less_than.is_some()
    }
}

impl Tag {
    fn matches(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.get(&self.key).map(String::as_str) == Some(self.value.as_deref().unwrap_or(""))
    }

    fn to_dto(&self) -> s3s::dto::Tag {
        s3s::dto::Tag {
            key: Some(self.key.clone()),
            value: self.value.clone(),
        }
    }
}

impl Expiration {
    fn to_dto(&self) -> LifecycleExpiration {
        let mut dto = LifecycleExpiration::default();
        match *self {
            Expiration::Days(days) => dto.days = Some(to_i32(days)),
            Expiration::Date(date) => dto.date = Some(Timestamp::from(date)),
            Expiration::ExpiredObjectDeleteMarker(remove) => dto.expired_object_delete_marker = Some(remove),
        }
        dto
    }
}

/// Whether an action counted in days from `start` has fallen due at `now`.
/// S3 adds the days to the start and rounds "to the next day's midnight UTC":
/// 10:30 on the 15th plus 3 days falls due at 00:00 on the 19th. S3 does not
/// say how a sum already at midnight rounds; like MinIO, Coffer takes the
/// midnight that begins the following day. A due date past the range of
/// `time` never falls due.
fn fallen_due(start: OffsetDateTime, days: u32, now: OffsetDateTime) -> bool {
    start
        .to_offset(UtcOffset::UTC)
        .checked_add(Duration::days(i64::from(days) + 1))
        .is_some_and(|later| now >= later.replace_time(Time::MIDNIGHT))
}

/// Checks one rule; `filters` tells whether the configuration is in the
/// language with filters. Also says whether the rule has transitions.
fn validate_rule(rule: &LifecycleRule, filters: bool) -> S3Result<(Rule, bool)> {
    let id = rule.id.clone().unwrap_or_default();
    if id.chars().count() > ID_CHARS_MAX {
        return Err(s3_error!(
            InvalidArgument,
            "ID length should not exceed allowed limit of {ID_CHARS_MAX}"
        ));
    }
    let status = match rule.status.as_str() {
        ExpirationStatus::ENABLED => Status::Enabled,
        ExpirationStatus::DISABLED => Status::Disabled,
        _ => return Err(malformed()),
    };
    let scope = match (&rule.filter, &rule.prefix) {
        (Some(filter), None) if filters => Scope::Filter(validate_filter(filter)?),
        (Some(_), None) => {
            return Err(s3_error!(
                InvalidRequest,
                "Filter element can only be used in Lifecycle V2."
            ));
        }
        (None, Some(prefix)) if !filters => Scope::Prefix(prefix.clone()),
        (None, Some(_)) => {
            return Err(s3_error!(
                InvalidRequest,
                "Base level prefix cannot be used in Lifecycle V2, prefixes are only supported in the Filter."
            ));
        }
        (Some(_), Some(_)) | (None, None) => return Err(malformed()),
    };
    let transitions = rule.transitions.as_ref().is_some_and(|list| !list.is_empty());
    let noncurrent_transitions = rule
        .noncurrent_version_transitions
        .as_ref()
        .is_some_and(|list| !list.is_empty());
    if rule.expiration.is_none()
        && rule.noncurrent_version_expiration.is_none()
        && rule.abort_incomplete_multipart_upload.is_none()
        && !transitions
        && !noncurrent_transitions
    {
        return Err(s3_error!(
            InvalidRequest,
            "At least one action needs to be specified in a rule"
        ));
    }

    let expiration = rule.expiration.as_ref().map(validate_expiration).transpose()?;
    if matches!(expiration, Some(Expiration::ExpiredObjectDeleteMarker(_))) {
        refuse_tags_and_sizes(&scope, "ExpiredObjectDeleteMarker")?;
    }

    let noncurrent_version_expiration = match &rule.noncurrent_version_expiration {
        None => None,
        Some(expiration) => {
            let noncurrent_days = positive(
                expiration.noncurrent_days.ok_or_else(malformed)?,
                "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
            )?;
            let newer_noncurrent_versions = match expiration.newer_noncurrent_versions {
                None => None,
                Some(_) if !filters => {
                    return Err(s3_error!(
                        InvalidRequest,
                        "NewerNoncurrentVersions element can only be used in Lifecycle V2."
                    ));
                }
                Some(count) => Some(
                    u32::try_from(count)
                        .ok()
                        .filter(|count| (1..=NEWER_NONCURRENT_VERSIONS_MAX).contains(count))
                        .ok_or_else(|| {
                            s3_error!(
                                InvalidArgument,
                                "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive \
                                 integer no greater than {NEWER_NONCURRENT_VERSIONS_MAX}"
                            )
                        })?,
                ),
            };
            Some(NoncurrentVersionExpiration {
                noncurrent_days,
                newer_noncurrent_versions,
            })
        }
    };

    let abort_incomplete_multipart_upload_days = match &rule.abort_incomplete_multipart_upload {
        None => None,
        Some(abort) => {
            let days = positive(
                abort.days_after_initiation.ok_or_else(malformed)?,
                "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer",
            )?;
            refuse_tags_and_sizes(&scope, "AbortIncompleteMultipartUpload")?;
            Some(days)
        }
    };

    // Transitions are refused later, but a date S3 would refuse is refused
    // as S3 refuses it.
    for transition in rule.transitions.iter().flatten() {
        if let Some(date) = &transition.date {
            midnight(date)?;
        }
    }

    let rule = Rule {
        id,
        status,
        scope,
        expiration,
        noncurrent_version_expiration,
        abort_incomplete_multipart_upload_days,
    };
    Ok((rule, transitions || noncurrent_transitions))
}

fn validate_expiration(expiration: &LifecycleExpiration) -> S3Result<Expiration> {
    match (
        expiration.days,
        &expiration.date,
        expiration.expired_object_delete_marker,
    ) {
        (Some(days), None, None) => Ok(Expiration::Days(positive(
            days,
            "'Days' for Expiration action must be a positive integer",
        )?)),
        (None, Some(date), None) => midnight(date).map(Expiration::Date),
        (None, None, Some(remove)) => Ok(Expiration::ExpiredObjectDeleteMarker(remove)),
        _ => Err(malformed()),
    }
}

/// S3 refuses these two actions beside a filter on tags or on size, the
/// element's mere presence being enough (`ExpiredObjectDeleteMarker` false
/// too).
fn refuse_tags_and_sizes(scope: &Scope, action: &str) -> S3Result<()> {
    if scope.has_tags() {
        return Err(s3_error!(InvalidRequest, "{action} cannot be specified with Tags."));
    }
    if scope.has_size() {
        return Err(s3_error!(
            InvalidRequest,
            "{action} cannot be specified with Object Size."
        ));
    }
    Ok(())
}

fn validate_filter(filter: &LifecycleRuleFilter) -> S3Result<Filter> {
    let predicates = usize::from(filter.and.is_some())
        + usize::from(filter.prefix.is_some())
        + usize::from(filter.tag.is_some())
        + usize::from(filter.object_size_greater_than.is_some())
        + usize::from(filter.object_size_less_than.is_some());
    if predicates > 1 {
        return Err(malformed());
    }
    if let Some(and) = &filter.and {
        return validate_and(and).map(Filter::And);
    }
    if let Some(prefix) = &filter.prefix {
        return Ok(Filter::Prefix(prefix.clone()));
    }
    if let Some(tag) = &filter.tag {
        return validate_tag(tag).map(Filter::Tag);
    }
    if let Some(bound) = filter.object_size_greater_than {
        return greater_than(bound).map(Filter::ObjectSizeGreaterThan);
    }
    if let Some(bound) = filter.object_size_less_than {
        return less_than(bound).map(Filter::ObjectSizeLessThan);
    }
    Ok(Filter::All)
}

fn validate_and(and: &LifecycleRuleAndOperator) -> S3Result<And> {
    let tags = and.tags.as_deref().unwrap_or_default();
    // An empty prefix counts: S3 accepts `<And>` of `<Prefix/>` and one tag.
    let predicates = usize::from(and.prefix.is_some())
        + tags.len()
        + usize::from(and.object_size_greater_than.is_some())
        + usize::from(and.object_size_less_than.is_some());
    if predicates < 2 {
        return Err(malformed());
    }
    let tags = tags.iter().map(validate_tag).collect::<S3Result<Vec<_>>>()?;
    let mut keys = HashSet::new();
    if !tags.iter().all(|tag| keys.insert(tag.key.as_str())) {
        return Err(s3_error!(InvalidRequest, "Duplicate Tag Keys are not allowed."));
    }
    let object_size_greater_than = and.object_size_greater_than.map(greater_than).transpose()?;
    let object_size_less_than = and.object_size_less_than.map(less_than).transpose()?;
    if let (Some(greater), Some(less)) = (object_size_greater_than, object_size_less_than)
        && greater >= less
    {
        return Err(s3_error!(
            InvalidRequest,
            "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'."
        ));
    }
    Ok(And {
        prefix: and.prefix.clone(),
        tags,
        object_size_greater_than,
        object_size_less_than,
    })
}

fn validate_tag(tag: &s3s::dto::Tag) -> S3Result<Tag> {
    match &tag.key {
        Some(key) if !key.is_empty() => Ok(Tag {
            key: key.clone(),
            value: tag.value.clone(),
        }),
        _ => Err(malformed()),
    }
}

fn greater_than(bound: i64) -> S3Result<u64> {
    u64::try_from(bound)
        .ok()
        .filter(|bound| *bound <= OBJECT_SIZE_MAX)
        .ok_or_else(|| {
            s3_error!(
                InvalidRequest,
                "'ObjectSizeGreaterThan' should be between 0 and {OBJECT_SIZE_MAX}."
            )
        })
}

fn less_than(bound: i64) -> S3Result<u64> {
    u64::try_from(bound)
        .ok()
        .filter(|bound| (1..=OBJECT_SIZE_MAX).contains(bound))
        .ok_or_else(|| {
            s3_error!(
                InvalidRequest,
                "'ObjectSizeLessThan' should be between 1 and {OBJECT_SIZE_MAX}."
            )
        })
}

fn positive(days: i32, message: &str) -> S3Result<u32> {
    u32::try_from(days)
        .ok()
        .filter(|days| *days > 0)
        .ok_or_else(|| s3_error!(InvalidArgument, "{message}"))
}

fn midnight(date: &Timestamp) -> S3Result<OffsetDateTime> {
    let date = OffsetDateTime::from(date.clone()).to_offset(UtcOffset::UTC);
    if date.time() != Time::MIDNIGHT {
        return Err(s3_error!(InvalidArgument, "'Date' must be at midnight GMT"));
    }
    Ok(date)
}

fn malformed() -> S3Error {
    s3_error!(MalformedXML, "{MALFORMED_XML}")
}

/// An ID as S3 makes one for a rule put without: the base64 of a random
/// UUID's hyphenated text, 48 characters.
fn generated_id() -> String {
    BASE64.encode(uuid::Uuid::new_v4().hyphenated().to_string())
}

/// Counts came from the DTO's `i32`s; a hand-edited document could hold more.
fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use s3s::S3ErrorCode;
    use s3s::xml::{Deserialize as XmlDeserialize, Deserializer};
    use time::macros::datetime;

    use super::*;

    static NO_TAGS: BTreeMap<String, String> = BTreeMap::new();

    /// Parses rules as s3s parses a PutBucketLifecycleConfiguration body.
    fn parse(rules: &str) -> BucketLifecycleConfiguration {
        let xml = format!("<LifecycleConfiguration>{rules}</LifecycleConfiguration>");
        let mut d = Deserializer::new(xml.as_bytes());
        let config = <BucketLifecycleConfiguration as XmlDeserialize>::deserialize(&mut d)
            .unwrap_or_else(|err| panic!("s3s refuses {xml}: {err:?}"));
        d.expect_eof().unwrap();
        config
    }

    fn accepted(rules: &str) -> Lifecycle {
        Lifecycle::from_dto(&parse(rules)).unwrap_or_else(|err| panic!("refused {rules}: {err:?}"))
    }

    fn refused(rules: &str) -> (S3ErrorCode, String) {
        match Lifecycle::from_dto(&parse(rules)) {
            Ok(lifecycle) => panic!("accepted {rules}: {lifecycle:?}"),
            Err(err) => (err.code().clone(), err.message().unwrap_or_default().to_owned()),
        }
    }

    fn assert_refused(rules: &str, code: S3ErrorCode, message: &str) {
        assert_eq!(refused(rules), (code, message.to_owned()), "{rules}");
    }

    fn assert_malformed(rules: &str) {
        assert_refused(rules, S3ErrorCode::MalformedXML, MALFORMED_XML);
    }

    /// A rule of the language with filters, around `inner`.
    fn rule(inner: &str) -> String {
        format!("<Rule><Status>Enabled</Status>{inner}</Rule>")
    }

    fn filtered(filter: &str, actions: &str) -> String {
        rule(&format!("<Filter>{filter}</Filter>{actions}"))
    }

    const DAYS_1: &str = "<Expiration><Days>1</Days></Expiration>";
    const TAG_A: &str = "<Tag><Key>a</Key><Value>1</Value></Tag>";
    const TAG_B: &str = "<Tag><Key>b</Key><Value>2</Value></Tag>";

    #[test]
    fn rule_count_is_bounded() {
        let many = |n: usize| (0..n).map(|_| filtered("", DAYS_1)).collect::<String>();
        assert_eq!(accepted(&many(RULES_MAX)).rules.len(), RULES_MAX);
        assert_refused(
            &many(RULES_MAX + 1),
            S3ErrorCode::InvalidRequest,
            "The number of lifecycle rules must not exceed the allowed limit of 1000 rules.",
        );
        let err = Lifecycle::from_dto(&BucketLifecycleConfiguration { rules: vec![] }).unwrap_err();
        assert_eq!(err.code(), &S3ErrorCode::MalformedXML);
    }

    #[test]
    fn ids_are_at_most_255_characters_and_unique() {
        let with_id = |id: &str| rule(&format!("<ID>{id}</ID><Prefix>test1/</Prefix>{DAYS_1}"));
        accepted(&with_id(&"a".repeat(255)));
        accepted(&with_id(&"é".repeat(255)));
        assert_refused(
            &with_id(&"a".repeat(256)),
            S3ErrorCode::InvalidArgument,
            "ID length should not exceed allowed limit of 255",
        );
        assert_refused(
            &format!("{}{}", with_id("rule1"), with_id("rule1")),
            S3ErrorCode::InvalidArgument,
            "Rule ID must be unique. Found same ID for more than one rule",
        );
        accepted(&format!("{}{}", with_id("rule1"), with_id("rule2")));
    }

    #[test]
    fn rules_without_id_get_s3_like_ids() {
        let first = accepted(&format!("{}{}", filtered("", DAYS_1), filtered("", DAYS_1)));
        let second = accepted(&filtered("", DAYS_1));
        let ids: Vec<&str> = first.rules.iter().chain(&second.rules).map(|r| r.id.as_str()).collect();
        for id in &ids {
            assert_eq!(id.len(), 48, "{id}");
            let text = String::from_utf8(BASE64.decode(id).unwrap()).unwrap();
            let uuid = uuid::Uuid::parse_str(&text).unwrap();
            assert_eq!(uuid.get_version_num(), 4);
            assert_eq!(text, uuid.hyphenated().to_string(), "lowercase, hyphenated");
        }
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
    }

    #[test]
    fn status_is_enabled_or_disabled() {
        for status in ["enabled", "disabled", "invalid", ""] {
            assert_malformed(&format!(
                "<Rule><Status>{status}</Status><Prefix>test1/</Prefix>{DAYS_1}</Rule>"
            ));
        }
        let rules = accepted(&format!(
            "<Rule><Status>Disabled</Status><Prefix>a</Prefix>{DAYS_1}</Rule>{}",
            rule(&format!("<Prefix>b</Prefix>{DAYS_1}"))
        ))
        .rules;
        assert_eq!(rules[0].status, Status::Disabled);
        assert_eq!(rules[1].status, Status::Enabled);
    }

    #[test]
    fn a_rule_has_a_filter_or_a_prefix_and_the_configuration_one_form() {
        assert_malformed(&rule(DAYS_1));
        assert_malformed(&rule(&format!("<Filter></Filter><Prefix>a</Prefix>{DAYS_1}")));
        let legacy = rule(&format!("<Prefix>a</Prefix>{DAYS_1}"));
        let with_filter = filtered("<Prefix>a</Prefix>", DAYS_1);
        assert_refused(
            &format!("{legacy}{with_filter}"),
            S3ErrorCode::InvalidRequest,
            "Filter element can only be used in Lifecycle V2.",
        );
        assert_refused(
            &format!("{with_filter}{legacy}"),
            S3ErrorCode::InvalidRequest,
            "Base level prefix cannot be used in Lifecycle V2, prefixes are only supported in the Filter.",
        );
    }

    #[test]
    fn a_rule_needs_an_action() {
        for rules in [rule("<Prefix>a</Prefix>"), filtered("", "")] {
            assert_refused(
                &rules,
                S3ErrorCode::InvalidRequest,
                "At least one action needs to be specified in a rule",
            );
        }
    }

    #[test]
    fn expiration_has_exactly_one_element() {
        let date = "<Date>2020-01-01T00:00:00Z</Date>";
        let marker = "<ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker>";
        let days = "<Days>1</Days>";
        for elements in [
            String::new(),
            format!("{days}{date}"),
            format!("{days}{marker}"),
            format!("{date}{marker}"),
            format!("{days}{date}{marker}"),
            format!("{days}<ExpiredObjectDeleteMarker>false</ExpiredObjectDeleteMarker>"),
        ] {
            assert_malformed(&filtered("", &format!("<Expiration>{elements}</Expiration>")));
        }
    }

    #[test]
    fn expiration_days_are_positive() {
        for days in [0, -1, i32::MIN] {
            assert_refused(
                &rule(&format!(
                    "<Prefix>a</Prefix><Expiration><Days>{days}</Days></Expiration>"
                )),
                S3ErrorCode::InvalidArgument,
                "'Days' for Expiration action must be a positive integer",
            );
        }
        let rules = accepted(&rule(
            "<Prefix>a</Prefix><Expiration><Days>2147483647</Days></Expiration>",
        ))
        .rules;
        assert_eq!(rules[0].expiration, Some(Expiration::Days(2_147_483_647)));
    }

    #[test]
    fn expiration_date_is_midnight_utc() {
        let with_date = |date: &str| filtered("", &format!("<Expiration><Date>{date}</Date></Expiration>"));
        for date in [
            "2020-01-01T00:00:01Z",
            "2020-01-01T12:00:00Z",
            "2020-01-01T00:00:00.001Z",
            "2020-01-01T00:00:00+01:00",
            "1970-08-22T19:08:21Z",
        ] {
            assert_refused(
                &with_date(date),
                S3ErrorCode::InvalidArgument,
                "'Date' must be at midnight GMT",
            );
        }
        for date in [
            "2017-09-27T00:00:00Z",
            "2017-09-27T00:00:00.000Z",
            "2017-09-27T01:00:00+01:00",
        ] {
            let rules = accepted(&with_date(date)).rules;
            assert_eq!(
                rules[0].expiration,
                Some(Expiration::Date(datetime!(2017-09-27 00:00 UTC)))
            );
        }
    }

    #[test]
    fn delete_marker_expiry_and_upload_abort_refuse_tag_and_size_filters() {
        let marker = |value: bool| {
            format!("<Expiration><ExpiredObjectDeleteMarker>{value}</ExpiredObjectDeleteMarker></Expiration>")
        };
        let abort = "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>";
        let tag_filters = [TAG_A.to_owned(), format!("<And><Prefix>p</Prefix>{TAG_A}</And>")];
        let size_filters = [
            "<ObjectSizeGreaterThan>1</ObjectSizeGreaterThan>".to_owned(),
            "<ObjectSizeLessThan>10</ObjectSizeLessThan>".to_owned(),
            "<And><Prefix>p</Prefix><ObjectSizeLessThan>10</ObjectSizeLessThan></And>".to_owned(),
        ];
        for (action, name) in [
            (marker(true), "ExpiredObjectDeleteMarker"),
            (marker(false), "ExpiredObjectDeleteMarker"),
            (abort.to_owned(), "AbortIncompleteMultipartUpload"),
        ] {
            for filter in &tag_filters {
                assert_refused(
                    &filtered(filter, &action),
                    S3ErrorCode::InvalidRequest,
                    &format!("{name} cannot be specified with Tags."),
                );
            }
            for filter in &size_filters {
                assert_refused(
                    &filtered(filter, &action),
                    S3ErrorCode::InvalidRequest,
                    &format!("{name} cannot be specified with Object Size."),
                );
            }
            accepted(&filtered("<Prefix>p</Prefix>", &action));
            accepted(&filtered("", &action));
            accepted(&rule(&format!("<Prefix>p</Prefix>{action}")));
        }
        // The other actions take any filter.
        accepted(&filtered(&tag_filters[1], DAYS_1));
        accepted(&filtered(
            &size_filters[2],
            "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration>",
        ));
    }

    #[test]
    fn a_filter_holds_one_predicate() {
        let predicates = [
            "<Prefix>p</Prefix>",
            TAG_A,
            "<ObjectSizeGreaterThan>1</ObjectSizeGreaterThan>",
            "<ObjectSizeLessThan>10</ObjectSizeLessThan>",
            "<And><Prefix>p</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And>",
        ];
        for (i, first) in predicates.iter().enumerate() {
            accepted(&filtered(first, DAYS_1));
            for second in &predicates[i + 1..] {
                assert_malformed(&filtered(&format!("{first}{second}"), DAYS_1));
            }
        }
        let rules = accepted(&filtered("", DAYS_1)).rules;
        assert_eq!(rules[0].scope, Scope::Filter(Filter::All));
    }

    #[test]
    fn and_holds_two_or_more_predicates_with_distinct_tag_keys() {
        let with_and = |inner: &str| filtered(&format!("<And>{inner}</And>"), DAYS_1);
        for inner in [
            "",
            "<Prefix>p</Prefix>",
            TAG_A,
            "<ObjectSizeLessThan>5</ObjectSizeLessThan>",
        ] {
            assert_malformed(&with_and(inner));
        }
        for inner in [
            format!("{TAG_A}{TAG_B}"),
            format!("<Prefix></Prefix>{TAG_A}"),
            "<Prefix>p</Prefix><ObjectSizeGreaterThan>0</ObjectSizeGreaterThan>".to_owned(),
            "<ObjectSizeGreaterThan>5</ObjectSizeGreaterThan><ObjectSizeLessThan>6</ObjectSizeLessThan>".to_owned(),
        ] {
            accepted(&with_and(&inner));
        }
        assert_refused(
            &with_and(&format!(
                "<Prefix>p</Prefix>{TAG_A}<Tag><Key>a</Key><Value>other</Value></Tag>"
            )),
            S3ErrorCode::InvalidRequest,
            "Duplicate Tag Keys are not allowed.",
        );
        for bounds in [(5, 5), (6, 5)] {
            assert_refused(
                &with_and(&format!(
                    "<ObjectSizeGreaterThan>{}</ObjectSizeGreaterThan><ObjectSizeLessThan>{}</ObjectSizeLessThan>",
                    bounds.0, bounds.1
                )),
                S3ErrorCode::InvalidRequest,
                "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'.",
            );
        }
    }

    #[test]
    fn tags_need_a_key() {
        for tag in ["<Tag><Value>v</Value></Tag>", "<Tag><Key></Key><Value>v</Value></Tag>"] {
            assert_malformed(&filtered(tag, DAYS_1));
            assert_malformed(&filtered(&format!("<And><Prefix>p</Prefix>{tag}</And>"), DAYS_1));
        }
        let rules = accepted(&filtered("<Tag><Key>k</Key></Tag>", DAYS_1)).rules;
        let tag = Tag {
            key: "k".into(),
            value: None,
        };
        assert_eq!(rules[0].scope, Scope::Filter(Filter::Tag(tag)));
    }

    #[test]
    fn size_bounds_are_in_range() {
        let greater = |size: i64| format!("<ObjectSizeGreaterThan>{size}</ObjectSizeGreaterThan>");
        let less = |size: i64| format!("<ObjectSizeLessThan>{size}</ObjectSizeLessThan>");
        let max = 1_099_511_627_776_000;
        let greater_message = "'ObjectSizeGreaterThan' should be between 0 and 1099511627776000.";
        let less_message = "'ObjectSizeLessThan' should be between 1 and 1099511627776000.";
        for size in [-1, max + 1, i64::MIN, i64::MAX] {
            assert_refused(
                &filtered(&greater(size), DAYS_1),
                S3ErrorCode::InvalidRequest,
                greater_message,
            );
            let and = format!("<And><Prefix>p</Prefix>{}</And>", greater(size));
            assert_refused(&filtered(&and, DAYS_1), S3ErrorCode::InvalidRequest, greater_message);
        }
        for size in [0, -1, max + 1] {
            assert_refused(
                &filtered(&less(size), DAYS_1),
                S3ErrorCode::InvalidRequest,
                less_message,
            );
            let and = format!("<And><Prefix>p</Prefix>{}</And>", less(size));
            assert_refused(&filtered(&and, DAYS_1), S3ErrorCode::InvalidRequest, less_message);
        }
        for size in [0, max] {
            accepted(&filtered(&greater(size), DAYS_1));
        }
        for size in [1, max] {
            accepted(&filtered(&less(size), DAYS_1));
        }
    }

    #[test]
    fn noncurrent_version_expiration_is_checked() {
        let with = |inner: &str| {
            filtered(
                "<Prefix>p</Prefix>",
                &format!("<NoncurrentVersionExpiration>{inner}</NoncurrentVersionExpiration>"),
            )
        };
        assert_malformed(&with(""));
        assert_malformed(&with("<NewerNoncurrentVersions>2</NewerNoncurrentVersions>"));
        for days in [0, -3] {
            assert_refused(
                &with(&format!("<NoncurrentDays>{days}</NoncurrentDays>")),
                S3ErrorCode::InvalidArgument,
                "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
            );
        }
        for count in [0, -1, 101] {
            assert_refused(
                &with(&format!(
                    "<NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>{count}</NewerNoncurrentVersions>"
                )),
                S3ErrorCode::InvalidArgument,
                "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive integer no \
                 greater than 100",
            );
        }
        for count in [1, 100] {
            accepted(&with(&format!(
                "<NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>{count}</NewerNoncurrentVersions>"
            )));
        }
        assert_refused(
            &rule(
                "<Prefix>p</Prefix><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>\
                 <NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration>",
            ),
            S3ErrorCode::InvalidRequest,
            "NewerNoncurrentVersions element can only be used in Lifecycle V2.",
        );
    }

    #[test]
    fn abort_incomplete_upload_days_are_positive() {
        let with = |inner: &str| {
            rule(&format!(
                "<Prefix>p</Prefix><AbortIncompleteMultipartUpload>{inner}</AbortIncompleteMultipartUpload>"
            ))
        };
        assert_malformed(&with(""));
        for days in [0, -1] {
            assert_refused(
                &with(&format!("<DaysAfterInitiation>{days}</DaysAfterInitiation>")),
                S3ErrorCode::InvalidArgument,
                "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer",
            );
        }
        let rules = accepted(&with("<DaysAfterInitiation>7</DaysAfterInitiation>")).rules;
        assert_eq!(rules[0].abort_incomplete_multipart_upload_days, Some(7));
    }

    #[test]
    fn transitions_are_refused_after_what_s3_refuses() {
        let transition = "<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>";
        let noncurrent = "<NoncurrentVersionTransition><NoncurrentDays>30</NoncurrentDays>\
                          <StorageClass>GLACIER</StorageClass></NoncurrentVersionTransition>";
        for actions in [
            transition.to_owned(),
            noncurrent.to_owned(),
            format!("{DAYS_1}{transition}"),
        ] {
            let (code, _) = refused(&filtered("", &actions));
            assert_eq!(code, S3ErrorCode::NotImplemented, "{actions}");
        }
        // s3-tests' test_lifecycle_transition_set_invalid_date expects a 400.
        assert_refused(
            &rule(
                "<Prefix>test1/</Prefix><Expiration><Date>2023-09-27T00:00:00Z</Date></Expiration>\
                 <Transition><Date>1970-08-22T19:08:21Z</Date><StorageClass>GLACIER</StorageClass></Transition>",
            ),
            S3ErrorCode::InvalidArgument,
            "'Date' must be at midnight GMT",
        );
        assert_refused(
            &format!(
                "{}{}",
                filtered("", transition),
                filtered("", "<Expiration><Days>0</Days></Expiration>")
            ),
            S3ErrorCode::InvalidArgument,
            "'Days' for Expiration action must be a positive integer",
        );
    }

    #[test]
    fn s3_tests_configurations_are_accepted() {
        let legacy = |id: &str, prefix: &str, status: &str, action: &str| {
            format!("<Rule><ID>{id}</ID><Prefix>{prefix}</Prefix><Status>{status}</Status>{action}</Rule>")
        };
        for rules in [
            // test_lifecycle_set, test_lifecycle_set_date, _set_noncurrent, _set_deletemarker, _set_multipart
            legacy("rule1", "test1/", "Enabled", DAYS_1)
                + &legacy("rule2", "test2/", "Disabled", "<Expiration><Days>2</Days></Expiration>"),
            legacy(
                "rule1",
                "test1/",
                "Enabled",
                "<Expiration><Date>2017-09-27T00:00:00Z</Date></Expiration>",
            ),
            legacy(
                "rule1",
                "past/",
                "Enabled",
                "<NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays></NoncurrentVersionExpiration>",
            ),
            legacy(
                "rule1",
                "test1/",
                "Enabled",
                "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>",
            ),
            legacy(
                "rule1",
                "test1/",
                "Enabled",
                "<AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation>\
                 </AbortIncompleteMultipartUpload>",
            ),
            // test_lifecycle_deletemarker_expiration
            legacy(
                "rule1",
                "test1/",
                "Enabled",
                "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration>\
                 <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>",
            ),
            // test_lifecycle_set_filter, _set_empty_filter
            filtered(
                "<Prefix>foo</Prefix>",
                "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>",
            ),
            filtered(
                "",
                "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>",
            ),
            // test_lifecycle_expiration_header_and_tags_head
            filtered(&format!("<And>{TAG_A}{TAG_B}</And>"), DAYS_1),
        ] {
            accepted(&rules);
        }
    }

    /// Every shape of rule, each with its ID, in the language with filters.
    const EVERY_SHAPE: &str = "\
        <Rule><ID>all</ID><Filter/><Status>Enabled</Status>\
          <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>\
        <Rule><ID>prefix</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status>\
          <Expiration><Days>30</Days></Expiration>\
          <NoncurrentVersionExpiration><NoncurrentDays>7</NoncurrentDays>\
            <NewerNoncurrentVersions>3</NewerNoncurrentVersions></NoncurrentVersionExpiration>\
          <AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation>\
            </AbortIncompleteMultipartUpload></Rule>\
        <Rule><ID>empty prefix</ID><Filter><Prefix></Prefix></Filter><Status>Disabled</Status>\
          <Expiration><ExpiredObjectDeleteMarker>false</ExpiredObjectDeleteMarker></Expiration></Rule>\
        <Rule><ID>tag</ID><Filter><Tag><Key>class</Key><Value>tmp</Value></Tag></Filter>\
          <Status>Enabled</Status><Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration></Rule>\
        <Rule><ID>and</ID><Filter><And><Prefix>data/</Prefix>\
            <Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key></Tag>\
            <ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>20</ObjectSizeLessThan>\
          </And></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>\
          <NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration></Rule>\
        <Rule><ID>greater</ID><Filter><ObjectSizeGreaterThan>0</ObjectSizeGreaterThan></Filter>\
          <Status>Enabled</Status><Expiration><Days>3</Days></Expiration></Rule>\
        <Rule><ID>less</ID><Filter><ObjectSizeLessThan>1</ObjectSizeLessThan></Filter>\
          <Status>Enabled</Status>\
          <NoncurrentVersionExpiration><NoncurrentDays>5</NoncurrentDays></NoncurrentVersionExpiration></Rule>";

    fn assert_round_trip(sent: &BucketLifecycleConfiguration) -> Lifecycle {
        let lifecycle = Lifecycle::from_dto(sent).unwrap();
        let stored = Lifecycle::decode(&lifecycle.encode()).unwrap();
        assert_eq!(stored, lifecycle);
        let answered = stored.to_dto();
        // What was put comes back, with IDs for the rules put without one.
        let mut expected = sent.clone();
        for (rule, stored) in expected.rules.iter_mut().zip(&stored.rules) {
            rule.id.get_or_insert_with(|| stored.id.clone());
        }
        assert!(
            answered == expected,
            "answered {:?}\nexpected {:?}",
            answered.rules,
            expected.rules
        );
        stored
    }

    #[test]
    fn every_shape_round_trips() {
        let sent = parse(EVERY_SHAPE);
        let stored = assert_round_trip(&sent);
        assert_eq!(stored.rules.len(), 7);
        let and = And {
            prefix: Some("data/".into()),
            tags: vec![
                Tag {
                    key: "a".into(),
                    value: Some("1".into()),
                },
                Tag {
                    key: "b".into(),
                    value: None,
                },
            ],
            object_size_greater_than: Some(10),
            object_size_less_than: Some(20),
        };
        assert_eq!(stored.rules[4].scope, Scope::Filter(Filter::And(and)));
        assert_eq!(stored.rules[2].scope, Scope::Filter(Filter::Prefix(String::new())));
        assert_eq!(stored.rules[2].status, Status::Disabled);
    }

    #[test]
    fn rule_level_prefixes_round_trip_as_sent() {
        // test_lifecycle_get expects the rules back exactly as put.
        let sent = parse(
            "<Rule><ID>test1/</ID><Expiration><Days>31</Days></Expiration><Prefix>test1/</Prefix>\
               <Status>Enabled</Status></Rule>\
             <Rule><Expiration><Days>120</Days></Expiration><Prefix>test2/</Prefix><Status>Enabled</Status></Rule>\
             <Rule><Prefix></Prefix><Status>Disabled</Status>\
               <AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>\
               </AbortIncompleteMultipartUpload></Rule>",
        );
        let stored = assert_round_trip(&sent);
        let answered = stored.to_dto();
        assert!(answered.rules.iter().all(|rule| rule.filter.is_none()));
        assert_eq!(answered.rules[1].prefix.as_deref(), Some("test2/"));
        assert_eq!(answered.rules[1].id.as_deref().map(str::len), Some(48));
    }

    #[test]
    fn unreadable_document_is_an_internal_error() {
        assert!(matches!(
            Lifecycle::decode(b"{\"Rules\": 3}"),
            Err(EngineError::Internal(_))
        ));
    }

    // Evaluation.

    fn current(key: &str, last_modified: OffsetDateTime) -> VersionFacts<'_> {
        VersionFacts {
            key,
            size: 100,
            tags: &NO_TAGS,
            last_modified,
            is_latest: true,
            is_delete_marker: false,
            noncurrent_since: None,
            newer_noncurrent_versions: 0,
            only_version: false,
        }
    }

    fn noncurrent(key: &str, since: OffsetDateTime, newer: usize) -> VersionFacts<'_> {
        VersionFacts {
            is_latest: false,
            noncurrent_since: Some(since),
            newer_noncurrent_versions: newer,
            ..current(key, since - Duration::days(30))
        }
    }

    fn delete_marker(key: &str, last_modified: OffsetDateTime, only_version: bool) -> VersionFacts<'_> {
        VersionFacts {
            size: 0,
            is_delete_marker: true,
            only_version,
            ..current(key, last_modified)
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Asserts `version` meets `action` from `due` on and nothing a second before.
    fn assert_falls_due(lifecycle: &Lifecycle, version: &VersionFacts, due: OffsetDateTime, action: Action) {
        let second = Duration::seconds(1);
        assert_eq!(lifecycle.object_action(version, due - second), None, "before {due}");
        assert_eq!(lifecycle.object_action(version, due), Some(action), "at {due}");
        assert_eq!(lifecycle.object_action(version, due + second), Some(action));
        assert_eq!(
            lifecycle.object_action(version, due + Duration::days(400)),
            Some(action)
        );
    }

    fn expire_after(days: u32) -> Lifecycle {
        accepted(&filtered("", &format!("<Expiration><Days>{days}</Days></Expiration>")))
    }

    #[test]
    fn expiration_days_fall_due_at_the_next_midnight_utc() {
        let lifecycle = expire_after(3);
        // S3's own example: 10:30 on 15 January plus 3 days is 00:00 on the 19th.
        let version = current("k", datetime!(2014-01-15 10:30 UTC));
        assert_falls_due(&lifecycle, &version, datetime!(2014-01-19 00:00 UTC), Action::Expire);
        // Already at midnight, it rounds to the midnight that begins the next day.
        let version = current("k", datetime!(2014-01-15 00:00 UTC));
        assert_falls_due(&lifecycle, &version, datetime!(2014-01-19 00:00 UTC), Action::Expire);
        let version = current("k", datetime!(2014-01-15 23:59:59.999 UTC));
        assert_falls_due(&lifecycle, &version, datetime!(2014-01-19 00:00 UTC), Action::Expire);
        // Midnight is UTC's, whatever offset the time carries: 23:30 -02:00 is 01:30 UTC on the 16th.
        let version = current("k", datetime!(2014-01-15 23:30 -2));
        assert_falls_due(&lifecycle, &version, datetime!(2014-01-20 00:00 UTC), Action::Expire);
        // The troubleshooting page's example: created 00:05 on 2 January, 1 day, eligible 00:00 on the 4th.
        let version = current("k", datetime!(2024-01-02 00:05 UTC));
        assert_falls_due(
            &expire_after(1),
            &version,
            datetime!(2024-01-04 00:00 UTC),
            Action::Expire,
        );
    }

    #[test]
    fn a_due_date_past_times_range_never_falls_due() {
        let version = current("k", datetime!(2014-01-15 10:30 UTC));
        let lifecycle = expire_after(u32::try_from(i32::MAX).unwrap());
        assert_eq!(lifecycle.object_action(&version, datetime!(9999-12-31 23:59 UTC)), None);
    }

    #[test]
    fn expiration_date_applies_from_that_midnight_on() {
        let lifecycle = accepted(&filtered(
            "",
            "<Expiration><Date>2020-03-01T00:00:00Z</Date></Expiration>",
        ));
        let old = current("k", datetime!(2001-01-01 00:00 UTC));
        assert_falls_due(&lifecycle, &old, datetime!(2020-03-01 00:00 UTC), Action::Expire);
        // Not a one-time action: what is written after the date expires too.
        let late = current("k", datetime!(2021-06-01 12:00 UTC));
        assert_eq!(lifecycle.object_action(&late, late.last_modified), Some(Action::Expire));
    }

    #[test]
    fn expiration_leaves_noncurrent_versions_alone() {
        let lifecycle = expire_after(1);
        let version = noncurrent("k", datetime!(2020-01-01 00:00 UTC), 0);
        assert_eq!(lifecycle.object_action(&version, datetime!(2030-01-01 00:00 UTC)), None);
        let dated = accepted(&filtered(
            "",
            "<Expiration><Date>2020-01-01T00:00:00Z</Date></Expiration>",
        ));
        assert_eq!(dated.object_action(&version, datetime!(2030-01-01 00:00 UTC)), None);
    }

    #[test]
    fn noncurrent_days_count_from_when_the_version_became_noncurrent() {
        let lifecycle = accepted(&filtered(
            "",
            "<NoncurrentVersionExpiration><NoncurrentDays>5</NoncurrentDays></NoncurrentVersionExpiration>",
        ));
        // S3's example: overwritten at 11:30 on 2 January, deleted at 00:00 on the 8th.
        let version = noncurrent("photo.gif", datetime!(2014-01-02 11:30 UTC), 0);
        assert_falls_due(
            &lifecycle,
            &version,
            datetime!(2014-01-08 00:00 UTC),
            Action::DeleteVersion,
        );
        // Its own age does not count.
        let recent = VersionFacts {
            last_modified: datetime!(2000-01-01 00:00 UTC),
            ..noncurrent("k", datetime!(2014-01-02 11:30 UTC), 0)
        };
        assert_eq!(lifecycle.object_action(&recent, datetime!(2014-01-07 23:59 UTC)), None);
        // Without knowing when it became noncurrent, nothing is done.
        let unknown = VersionFacts {
            noncurrent_since: None,
            ..version
        };
        assert_eq!(lifecycle.object_action(&unknown, datetime!(2030-01-01 00:00 UTC)), None);
        // A noncurrent delete marker is a noncurrent version too.
        let marker = VersionFacts {
            is_delete_marker: true,
            size: 0,
            ..version
        };
        assert_falls_due(
            &lifecycle,
            &marker,
            datetime!(2014-01-08 00:00 UTC),
            Action::DeleteVersion,
        );
        // The current version is not noncurrent.
        let latest = current("k", datetime!(2000-01-01 00:00 UTC));
        assert_eq!(lifecycle.object_action(&latest, datetime!(2030-01-01 00:00 UTC)), None);
    }

    #[test]
    fn newer_noncurrent_versions_keeps_that_many_newest() {
        let lifecycle = accepted(&filtered(
            "",
            "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>\
             <NewerNoncurrentVersions>5</NewerNoncurrentVersions></NoncurrentVersionExpiration>",
        ));
        let since = datetime!(2020-01-01 12:00 UTC);
        let due = datetime!(2020-01-03 00:00 UTC);
        // s3-tests' test_lifecycle_expiration_newer_noncurrent: of 9 noncurrent versions, 5 stay.
        let deleted = (0..9)
            .filter(|newer| {
                let version = noncurrent("k", since, *newer);
                lifecycle.object_action(&version, due) == Some(Action::DeleteVersion)
            })
            .collect::<Vec<_>>();
        assert_eq!(deleted, [5, 6, 7, 8]);
        // Both conditions must hold: an old enough version among the 5 newest stays...
        assert_eq!(
            lifecycle.object_action(&noncurrent("k", since, 4), due + Duration::days(99)),
            None
        );
        // ...and one beyond them waits for its days.
        assert_falls_due(&lifecycle, &noncurrent("k", since, 5), due, Action::DeleteVersion);
    }

    #[test]
    fn a_lone_delete_marker_goes_with_expired_object_delete_marker() {
        let lifecycle = accepted(&filtered(
            "",
            "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>",
        ));
        let written = datetime!(2020-05-05 10:00 UTC);
        let lone = delete_marker("k", written, true);
        assert_eq!(
            lifecycle.object_action(&lone, written),
            Some(Action::RemoveExpiredDeleteMarker)
        );
        let with_versions = delete_marker("k", written, false);
        assert_eq!(
            lifecycle.object_action(&with_versions, written + Duration::days(999)),
            None
        );
        // It is no expiration of objects, nor of noncurrent markers.
        assert_eq!(
            lifecycle.object_action(&current("k", written), written + Duration::days(999)),
            None
        );
        let old_marker = VersionFacts {
            is_delete_marker: true,
            only_version: true,
            ..noncurrent("k", written, 0)
        };
        assert_eq!(
            lifecycle.object_action(&old_marker, written + Duration::days(999)),
            None
        );
        // Set to false, it does nothing.
        let off = accepted(&filtered(
            "",
            "<Expiration><ExpiredObjectDeleteMarker>false</ExpiredObjectDeleteMarker></Expiration>",
        ));
        assert_eq!(off.object_action(&lone, written + Duration::days(999)), None);
    }

    #[test]
    fn expiration_days_remove_a_lone_delete_marker_once_old_enough() {
        let lifecycle = expire_after(2);
        let written = datetime!(2020-05-05 10:00 UTC);
        let lone = delete_marker("k", written, true);
        assert_falls_due(
            &lifecycle,
            &lone,
            datetime!(2020-05-08 00:00 UTC),
            Action::RemoveExpiredDeleteMarker,
        );
        // A marker in front of other versions is left alone.
        let with_versions = delete_marker("k", written, false);
        assert_eq!(
            lifecycle.object_action(&with_versions, written + Duration::days(999)),
            None
        );
        // Expiration by date never removes markers.
        let dated = accepted(&filtered(
            "",
            "<Expiration><Date>2020-01-01T00:00:00Z</Date></Expiration>",
        ));
        assert_eq!(dated.object_action(&lone, written + Duration::days(999)), None);
    }

    #[test]
    fn disabled_rules_never_apply() {
        let disabled = |filter: &str, actions: &str| {
            format!("<Rule><Status>Disabled</Status><Filter>{filter}</Filter>{actions}</Rule>")
        };
        let lifecycle = accepted(
            &[
                disabled("", DAYS_1),
                disabled(
                    "<Prefix>a</Prefix>",
                    "<Expiration><Date>2000-01-01T00:00:00Z</Date></Expiration>",
                ),
                disabled(
                    "",
                    "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>",
                ),
                disabled(
                    "",
                    "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration>\
                     <AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>\
                     </AbortIncompleteMultipartUpload>",
                ),
            ]
            .concat(),
        );
        let long_ago = datetime!(2001-01-01 00:00 UTC);
        let now = datetime!(2030-01-01 00:00 UTC);
        for version in [
            current("a/k", long_ago),
            noncurrent("a/k", long_ago, 0),
            delete_marker("a/k", long_ago, true),
        ] {
            assert_eq!(lifecycle.object_action(&version, now), None, "{version:?}");
        }
        assert!(!lifecycle.upload_action("a/k", long_ago, now));
    }

    #[test]
    fn prefixes_match_the_start_of_the_key() {
        let now = datetime!(2030-01-01 00:00 UTC);
        let long_ago = datetime!(2001-01-01 00:00 UTC);
        for lifecycle in [
            accepted(&rule(&format!("<Prefix>logs/</Prefix>{DAYS_1}"))),
            accepted(&filtered("<Prefix>logs/</Prefix>", DAYS_1)),
        ] {
            for (key, matches) in [("logs/a", true), ("logs/", true), ("logs", false), ("x/logs/a", false)] {
                let expected = matches.then_some(Action::Expire);
                assert_eq!(lifecycle.object_action(&current(key, long_ago), now), expected, "{key}");
            }
        }
        let everything = accepted(&filtered("<Prefix></Prefix>", DAYS_1));
        assert_eq!(
            everything.object_action(&current("", long_ago), now),
            Some(Action::Expire)
        );
    }

    #[test]
    fn tags_match_key_and_value_exactly() {
        let now = datetime!(2030-01-01 00:00 UTC);
        let with = |tags: &BTreeMap<String, String>| -> Option<Action> {
            let lifecycle = accepted(&filtered(TAG_A, DAYS_1));
            let version = VersionFacts {
                tags,
                ..current("k", datetime!(2001-01-01 00:00 UTC))
            };
            lifecycle.object_action(&version, now)
        };
        assert_eq!(with(&tags(&[("a", "1")])), Some(Action::Expire));
        assert_eq!(with(&tags(&[("a", "1"), ("z", "9")])), Some(Action::Expire));
        assert_eq!(with(&tags(&[("a", "2")])), None);
        assert_eq!(with(&tags(&[("A", "1")])), None);
        assert_eq!(with(&tags(&[])), None);

        // A tag without a value matches only an empty value.
        let keyless = accepted(&filtered("<Tag><Key>a</Key></Tag>", DAYS_1));
        for (tags, expected) in [
            (tags(&[("a", "")]), Some(Action::Expire)),
            (tags(&[("a", "1")]), None),
            (tags(&[]), None),
        ] {
            let version = VersionFacts {
                tags: &tags,
                ..current("k", datetime!(2001-01-01 00:00 UTC))
            };
            assert_eq!(keyless.object_action(&version, now), expected, "{tags:?}");
        }
    }

    #[test]
    fn and_needs_every_predicate() {
        let lifecycle = accepted(&filtered(
            &format!(
                "<And><Prefix>data/</Prefix>{TAG_A}{TAG_B}<ObjectSizeGreaterThan>10</ObjectSizeGreaterThan>\
                 <ObjectSizeLessThan>20</ObjectSizeLessThan></And>"
            ),
            DAYS_1,
        ));
        let now = datetime!(2030-01-01 00:00 UTC);
        let both = tags(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let one = tags(&[("a", "1")]);
        let version = |key, size, tags| VersionFacts {
            size,
            tags,
            ..current(key, datetime!(2001-01-01 00:00 UTC))
        };
        let (both, one) = (&both, &one);
        assert_eq!(
            lifecycle.object_action(&version("data/x", 15, both), now),
            Some(Action::Expire)
        );
        assert_eq!(lifecycle.object_action(&version("other/x", 15, both), now), None);
        assert_eq!(lifecycle.object_action(&version("data/x", 15, one), now), None);
        for (size, matches) in [(10, false), (11, true), (19, true), (20, false)] {
            let expected = matches.then_some(Action::Expire);
            assert_eq!(
                lifecycle.object_action(&version("data/x", size, both), now),
                expected,
                "{size}"
            );
        }
    }

    #[test]
    fn size_bounds_are_strict() {
        let now = datetime!(2030-01-01 00:00 UTC);
        let sized = |size: u64| VersionFacts {
            size,
            ..current("k", datetime!(2001-01-01 00:00 UTC))
        };
        let greater = accepted(&filtered("<ObjectSizeGreaterThan>100</ObjectSizeGreaterThan>", DAYS_1));
        let less = accepted(&filtered("<ObjectSizeLessThan>100</ObjectSizeLessThan>", DAYS_1));
        for (size, over, under) in [
            (0, false, true),
            (99, false, true),
            (100, false, false),
            (101, true, false),
        ] {
            assert_eq!(
                greater.object_action(&sized(size), now),
                over.then_some(Action::Expire),
                "{size}"
            );
            assert_eq!(
                less.object_action(&sized(size), now),
                under.then_some(Action::Expire),
                "{size}"
            );
        }
        // S3's example of cleaning up versions without data: delete markers are of size 0.
        let no_data = accepted(&filtered(
            "<ObjectSizeLessThan>1</ObjectSizeLessThan>",
            "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration>",
        ));
        let marker = VersionFacts {
            is_delete_marker: true,
            size: 0,
            ..noncurrent("k", datetime!(2001-01-01 00:00 UTC), 0)
        };
        assert_eq!(no_data.object_action(&marker, now), Some(Action::DeleteVersion));
        let data = noncurrent("k", datetime!(2001-01-01 00:00 UTC), 0);
        assert_eq!(no_data.object_action(&data, now), None);
    }

    #[test]
    fn any_rule_that_has_fallen_due_acts() {
        let lifecycle = accepted(
            &[
                filtered("<Prefix>a/</Prefix>", "<Expiration><Days>10</Days></Expiration>"),
                filtered("<Prefix>b/</Prefix>", DAYS_1),
                filtered("", "<Expiration><Days>3</Days></Expiration>"),
            ]
            .concat(),
        );
        let written = datetime!(2020-01-01 12:00 UTC);
        assert_falls_due(
            &lifecycle,
            &current("a/k", written),
            datetime!(2020-01-05 00:00 UTC),
            Action::Expire,
        );
        assert_falls_due(
            &lifecycle,
            &current("b/k", written),
            datetime!(2020-01-03 00:00 UTC),
            Action::Expire,
        );
    }

    #[test]
    fn incomplete_uploads_are_aborted_days_after_initiation() {
        let abort = |days: u32| {
            format!(
                "<AbortIncompleteMultipartUpload><DaysAfterInitiation>{days}</DaysAfterInitiation>\
                 </AbortIncompleteMultipartUpload>"
            )
        };
        let initiated = datetime!(2020-03-10 15:00 UTC);
        let due = datetime!(2020-03-13 00:00 UTC);
        let second = Duration::seconds(1);
        for lifecycle in [
            accepted(&filtered("<Prefix>tmp/</Prefix>", &abort(2))),
            accepted(&rule(&format!("<Prefix>tmp/</Prefix>{}", abort(2)))),
            accepted(&filtered("", &abort(2))),
        ] {
            assert!(!lifecycle.upload_action("tmp/x", initiated, due - second));
            assert!(lifecycle.upload_action("tmp/x", initiated, due));
            assert!(lifecycle.upload_action("tmp/x", initiated, due + Duration::days(30)));
        }
        let prefixed = accepted(&filtered("<Prefix>tmp/</Prefix>", &abort(2)));
        assert!(!prefixed.upload_action("other/x", initiated, due + Duration::days(30)));
        // Rules of other actions abort nothing.
        let expiring = accepted(&filtered("", DAYS_1));
        assert!(!expiring.upload_action("tmp/x", initiated, due + Duration::days(30)));
        // Nor does the upload action touch objects.
        assert_eq!(
            prefixed.object_action(&current("tmp/x", initiated), due + Duration::days(30)),
            None
        );
    }
}
