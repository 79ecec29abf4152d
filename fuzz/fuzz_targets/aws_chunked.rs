//! aws-chunked bodies: a signed `PUT /fuzz/chunked` whose headers and
//! body come from the input (the harness's text format without the request
//! line). Unless the input says otherwise the body is
//! `STREAMING-UNSIGNED-PAYLOAD-TRAILER` with a CRC32 trailer; `{{SIG}}` in a
//! chunk header or the trailer becomes the right signature, so signed
//! streaming (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`) gets past the
//! signature checks to the framing. A PUT that succeeds on a strictly
//! well-formed body must store exactly its chunks' data.
#![no_main]

use coffer_fuzz::{Remembered, aws_chunked_data, build_with_body, parse, server};

const KEY: &str = "/fuzz/chunked";

libfuzzer_sys::fuzz_target!(
    init: {
        server();
    },
    |data: &[u8]| {
        let mut text = format!("PUT {KEY}\n").into_bytes();
        text.extend_from_slice(data);
        let mut spec = parse(&text);
        let has = |spec: &coffer_fuzz::Spec, name: &str| {
            spec.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        };
        if !has(&spec, "x-amz-content-sha256") {
            spec.headers.push((b"x-amz-content-sha256".to_vec(), b"STREAMING-UNSIGNED-PAYLOAD-TRAILER".to_vec()));
            if !has(&spec, "x-amz-trailer") {
                spec.headers.push((b"x-amz-trailer".to_vec(), b"x-amz-checksum-crc32".to_vec()));
            }
        }
        if !has(&spec, "content-encoding") {
            spec.headers.push((b"content-encoding".to_vec(), b"aws-chunked".to_vec()));
        }
        // A copy stores its source, and a cut body or one sealed with the
        // client's key cannot be compared.
        let comparable = !["x-amz-copy-source", "x-fuzz-cut", "x-amz-server-side-encryption-customer-key"]
            .iter()
            .any(|name| has(&spec, name));
        let Some((request, body)) = build_with_body(spec, &Remembered::default()) else {
            return;
        };
        // Headers hyper would refuse are left out, so the body may not be
        // aws-chunked after all.
        let streaming = request
            .headers()
            .get("x-amz-content-sha256")
            .is_some_and(|value| value.as_bytes().starts_with(b"STREAMING-"));
        let answer = server().serve(request);
        if !answer.status.is_success() || !comparable || !streaming {
            return;
        }
        let Some(expected) = aws_chunked_data(&body) else {
            return;
        };
        let stored = server().run(format!("GET {KEY}\n\n").as_bytes());
        let stored = stored.last().expect("one request");
        assert!(stored.status.is_success(), "a stored object cannot be read: {}", stored.status);
        assert!(
            stored.body == expected,
            "stored {} bytes, but the chunks carried {}",
            stored.body.len(),
            expected.len()
        );
    }
);
