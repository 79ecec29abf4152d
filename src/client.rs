//! A SigV4-signing HTTP client for Coffer's own commands (`coffer admin`,
//! and the load generator). It signs each request with the given keys, the
//! way any S3 client would, and reads the whole response, or hands it back
//! unread to a caller that streams it.

use std::time::SystemTime;

use anyhow::{Context, bail};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The SigV4 service name S3 and Coffer's admin API are signed for.
const SERVICE: &str = "s3";

/// A response, read whole.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// The body as text, for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How [`SigningClient::send_streaming`] names the payload in the signature.
pub enum Payload<'a> {
    /// The body's SHA-256 in hex, hashed once by the caller: a load generator
    /// sending one body many times must not pay for hashing it each time.
    Precomputed(&'a str),
    /// `UNSIGNED-PAYLOAD`, so the server does not hash the body either.
    Unsigned,
}

/// Signs and sends requests to one endpoint with one key pair, or with none.
#[derive(Clone)]
pub struct SigningClient {
    endpoint: String,
    /// `None` sends requests unsigned: anonymous S3 access, or plain HTTP
    /// servers the load generator measures for comparison.
    credentials: Option<Credentials>,
    region: String,
    http: HyperClient<HttpConnector, Full<Bytes>>,
}

impl SigningClient {
    /// `endpoint` is `http://host:port`, without a path.
    pub fn new(endpoint: &str, access_key: &str, secret_key: &str, region: &str) -> SigningClient {
        SigningClient {
            credentials: Some(Credentials::new(access_key, secret_key, None, None, "coffer")),
            region: region.to_owned(),
            ..SigningClient::anonymous(endpoint)
        }
    }

    /// A client that sends every request unsigned.
    pub fn anonymous(endpoint: &str) -> SigningClient {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        SigningClient {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            credentials: None,
            region: String::new(),
            http: HyperClient::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// Sends `method path_and_query` with `body`, signed with a payload hash.
    pub async fn send(&self, method: Method, path_and_query: &str, body: Bytes) -> anyhow::Result<Response> {
        let mut request = self.request(method, path_and_query, &body)?;
        self.sign(&mut request, SignableBody::Bytes(&body))?;
        let response = self.http.request(request).await.context("sending the request")?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.context("reading the response")?.to_bytes();
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// Like [`Self::send`], but fails unless the answer is a success.
    pub async fn expect_success(&self, method: Method, path_and_query: &str, body: Bytes) -> anyhow::Result<Response> {
        let response = self.send(method, path_and_query, body).await?;
        if !response.status.is_success() {
            bail!("{}: {}", response.status, response.text());
        }
        Ok(response)
    }

    /// Sends `method path_and_query` with `body` and returns the response
    /// with its body unread, for callers that stream or discard it: reading
    /// a large object whole would cost a copy the server never made.
    pub async fn send_streaming(
        &self,
        method: Method,
        path_and_query: &str,
        body: Bytes,
        payload: Payload<'_>,
    ) -> anyhow::Result<http::Response<Incoming>> {
        let mut request = self.request(method, path_and_query, &body)?;
        let signable = match payload {
            Payload::Precomputed(hash) => SignableBody::Precomputed(hash.to_owned()),
            Payload::Unsigned => SignableBody::UnsignedPayload,
        };
        self.sign(&mut request, signable)?;
        self.http.request(request).await.context("sending the request")
    }

    fn request(&self, method: Method, path_and_query: &str, body: &Bytes) -> anyhow::Result<Request<Full<Bytes>>> {
        let uri: Uri = format!("{}{}", self.endpoint, path_and_query)
            .parse()
            .with_context(|| format!("bad request path {path_and_query}"))?;
        Ok(Request::builder()
            .method(method)
            .uri(uri)
            .header(http::header::CONTENT_LENGTH, body.len())
            .body(Full::new(body.clone()))?)
    }

    fn sign(&self, request: &mut Request<Full<Bytes>>, body: SignableBody<'_>) -> anyhow::Result<()> {
        let Some(credentials) = &self.credentials else {
            return Ok(());
        };
        // s3s refuses S3-signed requests without `x-amz-content-sha256`, and
        // it is the only way to tell a server a payload is unsigned.
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let identity = credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(SystemTime::now())
            .settings(settings)
            .build()?
            .into();
        let headers = request
            .headers()
            .iter()
            .map(|(name, value)| Ok((name.as_str(), value.to_str()?)))
            .collect::<Result<Vec<_>, http::header::ToStrError>>()?;
        let signable = SignableRequest::new(
            request.method().as_str(),
            request.uri().to_string(),
            headers.into_iter(),
            body,
        )?;
        let (instructions, _signature) = sign(signable, &params)?.into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}
