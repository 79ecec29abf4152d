//! Virtual-hosted–style addressing (`coffer serve --domain`): raw SigV4
//! requests whose Host names the bucket, sent to the server's address, so
//! no name needs to resolve.

use std::time::SystemTime;

use crate::common::*;

const DOMAIN: &str = "localhost.test";

/// A request signed for, and sent with, `Host: host`.
fn request_as(s: &Server, host: &str, method: &str, path: &str, query: &[(&str, &str)], body: &[u8]) -> RawResponse {
    let mut headers = Vec::new();
    let target = s.signer().sign(
        method,
        path,
        query,
        &mut headers,
        host,
        &sha256_hex(body),
        SystemTime::now(),
    );
    raw_request(s.addr, method, &target, &headers, body)
}

#[tokio::test]
async fn bucket_subdomains_address_buckets() {
    let s = Server::start_with_args(&["--domain", DOMAIN]);
    let bucket = s.new_bucket("vhost").await;
    let host = format!("{bucket}.{DOMAIN}:{}", s.addr.port());

    let resp = request_as(&s, &host, "PUT", "/dir/object.txt", &[], b"virtually hosted");
    assert_eq!(resp.status, 200, "{resp}");
    let resp = request_as(&s, &host, "GET", "/dir/object.txt", &[], b"");
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(resp.body, b"virtually hosted");
    // The same object, path style, through the SDK.
    assert_eq!(s.get(&bucket, "dir/object.txt").await, b"virtually hosted");

    let resp = request_as(&s, &host, "GET", "/", &[("list-type", "2")], b"");
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(xml_tags(&resp.text(), "Key"), ["dir/object.txt"]);
    assert_eq!(resp.xml("Name").as_deref(), Some(bucket.as_str()));

    // Host names are case-insensitive.
    let shouting = format!("{}.LOCALHOST.TEST:{}", bucket.to_uppercase(), s.addr.port());
    let resp = request_as(&s, &shouting, "HEAD", "/dir/object.txt", &[], b"");
    assert_eq!(resp.status, 200, "{resp}");

    let resp = request_as(&s, &host, "DELETE", "/dir/object.txt", &[], b"");
    assert_eq!(resp.status, 204, "{resp}");
    let resp = request_as(&s, &host, "GET", "/dir/object.txt", &[], b"");
    resp.assert_s3_error(404, "NoSuchKey");
}

#[tokio::test]
async fn the_domain_itself_and_other_hosts_are_path_style() {
    let s = Server::start_with_args(&["--domain", DOMAIN]);
    let bucket = s.new_bucket("vhost").await;
    s.put(&bucket, "k", "path style").await;

    for host in [
        format!("{DOMAIN}:{}", s.addr.port()),
        format!("localhost:{}", s.addr.port()),
    ] {
        let resp = request_as(&s, &host, "GET", "/", &[], b"");
        assert_eq!(resp.status, 200, "{host}: {resp}");
        assert!(xml_tags(&resp.text(), "Name").contains(&bucket), "{host}: {resp}");
        let resp = request_as(&s, &host, "GET", &format!("/{bucket}/k"), &[], b"");
        assert_eq!(resp.status, 200, "{host}: {resp}");
        assert_eq!(resp.body, b"path style");
    }

    let resp = request_as(&s, &format!("no-such-bucket.{DOMAIN}"), "GET", "/k", &[], b"");
    resp.assert_s3_error(404, "NoSuchBucket");
}

#[tokio::test]
async fn without_a_domain_hosts_do_not_name_buckets() {
    let s = Server::start().await;
    let bucket = s.new_bucket("vhost").await;
    s.put(&bucket, "k", "path style").await;
    let resp = request_as(
        &s,
        &format!("{bucket}.{DOMAIN}"),
        "GET",
        &format!("/{bucket}/k"),
        &[],
        b"",
    );
    assert_eq!(resp.status, 200, "{resp}");
    assert_eq!(resp.body, b"path style");
}
