//! Server-side encryption as S3 defines it: which key seals the data of a
//! new version (a customer's key with SSE-C, the server's master key with
//! SSE-S3, or the bucket's default), which key a read must present, and the
//! headers that report it. The engine does the sealing (`coffer-store`'s
//! `sealed` format); this module only chooses keys and checks requests. It
//! calls nothing but s3s's types and the engine's records.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use coffer_engine::{BucketEncryption, EncryptionRecord, ObjectRecord, SealingKey};
use s3s::crypto::Checksum as _;
use s3s::dto::ServerSideEncryption;
use s3s::{S3Error, S3Result, s3_error};

use crate::error::custom;
use crate::hashing::Md5;

/// The one algorithm S3 offers for server-managed and customer keys.
pub const AES256: &str = "AES256";

/// A key a client sent with SSE-C headers, checked against its MD5.
pub struct CustomerKey {
    key: SealingKey,
    /// Base64 MD5 of the key, as S3 reports it back.
    md5: String,
}

/// How the data of a new version is sealed, and how the version records it.
pub struct Sealing {
    pub key: SealingKey,
    pub record: EncryptionRecord,
}

/// The SSE-C headers of a request, by field name (object or copy source).
macro_rules! customer_key {
    ($algorithm:expr, $key:expr, $md5:expr) => {
        crate::sse::parse_customer_key($algorithm.as_deref(), $key.as_deref(), $md5.as_deref())
    };
}
pub(crate) use customer_key;

/// Sets the headers that report how a version is encrypted on an output with
/// S3's three encryption fields.
macro_rules! set_encryption {
    ($output:expr, $record:expr) => {
        if let Some(record) = $record {
            match &record.customer_key_md5 {
                Some(md5) => {
                    $output.sse_customer_algorithm = Some(record.algorithm.clone());
                    $output.sse_customer_key_md5 = Some(md5.clone());
                }
                None => {
                    $output.server_side_encryption =
                        Some(s3s::dto::ServerSideEncryption::from(record.algorithm.clone()));
                }
            }
        }
    };
}
pub(crate) use set_encryption;

fn invalid_argument(message: &'static str) -> S3Error {
    s3_error!(InvalidArgument, "{message}")
}

/// Reads the SSE-C headers: all three or none.
pub fn parse_customer_key(
    algorithm: Option<&str>,
    key: Option<&str>,
    md5: Option<&str>,
) -> S3Result<Option<CustomerKey>> {
    let (algorithm, key) = match (algorithm, key, md5) {
        (None, None, None) => return Ok(None),
        (Some(algorithm), Some(key), _) => (algorithm, key),
        (None, _, _) => {
            return Err(invalid_argument(
                "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
            ));
        }
        (Some(_), None, _) => {
            return Err(invalid_argument(
                "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.",
            ));
        }
    };
    if algorithm != AES256 {
        return Err(custom(
            "InvalidEncryptionAlgorithmError",
            http::StatusCode::BAD_REQUEST,
            "The Encryption request you specified is not valid. Supported value: AES256.",
        ));
    }
    let key: [u8; 32] = BASE64
        .decode(key)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| invalid_argument("The secret key was invalid for the specified algorithm."))?;
    let computed = BASE64.encode(Md5::checksum(&key));
    match md5 {
        None => Err(invalid_argument(
            "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.",
        )),
        Some(md5) if md5 != computed => Err(invalid_argument(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
        )),
        Some(_) => Ok(Some(CustomerKey {
            key: SealingKey(key),
            md5: computed,
        })),
    }
}

/// Chooses how a new version is sealed: with the customer's key, with the
/// server's key when `x-amz-server-side-encryption` (or else the bucket's
/// default) asks for AES256, or not at all.
pub fn sealing_for_write(
    master: &SealingKey,
    requested: Option<&ServerSideEncryption>,
    customer: Option<CustomerKey>,
    default: Option<&BucketEncryption>,
) -> S3Result<Option<Sealing>> {
    if let Some(customer) = customer {
        if requested.is_some() {
            return Err(invalid_argument(
                "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
            ));
        }
        return Ok(Some(Sealing {
            key: customer.key,
            record: EncryptionRecord {
                algorithm: AES256.to_owned(),
                key_id: None,
                customer_key_md5: Some(customer.md5),
            },
        }));
    }
    let algorithm = match requested {
        Some(requested) => Some(requested.as_str()),
        None => default.map(|default| default.algorithm.as_str()),
    };
    match algorithm {
        None => Ok(None),
        Some(AES256) => Ok(Some(Sealing {
            key: master.clone(),
            record: EncryptionRecord {
                algorithm: AES256.to_owned(),
                key_id: None,
                customer_key_md5: None,
            },
        })),
        Some(ServerSideEncryption::AWS_KMS | ServerSideEncryption::AWS_KMS_DSSE) => Err(s3_error!(
            NotImplemented,
            "Coffer has no key management service; use AES256 or customer-provided keys."
        )),
        Some(_) => Err(invalid_argument("The encryption method specified is not supported")),
    }
}

/// The key that opens `object`'s data, given the SSE-C key the request
/// presented: the customer's key for SSE-C (which the request must repeat,
/// else 400, and exactly, else 403), the server's for SSE-S3.
pub fn key_for_read(
    master: &SealingKey,
    object: &ObjectRecord,
    customer: Option<&CustomerKey>,
) -> S3Result<Option<SealingKey>> {
    let Some(encryption) = &object.encryption else {
        return match customer {
            Some(_) => Err(s3_error!(
                InvalidRequest,
                "The encryption parameters are not applicable to this object."
            )),
            None => Ok(None),
        };
    };
    match (&encryption.customer_key_md5, customer) {
        (Some(stored), Some(customer)) if *stored == customer.md5 => Ok(Some(customer.key.clone())),
        (Some(_), Some(_)) => Err(s3_error!(AccessDenied, "Access Denied")),
        (Some(_), None) => Err(s3_error!(
            InvalidRequest,
            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
        )),
        (None, Some(_)) => Err(s3_error!(
            InvalidRequest,
            "The encryption parameters are not applicable to this object."
        )),
        (None, None) => Ok(Some(master.clone())),
    }
}

/// The key that seals a new part of an upload created with `upload`
/// encryption; a part of an SSE-C upload must repeat the upload's key.
pub fn sealing_for_part(
    master: &SealingKey,
    upload: Option<&EncryptionRecord>,
    customer: Option<CustomerKey>,
) -> S3Result<Option<SealingKey>> {
    let expected = upload.and_then(|encryption| encryption.customer_key_md5.as_ref());
    match (upload, expected, customer) {
        (None, _, None) => Ok(None),
        (None, _, Some(_)) => Err(invalid_argument(
            "The multipart upload initiate did not request encryption, so parts must not include encryption parameters.",
        )),
        (Some(_), None, None) => Ok(Some(master.clone())),
        (Some(_), Some(expected), Some(customer)) if *expected == customer.md5 => Ok(Some(customer.key)),
        (Some(_), Some(_), None) => Err(s3_error!(
            InvalidRequest,
            "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters."
        )),
        (Some(_), _, Some(_)) => Err(invalid_argument(
            "The provided encryption parameters did not match the ones used originally.",
        )),
    }
}
