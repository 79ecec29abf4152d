//! Reads what a listing shows of a version straight from its stored record.
//!
//! A stored [`coffer_engine::ObjectRecord`] is MessagePack with named fields.
//! Decoding it whole for every listed key (through serde, which checks every
//! field name and string as UTF-8 and allocates each) cost most of a
//! listing's time; a listing needs a handful of its fields. This walks the
//! record's map once, decodes those fields and steps over the rest by their
//! MessagePack lengths alone. It owns nothing but that walk; `meta` calls it.

use coffer_engine::{EngineError, EngineResult, ObjectSummary};
use rmp::Marker;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn malformed(what: &str) -> EngineError {
    EngineError::Internal(format!("malformed version record: {what}"))
}

/// The summary of the MessagePack map `bytes` (a record after its format
/// byte).
pub fn decode(mut bytes: &[u8]) -> EngineResult<ObjectSummary> {
    let input = &mut bytes;
    let fields = rmp::decode::read_map_len(input).map_err(|_| malformed("not a map"))?;
    let mut key = None;
    let mut size = 0;
    let mut etag = String::new();
    let mut last_modified = None;
    let mut owner = String::new();
    let mut checksums = ListedChecksum::default();
    let mut storage_class = None;
    let mut delete_marker = false;
    // One bit per listed field read; a record stores them first, so the
    // walk usually ends once all eight are in, before the fields it skips.
    let mut read: u8 = 0;
    for _ in 0..fields {
        let bit = match raw_str(input)? {
            b"key" => {
                key = Some(string(input)?);
                0
            }
            b"size" => {
                size = rmp::decode::read_int(input).map_err(|_| malformed("size"))?;
                1
            }
            b"etag" => {
                etag = string(input)?;
                2
            }
            b"last_modified" => {
                let text = std::str::from_utf8(raw_str(input)?).map_err(|_| malformed("last_modified"))?;
                last_modified = Some(OffsetDateTime::parse(text, &Rfc3339).map_err(|_| malformed("last_modified"))?);
                3
            }
            b"owner" => {
                owner = string(input)?;
                4
            }
            b"checksums" => {
                checksums = decode_checksums(input)?;
                5
            }
            b"storage_class" => {
                storage_class = optional_string(input)?;
                6
            }
            b"delete_marker" => {
                delete_marker = rmp::decode::read_bool(input).map_err(|_| malformed("delete_marker"))?;
                7
            }
            _ => {
                skip(input)?;
                continue;
            }
        };
        read |= 1 << bit;
        if read == u8::MAX {
            break;
        }
    }
    Ok(ObjectSummary {
        key: key.ok_or_else(|| malformed("no key"))?,
        size,
        etag,
        last_modified: last_modified.ok_or_else(|| malformed("no last_modified"))?,
        owner,
        checksum_algorithm: checksums.algorithm,
        checksum_type: checksums.checksum_type,
        storage_class,
        delete_marker,
    })
}

/// What a listing shows of a version's checksums.
#[derive(Default)]
struct ListedChecksum {
    algorithm: Option<&'static str>,
    checksum_type: Option<String>,
}

/// The fields of the stored checksums and their algorithms' S3 names, in
/// the order the S3 front end prefers one over another should several be
/// recorded.
const CHECKSUM_FIELDS: [(&[u8], &str); 5] = [
    (b"crc32", "CRC32"),
    (b"crc32c", "CRC32C"),
    (b"crc64nvme", "CRC64NVME"),
    (b"sha1", "SHA1"),
    (b"sha256", "SHA256"),
];

/// The stored checksums' algorithm and type; their values are stepped
/// over.
fn decode_checksums(input: &mut &[u8]) -> EngineResult<ListedChecksum> {
    let mut listed = ListedChecksum::default();
    let mut rank = CHECKSUM_FIELDS.len();
    let fields = rmp::decode::read_map_len(input).map_err(|_| malformed("checksums"))?;
    for _ in 0..fields {
        let field = raw_str(input)?;
        if field == b"checksum_type" {
            listed.checksum_type = optional_string(input)?;
            continue;
        }
        let is_null = input.first() == Some(&Marker::Null.to_u8());
        skip(input)?;
        match CHECKSUM_FIELDS.iter().position(|(name, _)| *name == field) {
            Some(position) if !is_null && position < rank => {
                rank = position;
                listed.algorithm = Some(CHECKSUM_FIELDS[position].1);
            }
            _ => {}
        }
    }
    Ok(listed)
}

/// The bytes of a string, unchecked.
fn raw_str<'a>(input: &mut &'a [u8]) -> EngineResult<&'a [u8]> {
    let len = rmp::decode::read_str_len(input).map_err(|_| malformed("expected a string"))? as usize;
    take(input, len)
}

fn string(input: &mut &[u8]) -> EngineResult<String> {
    String::from_utf8(raw_str(input)?.to_vec()).map_err(|_| malformed("a string is not UTF-8"))
}

fn optional_string(input: &mut &[u8]) -> EngineResult<Option<String>> {
    if input.first() == Some(&Marker::Null.to_u8()) {
        *input = &input[1..];
        return Ok(None);
    }
    string(input).map(Some)
}

fn take<'a>(input: &mut &'a [u8], len: usize) -> EngineResult<&'a [u8]> {
    if input.len() < len {
        return Err(malformed("cut short"));
    }
    let (taken, rest) = input.split_at(len);
    *input = rest;
    Ok(taken)
}

/// Steps over the next value, however nested.
fn skip(input: &mut &[u8]) -> EngineResult<()> {
    let mut pending: u64 = 1;
    while pending > 0 {
        pending -= 1;
        let marker = rmp::decode::read_marker(input).map_err(|_| malformed("cut short"))?;
        let (bytes, values) = match marker {
            Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => (0, 0),
            Marker::U8 | Marker::I8 => (1, 0),
            Marker::U16 | Marker::I16 => (2, 0),
            Marker::U32 | Marker::I32 | Marker::F32 => (4, 0),
            Marker::U64 | Marker::I64 | Marker::F64 => (8, 0),
            Marker::FixStr(len) => (len as usize, 0),
            Marker::Str8 | Marker::Bin8 => (length(input, 1)?, 0),
            Marker::Str16 | Marker::Bin16 => (length(input, 2)?, 0),
            Marker::Str32 | Marker::Bin32 => (length(input, 4)?, 0),
            Marker::FixArray(len) => (0, u64::from(len)),
            Marker::Array16 => (0, length(input, 2)? as u64),
            Marker::Array32 => (0, length(input, 4)? as u64),
            Marker::FixMap(len) => (0, 2 * u64::from(len)),
            Marker::Map16 => (0, 2 * length(input, 2)? as u64),
            Marker::Map32 => (0, 2 * length(input, 4)? as u64),
            Marker::FixExt1 => (2, 0),
            Marker::FixExt2 => (3, 0),
            Marker::FixExt4 => (5, 0),
            Marker::FixExt8 => (9, 0),
            Marker::FixExt16 => (17, 0),
            Marker::Ext8 => (length(input, 1)? + 1, 0),
            Marker::Ext16 => (length(input, 2)? + 1, 0),
            Marker::Ext32 => (length(input, 4)? + 1, 0),
            Marker::Reserved => return Err(malformed("reserved marker")),
        };
        take(input, bytes)?;
        pending += values;
    }
    Ok(())
}

/// A big-endian length of `width` bytes.
fn length(input: &mut &[u8], width: usize) -> EngineResult<usize> {
    let bytes = take(input, width)?;
    Ok(bytes.iter().fold(0usize, |len, &byte| (len << 8) | usize::from(byte)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use coffer_engine::{Checksums, ContentHeaders, LockRecord, ObjectRecord, Segment};

    use super::*;

    fn stored(record: &ObjectRecord) -> Vec<u8> {
        let mut bytes = Vec::new();
        rmp_serde::encode::write_named(&mut bytes, record).unwrap();
        bytes
    }

    /// The stored map with its fields in reverse order, as a record
    /// written before the listed fields came first may have them: after
    /// every other field.
    fn reversed(mut map: &[u8]) -> Vec<u8> {
        let input = &mut map;
        let fields = rmp::decode::read_map_len(input).unwrap();
        let mut pairs = Vec::new();
        for _ in 0..fields {
            let name = raw_str(input).unwrap();
            let before = *input;
            skip(input).unwrap();
            pairs.push((name, &before[..before.len() - input.len()]));
        }
        let mut bytes = Vec::new();
        rmp::encode::write_map_len(&mut bytes, fields).unwrap();
        for (name, value) in pairs.into_iter().rev() {
            rmp::encode::write_str(&mut bytes, std::str::from_utf8(name).unwrap()).unwrap();
            bytes.extend_from_slice(value);
        }
        bytes
    }

    #[test]
    fn reads_the_listed_fields_past_every_other_kind_of_value() {
        let record = ObjectRecord {
            key: "photos/é/2026.jpg".into(),
            version_id: "0000000000000007abcdef0123456789".into(),
            size: 5 << 40,
            etag: "9e107d9d372bb6826bd81d3542a419d6-3".into(),
            last_modified: OffsetDateTime::parse("2026-11-26T14:50:30.123456789Z", &Rfc3339).unwrap(),
            owner: "owner-id".into(),
            content: ContentHeaders {
                content_type: Some("image/jpeg".into()),
                ..ContentHeaders::default()
            },
            user_metadata: BTreeMap::from([("a".repeat(300), "b".repeat(70_000))]),
            checksums: Checksums {
                crc32: Some("AAAAAA==".into()),
                crc64nvme: Some("AAAAAAAAAAA=".into()),
                checksum_type: Some("FULL_OBJECT".into()),
                ..Checksums::default()
            },
            segments: vec![Segment {
                blob: "blob".into(),
                size: 3,
                salt: Some(vec![0xFF; 40]),
                ..Segment::default()
            }],
            storage_class: Some("STANDARD_IA".into()),
            tags: BTreeMap::from([("k".into(), "v".into())]),
            lock: Some(LockRecord {
                legal_hold: true,
                ..LockRecord::default()
            }),
            encryption: None,
            delete_marker: false,
            acl: Some("x".repeat(40)),
        };
        let summary = decode(&stored(&record)).unwrap();
        assert_eq!(
            decode(&reversed(&stored(&record))).unwrap(),
            summary,
            "the listed fields after all the others"
        );
        assert_eq!(
            summary,
            ObjectSummary {
                key: record.key.clone(),
                size: record.size,
                etag: record.etag.clone(),
                last_modified: record.last_modified,
                owner: record.owner.clone(),
                checksum_algorithm: Some("CRC32"),
                checksum_type: Some("FULL_OBJECT".into()),
                storage_class: record.storage_class.clone(),
                delete_marker: false,
            }
        );
        let marker = ObjectRecord::delete_marker("gone", "null".into(), "owner-id");
        let summary = decode(&stored(&marker)).unwrap();
        assert!(summary.delete_marker);
        assert_eq!(summary.storage_class, None);
        assert_eq!(summary.checksum_algorithm, None, "a marker records only null checksums");
    }

    #[test]
    fn a_cut_or_foreign_record_is_an_error_not_a_panic() {
        let whole = stored(&ObjectRecord::delete_marker("k", "null".into(), "o"));
        let summary = decode(&whole).unwrap();
        // The walk ends once it has read the listed fields, which come
        // first: a record cut after them reads the same, and one cut
        // before their end is an error.
        let listed_end = (0..whole.len())
            .find(|&len| decode(&whole[..len]).is_ok())
            .expect("the listed fields end before the record does");
        for len in 0..whole.len() {
            match decode(&whole[..len]) {
                Ok(cut) => assert!(len >= listed_end && cut == summary, "cut at {len}"),
                Err(_) => assert!(len < listed_end, "cut at {len}, past the listed fields"),
            }
        }
        assert!(decode(&[0xC1]).is_err());
        assert!(decode(&[0x81, 0xA3, b'k', b'e', b'y', 0xDB, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
    }
}
