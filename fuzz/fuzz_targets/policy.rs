//! Bucket policy JSON (PutBucketPolicy, `policy.rs`): parsed and checked for
//! bucket `fuzz`, then evaluated for a spread of requests — anonymous and
//! signed callers, bucket and object actions, with the condition keys Coffer
//! fills in. Refusals must be `MalformedPolicy` errors; nothing may panic.
#![no_main]

use std::collections::HashMap;

use coffer_s3::fuzzing::{Policy, PolicyRequest, Principal, Verdict};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(policy) = Policy::parse(data, "fuzz") else {
        return;
    };
    let _ = policy.is_public();
    let principals = [
        Principal::Anonymous,
        Principal::User {
            id: "a1b2".into(),
            name: "alice".into(),
        },
    ];
    let actions = ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteBucketPolicy"];
    let resources = [
        "arn:aws:s3:::fuzz",
        "arn:aws:s3:::fuzz/a/b.txt",
        "arn:aws:s3:::fuzz/ünï/*?",
    ];
    let contexts: [HashMap<String, String>; 2] = [
        HashMap::new(),
        [
            ("aws:sourceip", "192.0.2.7"),
            ("aws:securetransport", "false"),
            ("aws:username", "alice"),
            ("aws:userid", "a1b2"),
            ("s3:prefix", "a/"),
            ("s3:delimiter", "/"),
            ("s3:max-keys", "10"),
            ("s3:x-amz-acl", "public-read"),
            ("s3:existingobjecttag/team", "blue"),
            ("aws:currenttime", "2026-01-01T00:00:00Z"),
            ("aws:epochtime", "1767225600"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    ];
    for principal in &principals {
        for action in actions {
            for resource in resources {
                for context in &contexts {
                    let request = PolicyRequest {
                        principal,
                        action,
                        resource,
                        context,
                    };
                    let verdict = policy.evaluate(&request);
                    // Evaluation is a function of the request.
                    assert_eq!(verdict, policy.evaluate(&request));
                    let _ = matches!(verdict, Verdict::Allow | Verdict::Deny | Verdict::Silent);
                }
            }
        }
    }
});
