//! Which bucket names Coffer accepts: Amazon S3's rules, including the names
//! S3 reserves for its own features (access point aliases, Express One Zone,
//! multi-region access points, table buckets), which s3s does not check.

use s3s::validation::NameValidation;

/// Prefixes Amazon S3 refuses in bucket names.
const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
/// Suffixes Amazon S3 refuses in bucket names.
const RESERVED_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

pub struct BucketNames;

impl NameValidation for BucketNames {
    fn validate_bucket_name(&self, name: &str) -> bool {
        s3s::path::check_bucket_name(name)
            && !RESERVED_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
            && !RESERVED_SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_are_refused() {
        for name in [
            "bucket-s3alias",
            "b--ol-s3",
            "sthree-b",
            "amzn-s3-demo-b",
            "b--x-s3",
            "b.mrap",
            "b--table-s3",
        ] {
            assert!(!BucketNames.validate_bucket_name(name), "{name}");
        }
        for name in ["my-bucket", "s3alias-first", "a.b.c", "bucket-s3"] {
            assert!(BucketNames.validate_bucket_name(name), "{name}");
        }
        assert!(!BucketNames.validate_bucket_name("UPPER"));
    }
}
