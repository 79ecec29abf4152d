//! Virtual-hosted–style addressing: which bucket, if any, a request's `Host`
//! header names.
//!
//! With `--domain example.com`, `Host: photos.example.com[:port]` addresses
//! bucket `photos`; `Host: example.com` and every other host (an IP address,
//! `localhost`, another name for the server) are path style, so path-style
//! requests keep working whatever name the client used. s3s's own
//! `SingleDomain` does not fit: it takes a host outside the domain for a
//! bucket (CNAME-style) and compares hosts with their port, so
//! `localhost:9000` would become a bucket name.

use std::borrow::Cow;

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

/// The base domain buckets are subdomains of.
pub struct BucketDomain {
    /// Lowercase, without a port.
    domain: String,
}

impl BucketDomain {
    /// `domain` may carry a port; it is ignored, as the port the client
    /// connected to says nothing about the bucket.
    pub fn new(domain: &str) -> BucketDomain {
        BucketDomain {
            domain: without_port(domain).trim_end_matches('.').to_ascii_lowercase(),
        }
    }
}

/// `host` without a trailing `:port`. IPv6 literals are bracketed, so their
/// colons are not mistaken for a port separator.
fn without_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

impl S3Host for BucketDomain {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        // DNS names are case-insensitive and may end in a root dot.
        let name = without_port(host).trim_end_matches('.').to_ascii_lowercase();
        let bucket = name
            .strip_suffix(self.domain.as_str())
            .and_then(|rest| rest.strip_suffix('.'))
            .filter(|bucket| !bucket.is_empty());
        let vhost = VirtualHost::new(Cow::Borrowed(self.domain.as_str()));
        Ok(match bucket {
            Some(bucket) => vhost.with_bucket(bucket.to_owned()),
            None => vhost,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(domain: &str, host: &str) -> Option<String> {
        let parser = BucketDomain::new(domain);
        let vhost = parser.parse_host_header(host).expect("every host parses");
        vhost.bucket().map(str::to_owned)
    }

    #[test]
    fn subdomains_of_the_domain_are_buckets() {
        assert_eq!(bucket("example.com", "photos.example.com").as_deref(), Some("photos"));
        assert_eq!(
            bucket("example.com", "photos.example.com:9000").as_deref(),
            Some("photos")
        );
        assert_eq!(bucket("example.com", "Photos.Example.COM.").as_deref(), Some("photos"));
        assert_eq!(
            bucket("example.com:9000", "my.photos.example.com").as_deref(),
            Some("my.photos")
        );
    }

    #[test]
    fn other_hosts_are_path_style() {
        for host in [
            "example.com",
            "example.com:9000",
            ".example.com",
            "localhost:9000",
            "myexample.com",
            "example.com.evil.org",
            "[::1]:9000",
        ] {
            assert_eq!(bucket("example.com", host), None, "{host}");
        }
    }
}
