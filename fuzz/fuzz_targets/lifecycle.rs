//! Lifecycle configurations (PutBucketLifecycleConfiguration): the XML body
//! parsed by s3s's deserializer as the operation receives it, checked and
//! converted by `Lifecycle::from_dto`, stored and read back, and answered by
//! GetBucketLifecycleConfiguration as XML that, put again, gives the same
//! rules. The rules are then asked what they want done with a spread of
//! versions and uploads, at times from the epoch to the far future.
#![no_main]

use std::collections::BTreeMap;

use coffer_s3::fuzzing::{Lifecycle, VersionFacts};
use s3s::dto::BucketLifecycleConfiguration;
use s3s::xml;
use time::OffsetDateTime;

fn parse(bytes: &[u8]) -> Option<BucketLifecycleConfiguration> {
    let mut d = xml::Deserializer::new(bytes);
    let config = <BucketLifecycleConfiguration as xml::Deserialize>::deserialize(&mut d).ok()?;
    d.expect_eof().ok()?;
    Some(config)
}

fn render(config: &BucketLifecycleConfiguration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = xml::Serializer::new(&mut out);
    xml::Serialize::serialize(config, &mut s).expect("a configuration renders");
    out
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(config) = parse(data) else {
        return;
    };
    let Ok(lifecycle) = Lifecycle::from_dto(&config) else {
        return;
    };
    let stored = Lifecycle::decode(&lifecycle.encode()).expect("a stored configuration reads back");
    assert_eq!(stored, lifecycle, "a configuration changed in storage");
    let answered = render(&lifecycle.to_dto());
    let again = parse(&answered)
        .unwrap_or_else(|| panic!("GET's answer does not parse: {}", String::from_utf8_lossy(&answered)));
    let again = Lifecycle::from_dto(&again).unwrap_or_else(|err| panic!("GET's answer is refused when put: {err:?}"));
    assert_eq!(again, lifecycle, "a configuration changed between GET and PUT");

    let mut tags = BTreeMap::new();
    tags.insert("team".to_owned(), "blue".to_owned());
    let times = [
        OffsetDateTime::UNIX_EPOCH,
        OffsetDateTime::from_unix_timestamp(1_767_225_600).expect("a time"),
        OffsetDateTime::from_unix_timestamp(253_402_300_799).expect("a time"),
    ];
    let empty = BTreeMap::new();
    for key in ["", "a/b.txt", "logs/2026/x", "ünï"] {
        for (size, tags) in [(0, &empty), (5, &tags), (u64::MAX, &tags)] {
            for last_modified in times {
                for now in times {
                    for (is_latest, is_delete_marker, noncurrent_since, only_version) in [
                        (true, false, None, true),
                        (true, true, None, true),
                        (false, false, Some(last_modified), false),
                        (false, true, Some(last_modified), false),
                    ] {
                        let facts = VersionFacts {
                            key,
                            size,
                            tags,
                            last_modified,
                            is_latest,
                            is_delete_marker,
                            noncurrent_since,
                            newer_noncurrent_versions: 3,
                            only_version,
                        };
                        let _ = lifecycle.object_action(&facts, now);
                    }
                    let _ = lifecycle.upload_action(key, last_modified, now);
                }
            }
        }
    }
});
