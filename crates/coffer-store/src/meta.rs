//! Bucket, object, upload and part records in redb.
//!
//! Tables (keys and values are bytes):
//! - `buckets`: bucket name → [`BucketRecord`]
//! - `objects`: bucket name, 0x00, object key → the current [`ObjectRecord`]
//! - `uploads`: bucket name, 0x00, object key, 0x00, upload id → [`UploadRecord`]
//! - `parts`: upload id, 0x00, part number (u32, big-endian) → [`PartRecord`]
//! - `bucket_configs`: bucket name, 0x00, kind → a configuration document
//! - `users`: user name → [`UserRecord`]
//! - `keys`: access key → [`KeyRecord`]
//!
//! Bucket names and upload ids never contain 0x00, so one bucket's objects
//! (or uploads) form one contiguous range, ordered by the UTF-8 bytes of their
//! keys as S3 orders listings, and one upload's parts form one range in part
//! order. Each part is its own row, so adding a part costs the same on the
//! ten-thousandth part as on the first. Every value is a format byte followed
//! by MessagePack with named fields, so fields can be added without rewriting
//! old records.

use std::collections::HashSet;
use std::ops::Bound;
use std::path::Path;

use coffer_engine::{
    BucketRecord, EngineError, EngineResult, KeyRecord, ListEntry, ListPage, ListQuery, Listed, NULL_VERSION_ID,
    ObjectRecord, PartRecord, Replaced, UploadRecord, UserRecord, WriteCondition,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

type Table = TableDefinition<'static, &'static [u8], &'static [u8]>;

const BUCKETS: Table = TableDefinition::new("buckets");
const OBJECTS: Table = TableDefinition::new("objects");
const UPLOADS: Table = TableDefinition::new("uploads");
const PARTS: Table = TableDefinition::new("parts");
const BUCKET_CONFIGS: Table = TableDefinition::new("bucket_configs");
const USERS: Table = TableDefinition::new("users");
const KEYS: Table = TableDefinition::new("keys");

/// The first byte of every stored value: the encoding that follows.
const RECORD_FORMAT_V1: u8 = 1;

/// Separates the parts of composite table keys; never part of a bucket name,
/// an upload id, or (in practice) a key.
const SEPARATOR: u8 = 0;

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

/// Joins the parts of a composite table key.
fn composite_key(parts: &[&[u8]]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(parts.iter().map(|part| part.len() + 1).sum());
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            bytes.push(SEPARATOR);
        }
        bytes.extend_from_slice(part);
    }
    bytes
}

/// The `objects` key of `key` in `bucket`; with an empty key, the start of
/// the bucket's range.
fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    composite_key(&[bucket.as_bytes(), key.as_bytes()])
}

fn upload_key(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    composite_key(&[bucket.as_bytes(), key.as_bytes(), upload_id.as_bytes()])
}

fn part_key(upload_id: &str, part_number: u32) -> Vec<u8> {
    composite_key(&[upload_id.as_bytes(), &part_number.to_be_bytes()])
}

/// The first key after every key that starts with `prefix`, when the byte
/// after the prefix is [`SEPARATOR`] or a UTF-8 byte.
fn after_prefix(mut prefix: Vec<u8>) -> Vec<u8> {
    prefix.push(AFTER_ALL_UTF8);
    prefix
}

/// The first key after every key of `bucket`'s range (`bucket`, 0x00, …).
fn bucket_range_end(bucket: &str) -> Vec<u8> {
    let mut end = bucket.as_bytes().to_vec();
    end.push(SEPARATOR + 1);
    end
}

fn get<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    key: &[u8],
) -> EngineResult<Option<T>> {
    table
        .get(key)
        .map_err(internal)?
        .map(|value| decode(value.value()))
        .transpose()
}

/// Every record of a table, in key order.
fn all<T: DeserializeOwned>(table: &impl ReadableTable<&'static [u8], &'static [u8]>) -> EngineResult<Vec<T>> {
    let mut records = Vec::new();
    for entry in table.iter().map_err(internal)? {
        let (_, value) = entry.map_err(internal)?;
        records.push(decode(value.value())?);
    }
    Ok(records)
}

fn require_bucket(txn_buckets: &impl ReadableTable<&'static [u8], &'static [u8]>, bucket: &str) -> EngineResult<()> {
    match txn_buckets.get(bucket.as_bytes()).map_err(internal)? {
        Some(_) => Ok(()),
        None => Err(EngineError::NoSuchBucket(bucket.to_owned())),
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

/// Removes an upload and all its parts in `txn`; returns the parts.
fn remove_upload(txn: &WriteTransaction, bucket: &str, key: &str, upload_id: &str) -> EngineResult<Vec<PartRecord>> {
    let mut uploads = txn.open_table(UPLOADS).map_err(internal)?;
    if uploads
        .remove(upload_key(bucket, key, upload_id).as_slice())
        .map_err(internal)?
        .is_none()
    {
        return Err(EngineError::NoSuchUpload(upload_id.to_owned()));
    }
    let mut parts_table = txn.open_table(PARTS).map_err(internal)?;
    let first = part_key(upload_id, 0);
    let end = after_prefix(upload_id.as_bytes().to_vec());
    let mut parts = Vec::new();
    for entry in parts_table
        .extract_from_if(first.as_slice()..end.as_slice(), |_, _| true)
        .map_err(internal)?
    {
        let (_, value) = entry.map_err(internal)?;
        parts.push(decode(value.value())?);
    }
    Ok(parts)
}

/// The metadata database.
pub struct Meta {
    db: Database,
}

impl Meta {
    pub fn open(path: &Path) -> EngineResult<Meta> {
        let db = Database::create(path).map_err(internal)?;
        let txn = db.begin_write().map_err(internal)?;
        for table in [BUCKETS, OBJECTS, UPLOADS, PARTS, BUCKET_CONFIGS, USERS, KEYS] {
            txn.open_table(table).map_err(internal)?;
        }
        txn.commit().map_err(internal)?;
        Ok(Meta { db })
    }

    /// Runs `work` in a write transaction and commits it durably if it succeeds.
    fn write<T>(&self, work: impl FnOnce(&WriteTransaction) -> EngineResult<T>) -> EngineResult<T> {
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
            if let Some(existing) = get::<BucketRecord>(&buckets, bucket.name.as_bytes())? {
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
        get(&buckets, name.as_bytes())?.ok_or_else(|| EngineError::NoSuchBucket(name.to_owned()))
    }

    pub fn list_buckets(&self) -> EngineResult<Vec<BucketRecord>> {
        all(&self.read()?.open_table(BUCKETS).map_err(internal)?)
    }

    /// Removes an empty bucket, aborting its uploads in progress; returns the
    /// parts of those uploads, whose data the caller frees.
    pub fn delete_bucket(&self, name: &str) -> EngineResult<Vec<PartRecord>> {
        self.write(|txn| {
            let mut buckets = txn.open_table(BUCKETS).map_err(internal)?;
            require_bucket(&buckets, name)?;
            let first = object_key(name, "");
            let objects = txn.open_table(OBJECTS).map_err(internal)?;
            let mut in_bucket = objects.range(first.as_slice()..).map_err(internal)?;
            if let Some(entry) = in_bucket.next() {
                let (key, _) = entry.map_err(internal)?;
                if key.value().starts_with(&first) {
                    return Err(EngineError::BucketNotEmpty(name.to_owned()));
                }
            }
            let mut uploads_in_bucket = Vec::new();
            {
                let uploads = txn.open_table(UPLOADS).map_err(internal)?;
                let end = bucket_range_end(name);
                for entry in uploads.range(first.as_slice()..end.as_slice()).map_err(internal)? {
                    let (_, value) = entry.map_err(internal)?;
                    uploads_in_bucket.push(decode::<UploadRecord>(value.value())?);
                }
            }
            let mut parts = Vec::new();
            for upload in uploads_in_bucket {
                parts.extend(remove_upload(txn, name, &upload.key, &upload.upload_id)?);
            }
            buckets.remove(name.as_bytes()).map_err(internal)?;
            let end = bucket_range_end(name);
            txn.open_table(BUCKET_CONFIGS)
                .map_err(internal)?
                .retain_in(first.as_slice()..end.as_slice(), |_, _| false)
                .map_err(internal)?;
            Ok(parts)
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
        self.write(|txn| replace_object(txn, bucket, object, condition))
    }

    pub fn object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> EngineResult<ObjectRecord> {
        let txn = self.read()?;
        require_bucket(&txn.open_table(BUCKETS).map_err(internal)?, bucket)?;
        let objects = txn.open_table(OBJECTS).map_err(internal)?;
        let object: ObjectRecord = match get(&objects, &object_key(bucket, key))? {
            Some(object) => object,
            None if version_id.is_some() => return Err(no_such_version(key, version_id)),
            None => return Err(EngineError::NoSuchKey(key.to_owned())),
        };
        match version_id {
            Some(wanted) if wanted != object.version_id => Err(no_such_version(key, version_id)),
            _ => Ok(object),
        }
    }

    pub fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        acl: Option<String>,
    ) -> EngineResult<()> {
        self.write(|txn| {
            require_bucket(&txn.open_table(BUCKETS).map_err(internal)?, bucket)?;
            let mut objects = txn.open_table(OBJECTS).map_err(internal)?;
            let id = object_key(bucket, key);
            let mut object = match get::<ObjectRecord>(&objects, &id)? {
                Some(object) if version_id.is_none_or(|wanted| wanted == object.version_id) => object,
                Some(_) => return Err(no_such_version(key, version_id)),
                None if version_id.is_some() => return Err(no_such_version(key, version_id)),
                None => return Err(EngineError::NoSuchKey(key.to_owned())),
            };
            object.acl = acl;
            objects
                .insert(id.as_slice(), encode(&object)?.as_slice())
                .map_err(internal)?;
            Ok(())
        })
    }

    /// Removes the current version of `key` if `version_id` names it (or is
    /// `None`); removing what is not there is not an error, as in S3.
    pub fn delete_object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> EngineResult<Replaced> {
        self.write(|txn| {
            require_bucket(&txn.open_table(BUCKETS).map_err(internal)?, bucket)?;
            let mut objects = txn.open_table(OBJECTS).map_err(internal)?;
            let id = object_key(bucket, key);
            let Some(current) = get::<ObjectRecord>(&objects, &id)? else {
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

    /// One page of the objects of a bucket; see [`ListQuery`].
    pub fn list_objects(&self, bucket: &str, query: &ListQuery) -> EngineResult<ListPage> {
        let start = query.start_after.as_deref().map(|after| object_key(bucket, after));
        self.list(OBJECTS, bucket, query, start, key_of_object)
    }

    /// One page of the uploads in progress in a bucket, by key then upload id.
    pub fn list_uploads(
        &self,
        bucket: &str,
        query: &ListQuery,
        upload_id_marker: Option<&str>,
    ) -> EngineResult<ListPage<UploadRecord>> {
        let start = query.start_after.as_deref().map(|after| match upload_id_marker {
            Some(upload_id) => upload_key(bucket, after, upload_id),
            None => after_prefix(object_key(bucket, after)),
        });
        self.list(UPLOADS, bucket, query, start, key_of_upload)
    }

    /// One page of a bucket's range of `table` with S3's listing semantics.
    /// `start_after` is the table key the page starts strictly after, and
    /// `key_of` finds the object key in a table key's part after the bucket.
    fn list<T: DeserializeOwned + Listed>(
        &self,
        table: Table,
        bucket: &str,
        query: &ListQuery,
        start_after: Option<Vec<u8>>,
        key_of: fn(&[u8]) -> &[u8],
    ) -> EngineResult<ListPage<T>> {
        let txn = self.read()?;
        require_bucket(&txn.open_table(BUCKETS).map_err(internal)?, bucket)?;
        let records = txn.open_table(table).map_err(internal)?;
        let bucket_start = object_key(bucket, "").len();
        let prefix_start = object_key(bucket, &query.prefix);
        let mut lower = match start_after {
            Some(after) if after > prefix_start => Bound::Excluded(after),
            _ => Bound::Included(prefix_start),
        };
        let upper = Bound::Excluded(bucket_range_end(bucket));

        let wanted = query.max_keys + 1;
        let mut entries: Vec<ListEntry<T>> = Vec::new();
        'seek: while entries.len() < wanted {
            let range = records
                .range::<&[u8]>((as_slice(&lower), as_slice(&upper)))
                .map_err(internal)?;
            for entry in range {
                let (stored_key, value) = entry.map_err(internal)?;
                let key = std::str::from_utf8(key_of(&stored_key.value()[bucket_start..])).map_err(internal)?;
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
                    lower = Bound::Excluded(after_prefix(object_key(bucket, common_prefix)));
                    continue 'seek;
                }
                entries.push(ListEntry::Item(Box::new(decode(value.value())?)));
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

    pub fn create_upload(&self, bucket: &str, upload: &UploadRecord) -> EngineResult<()> {
        self.write(|txn| {
            require_bucket(&txn.open_table(BUCKETS).map_err(internal)?, bucket)?;
            let mut uploads = txn.open_table(UPLOADS).map_err(internal)?;
            uploads
                .insert(
                    upload_key(bucket, &upload.key, &upload.upload_id).as_slice(),
                    encode(upload)?.as_slice(),
                )
                .map_err(internal)?;
            Ok(())
        })
    }

    pub fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> EngineResult<UploadRecord> {
        let txn = self.read()?;
        require_bucket(&txn.open_table(BUCKETS).map_err(internal)?, bucket)?;
        let uploads = txn.open_table(UPLOADS).map_err(internal)?;
        get(&uploads, &upload_key(bucket, key, upload_id))?
            .ok_or_else(|| EngineError::NoSuchUpload(upload_id.to_owned()))
    }

    /// Records a part if its upload still exists; returns the part it replaced.
    /// This check, in the same transaction as the insert, is what makes an
    /// abort definitive: once the abort commits, no part can.
    pub fn put_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part: &PartRecord,
    ) -> EngineResult<Option<PartRecord>> {
        self.write(|txn| {
            let uploads = txn.open_table(UPLOADS).map_err(internal)?;
            if uploads
                .get(upload_key(bucket, key, upload_id).as_slice())
                .map_err(internal)?
                .is_none()
            {
                return Err(EngineError::NoSuchUpload(upload_id.to_owned()));
            }
            let mut parts = txn.open_table(PARTS).map_err(internal)?;
            parts
                .insert(
                    part_key(upload_id, part.part_number).as_slice(),
                    encode(part)?.as_slice(),
                )
                .map_err(internal)?
                .map(|old| decode(old.value()))
                .transpose()
        })
    }

    pub fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        after: u32,
        max_parts: usize,
    ) -> EngineResult<(Vec<PartRecord>, bool)> {
        let txn = self.read()?;
        let uploads = txn.open_table(UPLOADS).map_err(internal)?;
        if uploads
            .get(upload_key(bucket, key, upload_id).as_slice())
            .map_err(internal)?
            .is_none()
        {
            return Err(EngineError::NoSuchUpload(upload_id.to_owned()));
        }
        let parts_table = txn.open_table(PARTS).map_err(internal)?;
        let first = part_key(upload_id, after);
        let end = after_prefix(upload_id.as_bytes().to_vec());
        let mut parts = Vec::new();
        let range = parts_table
            .range::<&[u8]>((Bound::Excluded(first.as_slice()), Bound::Excluded(end.as_slice())))
            .map_err(internal)?;
        for entry in range.take(max_parts + 1) {
            let (_, value) = entry.map_err(internal)?;
            parts.push(decode(value.value())?);
        }
        let truncated = parts.len() > max_parts;
        parts.truncate(max_parts);
        Ok((parts, truncated))
    }

    /// Ends an upload by committing `object`, whose segments must each be the
    /// part they name. Returns the replaced version and the parts left out.
    pub fn complete_upload(
        &self,
        bucket: &str,
        upload_id: &str,
        object: &ObjectRecord,
        condition: &WriteCondition,
    ) -> EngineResult<(Replaced, Vec<PartRecord>)> {
        self.write(|txn| {
            let mut unused = remove_upload(txn, bucket, &object.key, upload_id)?;
            for segment in &object.segments {
                let at = unused
                    .iter()
                    .position(|part| part.part_number == segment.part_number && part.blob == segment.blob)
                    .ok_or(EngineError::InvalidPart(segment.part_number))?;
                unused.swap_remove(at);
            }
            let replaced = replace_object(txn, bucket, object, condition)?;
            Ok((replaced, unused))
        })
    }

    /// Ends an upload without an object; returns its parts.
    pub fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> EngineResult<Vec<PartRecord>> {
        self.write(|txn| {
            require_bucket(&txn.open_table(BUCKETS).map_err(internal)?, bucket)?;
            remove_upload(txn, bucket, key, upload_id)
        })
    }

    pub fn put_bucket_config(&self, bucket: &str, kind: &str, document: Option<&[u8]>) -> EngineResult<()> {
        self.write(|txn| {
            require_bucket(&txn.open_table(BUCKETS).map_err(internal)?, bucket)?;
            let mut configs = txn.open_table(BUCKET_CONFIGS).map_err(internal)?;
            let id = object_key(bucket, kind);
            match document {
                Some(document) => configs.insert(id.as_slice(), document).map_err(internal)?,
                None => configs.remove(id.as_slice()).map_err(internal)?,
            };
            Ok(())
        })
    }

    pub fn bucket_config(&self, bucket: &str, kind: &str) -> EngineResult<Option<Vec<u8>>> {
        let txn = self.read()?;
        require_bucket(&txn.open_table(BUCKETS).map_err(internal)?, bucket)?;
        let configs = txn.open_table(BUCKET_CONFIGS).map_err(internal)?;
        let found = configs.get(object_key(bucket, kind).as_slice()).map_err(internal)?;
        Ok(found.map(|value| value.value().to_vec()))
    }

    pub fn create_user(&self, user: &UserRecord) -> EngineResult<()> {
        self.write(|txn| {
            let mut users = txn.open_table(USERS).map_err(internal)?;
            if users.get(user.name.as_bytes()).map_err(internal)?.is_some() {
                return Err(EngineError::UserExists(user.name.clone()));
            }
            users
                .insert(user.name.as_bytes(), encode(user)?.as_slice())
                .map_err(internal)?;
            Ok(())
        })
    }

    pub fn delete_user(&self, name: &str) -> EngineResult<Vec<KeyRecord>> {
        self.write(|txn| {
            let mut users = txn.open_table(USERS).map_err(internal)?;
            let Some(user) = get::<UserRecord>(&users, name.as_bytes())? else {
                return Err(EngineError::NoSuchUser(name.to_owned()));
            };
            for bucket in all::<BucketRecord>(&txn.open_table(BUCKETS).map_err(internal)?)? {
                if bucket.owner == user.id {
                    return Err(EngineError::UserOwnsBuckets(name.to_owned()));
                }
            }
            users.remove(name.as_bytes()).map_err(internal)?;
            let mut keys = txn.open_table(KEYS).map_err(internal)?;
            let mut removed = Vec::new();
            for entry in keys
                .extract_if(|_, value| decode::<KeyRecord>(value).is_ok_and(|key| key.user == name))
                .map_err(internal)?
            {
                let (_, value) = entry.map_err(internal)?;
                removed.push(decode(value.value())?);
            }
            Ok(removed)
        })
    }

    pub fn list_users(&self) -> EngineResult<Vec<UserRecord>> {
        all(&self.read()?.open_table(USERS).map_err(internal)?)
    }

    pub fn create_key(&self, key: &KeyRecord) -> EngineResult<()> {
        self.write(|txn| {
            if get::<UserRecord>(&txn.open_table(USERS).map_err(internal)?, key.user.as_bytes())?.is_none() {
                return Err(EngineError::NoSuchUser(key.user.clone()));
            }
            let mut keys = txn.open_table(KEYS).map_err(internal)?;
            if keys.get(key.access_key.as_bytes()).map_err(internal)?.is_some() {
                return Err(EngineError::AccessKeyExists(key.access_key.clone()));
            }
            keys.insert(key.access_key.as_bytes(), encode(key)?.as_slice())
                .map_err(internal)?;
            Ok(())
        })
    }

    pub fn update_key(&self, key: &KeyRecord) -> EngineResult<()> {
        self.write(|txn| {
            let mut keys = txn.open_table(KEYS).map_err(internal)?;
            if keys.get(key.access_key.as_bytes()).map_err(internal)?.is_none() {
                return Err(EngineError::NoSuchAccessKey(key.access_key.clone()));
            }
            keys.insert(key.access_key.as_bytes(), encode(key)?.as_slice())
                .map_err(internal)?;
            Ok(())
        })
    }

    pub fn delete_key(&self, access_key: &str) -> EngineResult<KeyRecord> {
        self.write(|txn| {
            let mut keys = txn.open_table(KEYS).map_err(internal)?;
            let removed = keys.remove(access_key.as_bytes()).map_err(internal)?;
            match removed {
                Some(value) => decode(value.value()),
                None => Err(EngineError::NoSuchAccessKey(access_key.to_owned())),
            }
        })
    }

    pub fn list_keys(&self) -> EngineResult<Vec<KeyRecord>> {
        all(&self.read()?.open_table(KEYS).map_err(internal)?)
    }

    /// Every data file name that some record refers to.
    pub fn referenced_blobs(&self) -> EngineResult<HashSet<String>> {
        let txn = self.read()?;
        let mut blobs = HashSet::new();
        for entry in txn.open_table(OBJECTS).map_err(internal)?.iter().map_err(internal)? {
            let (_, value) = entry.map_err(internal)?;
            let object: ObjectRecord = decode(value.value())?;
            blobs.extend(object.segments.into_iter().map(|segment| segment.blob));
        }
        for entry in txn.open_table(PARTS).map_err(internal)?.iter().map_err(internal)? {
            let (_, value) = entry.map_err(internal)?;
            blobs.insert(decode::<PartRecord>(value.value())?.blob);
        }
        Ok(blobs)
    }
}

/// The object key in an `objects` key's part after the bucket.
fn key_of_object(suffix: &[u8]) -> &[u8] {
    suffix
}

/// The object key in an `uploads` key's part after the bucket (key, 0x00, upload id).
fn key_of_upload(suffix: &[u8]) -> &[u8] {
    match suffix.iter().rposition(|b| *b == SEPARATOR) {
        Some(end) => &suffix[..end],
        None => suffix,
    }
}

/// Makes `object` the current version of its key in `txn` if `condition` holds.
fn replace_object(
    txn: &WriteTransaction,
    bucket: &str,
    object: &ObjectRecord,
    condition: &WriteCondition,
) -> EngineResult<Replaced> {
    require_bucket(&txn.open_table(BUCKETS).map_err(internal)?, bucket)?;
    let mut objects = txn.open_table(OBJECTS).map_err(internal)?;
    let id = object_key(bucket, &object.key);
    if *condition != WriteCondition::Always {
        match (condition, get::<ObjectRecord>(&objects, &id)?) {
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
}
