use crate::ObjectRecord;

/// A request for one page of a bucket listing, with S3's listing semantics.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only keys that start with this.
    pub prefix: String,
    /// Group keys that contain this after the prefix into common prefixes.
    pub delimiter: Option<String>,
    /// Only keys (and common prefixes) strictly after this, in byte order.
    pub start_after: Option<String>,
    /// At most this many keys and common prefixes together.
    pub max_keys: usize,
}

/// One item of a listing: an object, or a common prefix that stands for many.
#[derive(Debug, Clone)]
pub enum ListEntry {
    Object(Box<ObjectRecord>),
    CommonPrefix(String),
}

impl ListEntry {
    /// The key or prefix this entry sorts by; the next page starts after it.
    pub fn sort_key(&self) -> &str {
        match self {
            ListEntry::Object(object) => &object.key,
            ListEntry::CommonPrefix(prefix) => prefix,
        }
    }
}

/// One page of a listing, in UTF-8 byte order of keys.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub entries: Vec<ListEntry>,
    /// True when entries remain after the last one returned.
    pub truncated: bool,
}
