//! Cross-origin resource sharing: a bucket's CORS rules as stored (the
//! bucket's `cors` configuration document, JSON), how a browser request is
//! matched against them, the `Access-Control-*` headers a match adds to a
//! response, and the answer to preflight `OPTIONS` requests, which s3s does
//! not route. `ops/cors.rs` owns Put/Get/DeleteBucketCors; `edge.rs`
//! calls [`Cors`] around every request.
//!
//! Matching follows Amazon S3: the first rule wins whose `AllowedOrigin`
//! patterns match the `Origin` header, whose `AllowedMethod`s hold the method
//! (`Access-Control-Request-Method` when sent, on actual requests too), and
//! whose `AllowedHeader` patterns match every name in
//! `Access-Control-Request-Headers`. A pattern may hold one `*`, which matches
//! any run of characters, the empty one included. Origins and methods compare
//! exactly; header names without regard to case.

use std::sync::Arc;

use bytes::Bytes;
use coffer_engine::{Engine, EngineError};
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use s3s::Body;
use s3s::host::S3Host;
use serde::{Deserialize, Serialize};

use crate::edge::escape_xml;
use crate::error::from_engine;
use crate::host::BucketDomain;

/// The kind under which the rules are kept with [`Engine::put_bucket_config`].
pub const CONFIG_KIND: &str = "cors";

/// What Amazon S3 answers in `Vary` whenever a rule matched: all three
/// request headers decide the CORS headers of the response.
const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

const ACCESS_CONTROL_REQUEST_METHOD: &str = "access-control-request-method";
const ACCESS_CONTROL_REQUEST_HEADERS: &str = "access-control-request-headers";

/// The stored document: the rules of a CORSConfiguration, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    #[serde(rename = "CORSRules")]
    pub rules: Vec<Rule>,
}

/// One CORSRule, named as S3 names its members.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Rule {
    #[serde(rename = "ID", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_origins: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<i32>,
}

impl Config {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a CORS configuration serializes")
    }

    pub fn decode(document: &[u8]) -> Result<Config, EngineError> {
        serde_json::from_slice(document)
            .map_err(|err| EngineError::Internal(format!("stored CORS configuration is unreadable: {err}")))
    }

    /// The first rule that allows `request`, and what to answer in
    /// `Access-Control-Allow-Origin`.
    pub fn find(&self, request: &CorsRequest) -> Option<Match<'_>> {
        self.rules.iter().find_map(|rule| rule.allows(request))
    }
}

impl Rule {
    fn allows(&self, request: &CorsRequest) -> Option<Match<'_>> {
        if !self.allowed_methods.contains(&request.method) {
            return None;
        }
        let origin = self
            .allowed_origins
            .iter()
            .find(|pattern| wildcard_match(pattern, &request.origin))?;
        let headers_allowed = request.headers.iter().all(|name| {
            self.allowed_headers
                .iter()
                .any(|pattern| wildcard_match(&pattern.to_ascii_lowercase(), name))
        });
        headers_allowed.then_some(Match {
            rule: self,
            any_origin: origin == "*",
        })
    }
}

/// True if `text` matches `pattern`, where the pattern's first `*` stands for
/// any run of characters.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((prefix, suffix)) => {
            text.len() >= prefix.len() + suffix.len() && text.starts_with(prefix) && text.ends_with(suffix)
        }
    }
}

/// What a request asks of the CORS rules.
#[derive(Debug, Clone, PartialEq)]
pub struct CorsRequest {
    /// The `Origin` header, verbatim.
    pub origin: String,
    /// `Access-Control-Request-Method` if sent, else the request's method.
    pub method: String,
    /// The names in `Access-Control-Request-Headers`, lowercase, in order.
    pub headers: Vec<String>,
}

impl CorsRequest {
    /// The CORS side of a request, if it has an `Origin`. `method` is the
    /// request's own, used when no `Access-Control-Request-Method` is sent.
    pub fn from_headers(headers: &HeaderMap, method: &Method) -> Option<CorsRequest> {
        let origin = headers.get(header::ORIGIN)?.to_str().ok()?.to_owned();
        let method = match headers.get(ACCESS_CONTROL_REQUEST_METHOD) {
            Some(value) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
            None => method.as_str().to_owned(),
        };
        let headers = headers
            .get_all(ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|name| name.trim().to_ascii_lowercase())
            .filter(|name| !name.is_empty())
            .collect();
        Some(CorsRequest {
            origin,
            method,
            headers,
        })
    }
}

/// The rule that allowed a request.
#[derive(Debug, PartialEq)]
pub struct Match<'a> {
    pub rule: &'a Rule,
    /// The origin pattern that matched is `*`: S3 then answers
    /// `Access-Control-Allow-Origin: *` and no `Access-Control-Allow-Credentials`.
    pub any_origin: bool,
}

impl Match<'_> {
    /// Sets the `Access-Control-*` headers and `Vary` that answer `request`.
    pub fn apply(&self, request: &CorsRequest, headers: &mut HeaderMap) {
        let mut set = |name: HeaderName, value: String| {
            // Rules come from XML and may hold bytes a header cannot carry;
            // such a header is left out rather than failing the response.
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        };
        if self.any_origin {
            set(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*".to_owned());
        } else {
            set(header::ACCESS_CONTROL_ALLOW_ORIGIN, request.origin.clone());
            set(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true".to_owned());
        }
        set(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            self.rule.allowed_methods.join(", "),
        );
        if !request.headers.is_empty() {
            set(header::ACCESS_CONTROL_ALLOW_HEADERS, request.headers.join(", "));
        }
        if !self.rule.expose_headers.is_empty() {
            set(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                self.rule.expose_headers.join(", "),
            );
        }
        if let Some(max_age) = self.rule.max_age_seconds {
            set(header::ACCESS_CONTROL_MAX_AGE, max_age.to_string());
        }
        set(header::VARY, VARY.to_owned());
    }
}

/// The bucket a request addresses, and whether it names a key: the `Host`
/// header's bucket when it is a subdomain of `domain` (virtual-hosted style,
/// as [`crate::host`] reads it for s3s), else the path's first segment.
fn addressed(domain: Option<&BucketDomain>, req: &Request<Body>) -> Option<(String, bool)> {
    let path = req.uri().path();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| req.uri().authority().map(http::uri::Authority::as_str));
    let vhost = domain
        .zip(host)
        .and_then(|(domain, host)| domain.parse_host_header(host).ok());
    if let Some(bucket) = vhost.as_ref().and_then(|vhost| vhost.bucket()) {
        return Some((bucket.to_owned(), path.len() > 1));
    }
    let path = path.strip_prefix('/')?;
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    (!bucket.is_empty()).then(|| (bucket.to_owned(), !key.is_empty()))
}

/// CORS over the engine's stored rules, for the service around s3s.
pub struct Cors {
    engine: Arc<dyn Engine>,
    /// The base domain of virtual-hosted-style requests, if served.
    domain: Option<BucketDomain>,
}

impl Cors {
    pub fn new(engine: Arc<dyn Engine>, domain: Option<&str>) -> Cors {
        Cors {
            engine,
            domain: domain.map(BucketDomain::new),
        }
    }

    async fn config(&self, bucket: &str) -> Result<Option<Config>, EngineError> {
        match self.engine.bucket_config(bucket, CONFIG_KIND).await? {
            Some(document) => Config::decode(&document).map(Some),
            None => Ok(None),
        }
    }

    /// The CORS headers for an actual (non-`OPTIONS`) request, found before
    /// the request runs so that an operation that removes the bucket or its
    /// rules is still answered with them. Costs nothing without `Origin`.
    pub async fn actual_headers(&self, req: &Request<Body>) -> Option<HeaderMap> {
        let request = CorsRequest::from_headers(req.headers(), req.method())?;
        let (bucket, _) = addressed(self.domain.as_ref(), req)?;
        let config = match self.config(&bucket).await {
            Ok(config) => config?,
            Err(EngineError::NoSuchBucket(_)) => return None,
            Err(err) => {
                // The operation itself will meet and answer the failure.
                tracing::error!(%err, "reading the CORS configuration failed");
                return None;
            }
        };
        let found = config.find(&request)?;
        let mut headers = HeaderMap::new();
        found.apply(&request, &mut headers);
        Some(headers)
    }

    /// Answers a preflight `OPTIONS` request as Amazon S3 does. It is not
    /// authenticated: browsers send preflights without credentials.
    pub async fn preflight(&self, req: &Request<Body>) -> Response<Body> {
        let headers = req.headers();
        let Some(request) = CorsRequest::from_headers(headers, req.method()) else {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Insufficient information. Origin request header needed.",
                None,
            );
        };
        // S3 names the method asked about in its refusals, or OPTIONS.
        let method = request.method.as_str();
        let forbidden = |message: &str, resource_type: &str| {
            error_response(
                StatusCode::FORBIDDEN,
                "AccessForbidden",
                message,
                Some((method, resource_type)),
            )
        };
        let Some((bucket, names_key)) = addressed(self.domain.as_ref(), req) else {
            return forbidden("CORSResponse: Bucket not found", "BUCKET");
        };
        let config = match self.config(&bucket).await {
            Ok(Some(config)) => config,
            Ok(None) => return forbidden("CORSResponse: CORS is not enabled for this bucket.", "BUCKET"),
            Err(EngineError::NoSuchBucket(_)) => return forbidden("CORSResponse: Bucket not found", "BUCKET"),
            Err(err) => {
                return from_engine(err)
                    .to_http_response()
                    .unwrap_or_else(|_| Response::new(Body::empty()));
            }
        };
        if !headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD) {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Invalid Access-Control-Request-Method: null",
                None,
            );
        }
        let Some(found) = config.find(&request) else {
            return forbidden(
                // "evalution" is Amazon S3's spelling, kept so clients
                // matching the message see what S3 sends.
                "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, \
                 request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted \
                 by the resource's CORS spec.",
                if names_key { "OBJECT" } else { "BUCKET" },
            );
        };
        let mut resp = Response::new(Body::empty());
        found.apply(&request, resp.headers_mut());
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        resp
    }
}

/// An S3 error document; the CORS refusals also name the method and the kind
/// of resource, as Amazon S3's do. `edge.rs` completes it with
/// `Resource` and `RequestId`.
fn error_response(status: StatusCode, code: &str, message: &str, cors: Option<(&str, &str)>) -> Response<Body> {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{}</Message>",
        escape_xml(message)
    );
    if let Some((method, resource_type)) = cors {
        xml.push_str(&format!(
            "<Method>{}</Method><ResourceType>{resource_type}</ResourceType>",
            escape_xml(method)
        ));
    }
    xml.push_str("</Error>");
    let len = xml.len();
    let mut resp = Response::new(Body::from(Bytes::from(xml)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> Rule {
        Rule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            ..Rule::default()
        }
    }

    fn request(origin: &str, method: &str, headers: &[&str]) -> CorsRequest {
        CorsRequest {
            origin: origin.to_owned(),
            method: method.to_owned(),
            headers: headers.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn wildcards_match_any_run_including_none() {
        assert!(wildcard_match("http://*.example.com", "http://www.example.com"));
        assert!(wildcard_match("http://*.example.com", "http://a.b.example.com"));
        assert!(!wildcard_match("http://*.example.com", "http://example.com"));
        assert!(!wildcard_match("http://*.example.com", "https://www.example.com"));
        assert!(wildcard_match("start*end", "startend"));
        assert!(wildcard_match("start*end", "start12end"));
        assert!(!wildcard_match("start*end", "0start12end"));
        assert!(!wildcard_match("ab*ba", "aba"), "prefix and suffix may not overlap");
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("prefix*", "prefix.suffix"));
        assert!(!wildcard_match("http://www.example.com", "http://www.example.com:80"));
        assert!(!wildcard_match("http://www.example.com", "http://www.example.com/"));
    }

    #[test]
    fn first_matching_rule_wins() {
        let config = Config {
            rules: vec![
                rule(&["http://a.com"], &["PUT"], &[]),
                rule(&["http://*.com"], &["GET", "PUT"], &[]),
                rule(&["*"], &["GET"], &[]),
            ],
        };
        let found = config.find(&request("http://a.com", "PUT", &[])).unwrap();
        assert!(std::ptr::eq(found.rule, &config.rules[0]));
        let found = config.find(&request("http://a.com", "GET", &[])).unwrap();
        assert!(std::ptr::eq(found.rule, &config.rules[1]));
        assert!(!found.any_origin);
        let found = config.find(&request("http://a.org", "GET", &[])).unwrap();
        assert!(std::ptr::eq(found.rule, &config.rules[2]));
        assert!(found.any_origin);
        assert_eq!(config.find(&request("http://a.org", "PUT", &[])), None);
    }

    #[test]
    fn methods_compare_exactly() {
        let config = Config {
            rules: vec![rule(&["*"], &["GET"], &[])],
        };
        assert!(config.find(&request("o", "GET", &[])).is_some());
        assert!(config.find(&request("o", "get", &[])).is_none());
        assert!(config.find(&request("o", "OPTIONS", &[])).is_none());
    }

    #[test]
    fn every_requested_header_must_be_allowed_ignoring_case() {
        let config = Config {
            rules: vec![rule(&["*"], &["PUT"], &["Content-Type", "X-Amz-*"])],
        };
        assert!(config.find(&request("o", "PUT", &["content-type"])).is_some());
        assert!(
            config
                .find(&request("o", "PUT", &["content-type", "x-amz-date", "x-amz-meta-a"]))
                .is_some()
        );
        assert!(
            config
                .find(&request("o", "PUT", &["content-type", "authorization"]))
                .is_none()
        );
        let no_headers = Config {
            rules: vec![rule(&["*"], &["PUT"], &[])],
        };
        assert!(no_headers.find(&request("o", "PUT", &[])).is_some());
        assert!(no_headers.find(&request("o", "PUT", &["x-a"])).is_none());
        let any_header = Config {
            rules: vec![rule(&["*"], &["PUT"], &["*"])],
        };
        assert!(
            any_header
                .find(&request("o", "PUT", &["x-a", "authorization"]))
                .is_some()
        );
    }

    #[test]
    fn request_reads_origin_method_and_header_list() {
        let mut headers = HeaderMap::new();
        assert_eq!(CorsRequest::from_headers(&headers, &Method::GET), None);
        headers.insert(header::ORIGIN, HeaderValue::from_static("http://a.com"));
        assert_eq!(
            CorsRequest::from_headers(&headers, &Method::GET),
            Some(request("http://a.com", "GET", &[]))
        );
        headers.insert(ACCESS_CONTROL_REQUEST_METHOD, HeaderValue::from_static("PUT"));
        headers.insert(
            ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("X-Amz-Date, content-type,,x-b"),
        );
        assert_eq!(
            CorsRequest::from_headers(&headers, &Method::OPTIONS),
            Some(request("http://a.com", "PUT", &["x-amz-date", "content-type", "x-b"]))
        );
    }

    #[test]
    fn match_sets_s3_headers() {
        let mut with_all = rule(&["http://*.a.com"], &["GET", "PUT"], &["*"]);
        with_all.expose_headers = vec!["ETag".into(), "x-amz-meta-a".into()];
        with_all.max_age_seconds = Some(3000);
        let config = Config { rules: vec![with_all] };
        let req = request("http://w.a.com", "PUT", &["content-type", "x-amz-date"]);
        let mut headers = HeaderMap::new();
        config.find(&req).unwrap().apply(&req, &mut headers);
        let get = |name: HeaderName| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(get(header::ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(), "http://w.a.com");
        assert_eq!(get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).unwrap(), "true");
        assert_eq!(get(header::ACCESS_CONTROL_ALLOW_METHODS).unwrap(), "GET, PUT");
        assert_eq!(
            get(header::ACCESS_CONTROL_ALLOW_HEADERS).unwrap(),
            "content-type, x-amz-date"
        );
        assert_eq!(
            get(header::ACCESS_CONTROL_EXPOSE_HEADERS).unwrap(),
            "ETag, x-amz-meta-a"
        );
        assert_eq!(get(header::ACCESS_CONTROL_MAX_AGE).unwrap(), "3000");
        assert_eq!(get(header::VARY).unwrap(), VARY);

        let any = Config {
            rules: vec![rule(&["*"], &["GET"], &[])],
        };
        let req = request("http://x.org", "GET", &[]);
        let mut headers = HeaderMap::new();
        any.find(&req).unwrap().apply(&req, &mut headers);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        for absent in [
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            header::ACCESS_CONTROL_MAX_AGE,
        ] {
            assert!(!headers.contains_key(&absent), "{absent} set");
        }
    }

    #[test]
    fn stored_document_round_trips() {
        let mut full = rule(&["*"], &["GET"], &["*"]);
        full.id = Some("r1".into());
        full.expose_headers = vec!["ETag".into()];
        full.max_age_seconds = Some(5);
        let config = Config {
            rules: vec![full, rule(&["http://a"], &["PUT"], &[])],
        };
        assert_eq!(Config::decode(&config.encode()).unwrap(), config);
    }

    fn addressed_at(domain: Option<&str>, host: &str, path: &str) -> Option<(String, bool)> {
        let domain = domain.map(BucketDomain::new);
        let req = Request::builder()
            .uri(path)
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap();
        addressed(domain.as_ref(), &req)
    }

    #[test]
    fn addressed_reads_path_and_virtual_host_style() {
        let path_style = |path| addressed_at(None, "bucket.example.com", path);
        assert_eq!(path_style("/"), None);
        assert_eq!(path_style("/b"), Some(("b".into(), false)));
        assert_eq!(path_style("/b/"), Some(("b".into(), false)));
        assert_eq!(path_style("/b/k/x"), Some(("b".into(), true)));
        let domain = Some("example.com");
        assert_eq!(
            addressed_at(domain, "photos.example.com:9000", "/"),
            Some(("photos".into(), false))
        );
        assert_eq!(
            addressed_at(domain, "photos.example.com", "/cat.jpg"),
            Some(("photos".into(), true))
        );
        assert_eq!(addressed_at(domain, "example.com", "/b/k"), Some(("b".into(), true)));
        assert_eq!(addressed_at(domain, "127.0.0.1:9000", "/b"), Some(("b".into(), false)));
    }
}
