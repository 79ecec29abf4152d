//! The whole request path: requests written in the harness's text format
//! (`fuzz/src/lib.rs`), signed by the harness unless they say otherwise, go
//! through `coffer_s3::service` as hyper would hand them over. Every one
//! must be answered with a status — an S3 error at worst, never a panic or
//! a 500. This covers s3s's routing, SigV4 (header and presigned),
//! aws-chunked decoding and XML parsing, and all of Coffer's operations.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: {
        coffer_fuzz::server();
    },
    |data: &[u8]| {
        coffer_fuzz::server().run(data);
    }
);
