use time::OffsetDateTime;

use crate::{ObjectRecord, UploadRecord};

/// A request for one page of a bucket listing, with S3's listing semantics.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only keys that start with this.
    pub prefix: String,
    /// Group keys that contain this after the prefix into common prefixes.
    pub delimiter: Option<String>,
    /// Only keys (and common prefixes) strictly after this, in byte order.
    pub start_after: Option<String>,
    /// At most this many entries (items and common prefixes together).
    pub max_keys: usize,
}

/// What a listing lists: each item belongs to an object key.
pub trait Listed {
    fn key(&self) -> &str;
}

/// What a listing of current versions shows of a version: the parts of its
/// [`ObjectRecord`] that ListObjects answers with, read without the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectSummary {
    pub key: String,
    pub size: u64,
    /// As in [`ObjectRecord::etag`]: unquoted.
    pub etag: String,
    pub last_modified: OffsetDateTime,
    pub owner: String,
    /// S3's name of the algorithm of the version's checksum (`CRC32`,
    /// `CRC32C`, `CRC64NVME`, `SHA1` or `SHA256`), if it has one: a
    /// listing names the algorithm, never the value.
    pub checksum_algorithm: Option<&'static str>,
    /// As in [`crate::Checksums::checksum_type`].
    pub checksum_type: Option<String>,
    pub storage_class: Option<String>,
    pub delete_marker: bool,
}

impl Listed for ObjectSummary {
    fn key(&self) -> &str {
        &self.key
    }
}

impl Listed for ObjectRecord {
    fn key(&self) -> &str {
        &self.key
    }
}

/// One entry of a listing of versions: a version or delete marker, and
/// whether it is its key's current version.
#[derive(Debug, Clone)]
pub struct ListedVersion {
    pub object: ObjectRecord,
    pub is_latest: bool,
}

impl Listed for ListedVersion {
    fn key(&self) -> &str {
        &self.object.key
    }
}

impl Listed for UploadRecord {
    fn key(&self) -> &str {
        &self.key
    }
}

/// One entry of a listing: an item, or a common prefix that stands for many.
#[derive(Debug, Clone)]
pub enum ListEntry<T = ObjectRecord> {
    Item(Box<T>),
    CommonPrefix(String),
}

impl<T: Listed> ListEntry<T> {
    /// The key or prefix this entry sorts by.
    pub fn sort_key(&self) -> &str {
        match self {
            ListEntry::Item(item) => item.key(),
            ListEntry::CommonPrefix(prefix) => prefix,
        }
    }
}

/// One page of a listing, in UTF-8 byte order of keys.
#[derive(Debug, Clone)]
pub struct ListPage<T = ObjectSummary> {
    pub entries: Vec<ListEntry<T>>,
    /// True when entries remain after the last one returned.
    pub truncated: bool,
}

impl<T> ListPage<T> {
    /// The items of the page, in order, where they are.
    pub fn items(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().filter_map(|entry| match entry {
            ListEntry::Item(item) => Some(&**item),
            ListEntry::CommonPrefix(_) => None,
        })
    }

    /// The common prefixes of the page, in order.
    pub fn into_prefixes(self) -> Vec<String> {
        self.entries
            .into_iter()
            .filter_map(|entry| match entry {
                ListEntry::Item(_) => None,
                ListEntry::CommonPrefix(prefix) => Some(prefix),
            })
            .collect()
    }

    /// The items and the common prefixes of the page, apart, in order.
    pub fn split(self) -> (Vec<T>, Vec<String>) {
        let mut items = Vec::new();
        let mut prefixes = Vec::new();
        for entry in self.entries {
            match entry {
                ListEntry::Item(item) => items.push(*item),
                ListEntry::CommonPrefix(prefix) => prefixes.push(prefix),
            }
        }
        (items, prefixes)
    }
}
