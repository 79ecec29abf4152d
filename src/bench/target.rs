//! The requests a run sends: one method per operation, each checking its
//! answer and returning what it moved. The payload is made and hashed once
//! and every request shares it, so the load generator spends its time on
//! the wire rather than on making data.

use anyhow::{Context, bail};
use bytes::Bytes;
use http::Method;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::client::{Payload, SigningClient};

/// ListObjectsV2's largest page, and so the fewest requests per key.
const LIST_PAGE: u32 = 1000;
/// Error bodies are read this far for their code and message.
const ERROR_BODY_MAX: usize = 4 << 10;

/// A request body and its SHA-256, hex, for the signature.
struct Body {
    bytes: Bytes,
    sha256: String,
}

impl Body {
    fn new(bytes: Bytes, hash: bool) -> Body {
        let sha256 = if hash {
            hex::encode(Sha256::digest(&bytes))
        } else {
            String::new()
        };
        Body { bytes, sha256 }
    }
}

/// How requests are sent and what they carry.
pub struct Options {
    pub bucket: String,
    /// Every key of the run starts with this, so runs never collide.
    pub prefix: String,
    pub object_size: u64,
    /// Multipart uploads only.
    pub part_size: Option<u64>,
    /// No signatures, no S3: PUT, GET, HEAD and DELETE of `/bucket/key`.
    pub plain: bool,
    /// `UNSIGNED-PAYLOAD` rather than the body's hash.
    pub unsigned_payload: bool,
}

pub struct Target {
    client: SigningClient,
    options: Options,
    /// A whole object, or a whole part for multipart uploads.
    body: Body,
    /// A multipart upload's shorter last part, when the size asks for one.
    last_part: Option<Body>,
    /// The body of GETs, HEADs and DELETEs.
    empty: Body,
}

/// One page of a listing.
pub struct Page {
    pub keys: u64,
    pub next: Option<String>,
}

impl Target {
    pub fn new(client: SigningClient, options: Options) -> anyhow::Result<Target> {
        let whole = options
            .part_size
            .unwrap_or(options.object_size)
            .min(options.object_size);
        let mut data = vec![0; usize::try_from(whole).context("the object size exceeds memory")?];
        // Random, so that no compression on the way makes a run look faster.
        rand::rng().fill_bytes(&mut data);
        let data = Bytes::from(data);
        let hash = !(options.plain || options.unsigned_payload);
        let last_part = options.part_size.and_then(|part| {
            let rest = options.object_size % part;
            (rest > 0 && options.object_size > part).then(|| Body::new(data.slice(..rest as usize), hash))
        });
        Ok(Target {
            client,
            body: Body::new(data, hash),
            last_part,
            empty: Body::new(Bytes::new(), hash),
            options,
        })
    }

    /// Creates the bucket, unless it is already ours; plain servers are
    /// expected to create directories on PUT.
    pub async fn create_bucket(&self) -> anyhow::Result<()> {
        if self.options.plain {
            return Ok(());
        }
        let response = self
            .client
            .send(Method::PUT, &format!("/{}", self.options.bucket), Bytes::new())
            .await?;
        if response.status.is_success() || response.text().contains("<Code>BucketAlreadyOwnedByYou</Code>") {
            return Ok(());
        }
        let request_id = response
            .headers
            .get("x-amz-request-id")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("none");
        bail!(
            "creating bucket {}: {} {} (request id {request_id})",
            self.options.bucket,
            response.status,
            response.text()
        )
    }

    pub async fn put(&self, id: u64) -> anyhow::Result<u64> {
        let response = self.send(Method::PUT, &self.object_path(id), &self.body).await?;
        // Read to the end, or the connection cannot go back to the pool.
        drain(check(response).await?).await?;
        Ok(self.body.bytes.len() as u64)
    }

    pub async fn get(&self, id: u64) -> anyhow::Result<u64> {
        let response = self.send(Method::GET, &self.object_path(id), &self.empty).await?;
        let body = check(response).await?;
        let read = drain(body).await?;
        if read != self.options.object_size {
            bail!("read {read} bytes of a {}-byte object", self.options.object_size);
        }
        Ok(read)
    }

    pub async fn head(&self, id: u64) -> anyhow::Result<u64> {
        let response = self.send(Method::HEAD, &self.object_path(id), &self.empty).await?;
        drain(check(response).await?).await?;
        Ok(0)
    }

    pub async fn delete(&self, id: u64) -> anyhow::Result<u64> {
        let response = self.send(Method::DELETE, &self.object_path(id), &self.empty).await?;
        drain(check(response).await?).await?;
        Ok(0)
    }

    /// Deletes a run's object after it, when some may be gone already: S3
    /// answers 204 for those, plain servers 404.
    pub async fn remove(&self, id: u64) -> anyhow::Result<u64> {
        let response = self.send(Method::DELETE, &self.object_path(id), &self.empty).await?;
        if response.status() == http::StatusCode::NOT_FOUND {
            drain(response.into_body()).await?;
            return Ok(0);
        }
        drain(check(response).await?).await?;
        Ok(0)
    }

    /// One ListObjectsV2 page of the run's keys, from `after` (a
    /// continuation token) or from the start.
    pub async fn list_page(&self, after: Option<&str>) -> anyhow::Result<Page> {
        if self.options.plain {
            bail!("plain HTTP servers have no listing");
        }
        let mut path = format!(
            "/{}?list-type=2&max-keys={LIST_PAGE}&prefix={}",
            self.options.bucket,
            percent_encode(&self.options.prefix)
        );
        if let Some(token) = after {
            path.push_str("&continuation-token=");
            path.push_str(&percent_encode(token));
        }
        let response = self.send(Method::GET, &path, &self.empty).await?;
        let body = check(response).await?;
        let xml = body.collect().await.context("reading the listing")?.to_bytes();
        let xml = std::str::from_utf8(&xml).context("the listing is not UTF-8")?;
        Ok(Page {
            keys: xml.matches("<Key>").count() as u64,
            next: element(xml, "NextContinuationToken").map(xml_unescape),
        })
    }

    /// A whole multipart upload, its parts one after another; an upload that
    /// fails is aborted.
    pub async fn multipart(&self, id: u64) -> anyhow::Result<u64> {
        if self.options.plain {
            bail!("plain HTTP servers have no multipart uploads");
        }
        let path = self.object_path(id);
        let created = self
            .client
            .expect_success(Method::POST, &format!("{path}?uploads"), Bytes::new())
            .await
            .context("creating the upload")?;
        let Some(upload_id) = element(&created.text(), "UploadId").map(xml_unescape) else {
            bail!("CreateMultipartUpload answered no UploadId");
        };
        let upload = format!("{path}?uploadId={}", percent_encode(&upload_id));
        let result = self.upload_parts(&path, &upload_id, &upload).await;
        if result.is_err() {
            let _ = self.send(Method::DELETE, &upload, &self.empty).await;
        }
        result
    }

    async fn upload_parts(&self, path: &str, upload_id: &str, upload: &str) -> anyhow::Result<u64> {
        let part_size = self.body.bytes.len() as u64;
        let parts = self.options.object_size.div_ceil(part_size).max(1);
        let mut complete = String::from("<CompleteMultipartUpload>");
        for number in 1..=parts {
            let body = match &self.last_part {
                Some(last) if number == parts => last,
                _ => &self.body,
            };
            let part_path = format!("{path}?partNumber={number}&uploadId={}", percent_encode(upload_id));
            let response = self.send(Method::PUT, &part_path, body).await?;
            let etag = response
                .headers()
                .get(http::header::ETAG)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            drain(check(response).await.with_context(|| format!("part {number}"))?).await?;
            let Some(etag) = etag else {
                bail!("part {number} came back without an ETag")
            };
            complete.push_str(&format!(
                "<Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part>"
            ));
        }
        complete.push_str("</CompleteMultipartUpload>");
        let completed = self
            .client
            .expect_success(Method::POST, upload, Bytes::from(complete))
            .await
            .context("completing the upload")?;
        // S3 may answer 200 and still fail, in the body.
        if !completed.text().contains("<CompleteMultipartUploadResult") {
            bail!("completing the upload: {}", completed.text());
        }
        Ok(self.options.object_size)
    }

    fn object_path(&self, id: u64) -> String {
        format!("/{}/{}{id}", self.options.bucket, self.options.prefix)
    }

    async fn send(&self, method: Method, path: &str, body: &Body) -> anyhow::Result<http::Response<Incoming>> {
        let payload = if self.options.unsigned_payload {
            Payload::Unsigned
        } else {
            Payload::Precomputed(&body.sha256)
        };
        self.client
            .send_streaming(method, path, body.bytes.clone(), payload)
            .await
    }
}

/// Passes a success through; anything else becomes an error with the status
/// and S3's code and message. Any success will do: nginx answers PUT with
/// 201 where S3 has 200.
async fn check(response: http::Response<Incoming>) -> anyhow::Result<Incoming> {
    let (parts, body) = response.into_parts();
    if parts.status.is_success() {
        return Ok(body);
    }
    let text = body.collect().await.map(|body| body.to_bytes()).unwrap_or_default();
    let text = String::from_utf8_lossy(&text[..text.len().min(ERROR_BODY_MAX)]).into_owned();
    let detail = match (element(&text, "Code"), element(&text, "Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => text.trim().to_owned(),
    };
    bail!("{} {detail}", parts.status)
}

/// Reads a body to its end, counting and dropping it.
async fn drain(mut body: Incoming) -> anyhow::Result<u64> {
    let mut read = 0;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame.context("reading the body")?.data_ref() {
            read += data.len() as u64;
        }
    }
    Ok(read)
}

/// The text of the first `<name>` element: S3's answers here are flat enough
/// that a parser would only add cost.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))?;
    Some(&xml[start..start + end])
}

fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Percent-encodes all but RFC 3986's unreserved characters, as SigV4's
/// canonical query string has them.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_and_escapes() {
        let xml = "<R><Key>a</Key><Key>b</Key><NextContinuationToken>x&amp;y</NextContinuationToken></R>";
        assert_eq!(element(xml, "Key"), Some("a"));
        assert_eq!(
            element(xml, "NextContinuationToken").map(xml_unescape).as_deref(),
            Some("x&y")
        );
        assert_eq!(element(xml, "UploadId"), None);
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode("bench-ab12/"), "bench-ab12%2F");
        assert_eq!(percent_encode("a+b=c~"), "a%2Bb%3Dc~");
    }
}
