//! Browser form uploads (POST Object), in the harness's text format: a
//! `POST /bucket` with a `multipart/form-data` body. First Coffer's own
//! reading of the form before s3s (`post_form.rs`: the fields up to the
//! file, `${filename}` in the key) on its own, which must hand s3s the body
//! it was given (the key rewritten at most) with a Content-Length to match;
//! then the whole request through the service: s3s's multipart parser,
//! the POST policy (signed by the harness where the form says
//! `{{POLICY-SIG}}`), and Coffer's upload.
#![no_main]

use coffer_fuzz::{Remembered, build_with_body, parse, server};
use futures::StreamExt;

libfuzzer_sys::fuzz_target!(
    init: {
        server();
    },
    |data: &[u8]| {
        let spec = parse(data);
        let Some((mut request, sent)) = build_with_body(spec.clone(), &Remembered::default()) else {
            return;
        };
        let rewrites = coffer_fuzz::find(&sent, b"${filename}").is_some();
        server().block_on(async {
            let Some(prepared) = coffer_s3::fuzzing::post_form(&mut request).await else {
                return;
            };
            if prepared.is_err() {
                return;
            }
            let declared = request
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            let mut body = Vec::new();
            let mut stream = std::mem::take(request.body_mut());
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(chunk) => body.extend_from_slice(&chunk),
                    Err(_) => return,
                }
            }
            if !rewrites {
                assert!(body == sent, "a form without ${{filename}} was changed");
            }
            if let Some(declared) = declared {
                assert_eq!(declared, body.len(), "Content-Length does not match the rewritten form");
            }
        });
        server().run(data);
    }
);
