//! Bucket and object records in redb.
//!
//! Tables (keys and values are bytes):
//! - `buckets`: bucket name → [`BucketRecord`]
//! - `objects`: bucket name, 0x00, object key → the current [`ObjectRecord`]
//!
//! Bucket names never contain 0x00, so one bucket's objects form one
//! contiguous range, ordered by the UTF-8 bytes of their keys as S3 orders
//! listings. Every value is a format byte followed by MessagePack with named
//! fields, so fields can be added without rewriting old records.

use std::ops::Bound;
use std::path::Path;

use coffer_engine::{
    BucketRecord, EngineError, EngineResult, ListEntry, ListPage, ListQuery, NULL_VERSION_ID, ObjectRecord, Replaced,
    WriteCondition,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

const BUCKETS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("buckets");
const OBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("objects");

/// The first byte of every stored value: the encoding that follows.
const RECORD_FORMAT_V1: u8 = 1;

/// A byte that never occurs in UTF-8: every key that starts with some prefix
/// sorts before that prefix followed by this byte.
const AFTER_ALL_UTF8: u8 = 0xFF;

fn internal(err: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(err.to_string())
}

fn encode<T: Serialize>(record: &T) -> EngineResult<Vec<u8>> {
    let mut bytes = vec![RECORD_FORMAT_V1];
    rmp_serde::encode::write_named(&mut bytes, record).map_err(internal)?;
    Ok(bytes)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> EngineResult<T> {
    match bytes.split_first() {
        Some((&RECORD_FORMAT_V1, rest)) => rmp_serde::from_slice(rest).map_err(internal),
        _ => Err(internal("record in an unknown format")),
    }
}

/// The `objects` key of `key` in `bucket`.
fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(bucket.len() + 1 + key.len());
    bytes.extend_from_slice(bucket.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(key.as_bytes());
    bytes
}

/// The metadata database.
pub struct Meta {
    db: Database,
}

impl Meta {
    pub fn open(path: &Path) -> EngineResult<Meta> {
        let db = Database::create(path).map_err(internal)?;
        let txn = db.begin_write().map_err(internal)?;
        txn.open_table(BUCKETS).map_err(internal)?;
        txn.open_table(OBJECTS).map_err(internal)?;
        txn.commit().map_err(internal)?;
        Ok(Meta { db })
    }

    /// Runs `work` in a write transaction and commits it durably if it succeeds.
    fn write<T>(&self, work: impl FnOnce(&redb::WriteTransaction) -> EngineResult<T>) -> EngineResult<T> {
        let txn = self.db.begin_write().map_err(internal)?;
        let result = work(&txn)?;
        txn.commit().map_err(internal)?;
        Ok(result)
    }

    fn read(&self) -> EngineResult<redb::ReadTransaction> {
        self.db.begin_read().map_err(internal)
    }

    pub fn create_bucket(&self, bucket: &BucketRecord) -> EngineResult<()> {
        self.write(|txn| {
            let mut buckets = txn.open_table(BUCKETS).map_err(internal)?;
            if let Some(existing) = buckets.get(bucket.name.as_bytes()).map_err(internal)? {
                let existing: BucketRecord = decode(existing.value())?;
                return Err(EngineError::BucketExists {
                    name: existing.name,
                    owner: existing.owner,
                });
            }
            buckets
                .insert(bucket.name.as_bytes(), encode(bucket)?.as_slice())
                .map_err(internal)?;
            Ok(())
        })
    }

    pub fn bucket(&self, name: &str) -> EngineResult<BucketRecord> {
        let txn = self.read()?;
        let buckets = txn.open_table(BUCKETS).map_err(internal)?;
        let found = buckets.get(name.as_bytes()).map_err(internal)?;
        match found {
            Some(value) => decode(value.value()),
            None => Err(EngineError::NoSuchBucket(name.to_owned())),
        }
    }

    pub fn list_buckets(&self) -> EngineResult<Vec<BucketRecord>> {
        let txn = self.read()?;
        let buckets = txn.open_table(BUCKETS).map_err(internal)?;
        let mut all = Vec::new();
        for entry in buckets.iter().map_err(internal)? {
            let (_, value) = entry.map_err(internal)?;
            all.push(decode(value.value())?);
        }
        Ok(all)
    }

    pub fn delete_bucket(&self, name: &str) -> EngineResult<()> {
        self.write(|txn| {
            let mut buckets = txn.open_table(BUCKETS).map_err(internal)?;
            if buckets.get(name.as_bytes()).map_err(internal)?.is_none() {
                return Err(EngineError::NoSuchBucket(name.to_owned()));
            }
            let objects = txn.open_table(OBJECTS).map_err(internal)?;
            let first = object_key(name, "");
            let mut in_bucket = objects.range(first.as_slice()..).map_err(internal)?;
            if let Some(entry) = in_bucket.next() {
                let (key, _) = entry.map_err(internal)?;
                if key.value().starts_with(&first) {
                    return Err(EngineError::BucketNotEmpty(name.to_owned()));
                }
            }
            buckets.remove(name.as_bytes()).map_err(internal)?;
            Ok(())
        })
    }

    /// Makes `object` the current version of its key if `condition` holds;
    /// returns the version it replaced.
    pub fn put_object(
        &self,
        bucket: &str,
        object: &ObjectRecord,
        condition: &WriteCondition,
    ) -> EngineResult<Replaced> {
        self.write(|txn| {
            let buckets = txn.open_table(BUCKETS).map_err(internal)?;
            if buckets.get(bucket.as_bytes()).map_err(internal)?.is_none() {
                return Err(EngineError::NoSuchBucket(bucket.to_owned()));
            }
            let mut objects = txn.open_table(OBJECTS).map_err(internal)?;
            let id = object_key(bucket, &object.key);
            if *condition != WriteCondition::Always {
                let current: Option<ObjectRecord> = objects
                    .get(id.as_slice())
                    .map_err(internal)?
                    .map(|value| decode(value.value()))
                    .transpose()?;
                match (condition, current) {
                    (WriteCondition::IfAbsent, Some(_)) => return Err(EngineError::PreconditionFailed),
                    (WriteCondition::IfEtag(_), None) => return Err(EngineError::NoSuchKey(object.key.clone())),
                    (WriteCondition::IfEtag(etag), Some(current)) if *etag != current.etag => {
                        return Err(EngineError::PreconditionFailed);
                    }
                    _ => {}
                }
            }
            let previous = objects
                .insert(id.as_slice(), encode(object)?.as_slice())
                .map_err(internal)?
                .map(|old| decode(old.value()))
                .transpose()?;
            Ok(Replaced { previous })
        })
    }

    pub fn object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> EngineResult<ObjectRecord> {
        let txn = self.read()?;
        let buckets = txn.open_table(BUCKETS).map_err(internal)?;
        if buckets.get(bucket.as_bytes()).map_err(internal)?.is_none() {
            return Err(EngineError::NoSuchBucket(bucket.to_owned()));
        }
        let objects = txn.open_table(OBJECTS).map_err(internal)?;
        let found = objects.get(object_key(bucket, key).as_slice()).map_err(internal)?;
        let object: ObjectRecord = match found {
            Some(value) => decode(value.value())?,
            None if version_id.is_some() => return Err(no_such_version(key, version_id)),
            None => return Err(EngineError::NoSuchKey(key.to_owned())),
        };
        match version_id {
            Some(wanted) if wanted != object.version_id => Err(no_such_version(key, version_id)),
            _ => Ok(object),
        }
    }

    /// Removes the current version of `key` if `version_id` names it (or is
    /// `None`); removing what is not there is not an error, as in S3.
    pub fn delete_object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> EngineResult<Replaced> {
        self.write(|txn| {
            let buckets = txn.open_table(BUCKETS).map_err(internal)?;
            if buckets.get(bucket.as_bytes()).map_err(internal)?.is_none() {
                return Err(EngineError::NoSuchBucket(bucket.to_owned()));
            }
            let mut objects = txn.open_table(OBJECTS).map_err(internal)?;
            let id = object_key(bucket, key);
            let current: Option<ObjectRecord> = objects
                .get(id.as_slice())
                .map_err(internal)?
                .map(|value| decode(value.value()))
                .transpose()?;
            let Some(current) = current else {
                return Ok(Replaced { previous: None });
            };
            if let Some(wanted) = version_id
                && wanted != current.version_id
            {
                if wanted == NULL_VERSION_ID {
                    return Ok(Replaced { previous: None });
                }
                return Err(no_such_version(key, version_id));
            }
            objects.remove(id.as_slice()).map_err(internal)?;
            Ok(Replaced {
                previous: Some(current),
            })
        })
    }

    /// One page of a listing; see [`ListQuery`] for the semantics.
    pub fn list_objects(&self, bucket: &str, query: &ListQuery) -> EngineResult<ListPage> {
        let txn = self.read()?;
        let buckets = txn.open_table(BUCKETS).map_err(internal)?;
        if buckets.get(bucket.as_bytes()).map_err(internal)?.is_none() {
            return Err(EngineError::NoSuchBucket(bucket.to_owned()));
        }
        let objects = txn.open_table(OBJECTS).map_err(internal)?;
        let bucket_start = object_key(bucket, "").len();
        let mut lower = Bound::Included(object_key(bucket, &query.prefix));
        if let Some(after) = &query.start_after
            && after.as_str() >= query.prefix.as_str()
        {
            lower = Bound::Excluded(object_key(bucket, after));
        }
        let mut upper = object_key(bucket, "");
        *upper.last_mut().expect("object keys end with the separator") = 1;
        let upper = Bound::Excluded(upper);

        let wanted = query.max_keys + 1;
        let mut entries: Vec<ListEntry> = Vec::new();
        'seek: while entries.len() < wanted {
            let range = objects
                .range::<&[u8]>((as_slice(&lower), as_slice(&upper)))
                .map_err(internal)?;
            for entry in range {
                let (stored_key, value) = entry.map_err(internal)?;
                let key = std::str::from_utf8(&stored_key.value()[bucket_start..]).map_err(internal)?;
                if !key.starts_with(query.prefix.as_str()) {
                    break 'seek;
                }
                let common_prefix = query
                    .delimiter
                    .as_deref()
                    .filter(|d| !d.is_empty())
                    .and_then(|delimiter| {
                        key[query.prefix.len()..]
                            .find(delimiter)
                            .map(|at| &key[..query.prefix.len() + at + delimiter.len()])
                    });
                if let Some(common_prefix) = common_prefix {
                    let seen = query.start_after.as_deref().is_some_and(|after| common_prefix <= after);
                    if !seen {
                        entries.push(ListEntry::CommonPrefix(common_prefix.to_owned()));
                    }
                    let mut past_group = object_key(bucket, common_prefix);
                    past_group.push(AFTER_ALL_UTF8);
                    lower = Bound::Excluded(past_group);
                    continue 'seek;
                }
                entries.push(ListEntry::Object(Box::new(decode(value.value())?)));
                if entries.len() == wanted {
                    break 'seek;
                }
            }
            break;
        }
        let truncated = entries.len() > query.max_keys;
        entries.truncate(query.max_keys);
        Ok(ListPage { entries, truncated })
    }

    /// Every data file name that some record refers to.
    pub fn referenced_blobs(&self) -> EngineResult<std::collections::HashSet<String>> {
        let txn = self.read()?;
        let objects = txn.open_table(OBJECTS).map_err(internal)?;
        let mut blobs = std::collections::HashSet::new();
        for entry in objects.iter().map_err(internal)? {
            let (_, value) = entry.map_err(internal)?;
            let object: ObjectRecord = decode(value.value())?;
            blobs.extend(object.segments.into_iter().map(|segment| segment.blob));
        }
        Ok(blobs)
    }
}

fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(bytes) => Bound::Included(bytes.as_slice()),
        Bound::Excluded(bytes) => Bound::Excluded(bytes.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn no_such_version(key: &str, version_id: Option<&str>) -> EngineError {
    EngineError::NoSuchVersion {
        key: key.to_owned(),
        version_id: version_id.unwrap_or_default().to_owned(),
    }
}
