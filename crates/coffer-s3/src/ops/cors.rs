//! CORS: the bucket's CORS configuration (Put/Get/DeleteBucketCors): its
//! validation as Amazon S3 validates it, and its storage as the bucket's
//! `cors` configuration document. What the rules do to requests lives in
//! [`crate::cors`].

use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use super::CofferS3;
use crate::cors::{CONFIG_KIND, Config, Rule};
use crate::error::from_engine;

/// Amazon S3 accepts at most this many rules in a configuration.
const RULES_MAX: usize = 100;
/// The methods a rule may allow.
const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];
const MALFORMED_XML: &str = "The XML you provided was not well-formed or did not validate against our published schema";

impl CofferS3 {
    pub(super) async fn do_put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        self.target_bucket(&req, &req.input.bucket).await?;
        let config = validate(&req.input.cors_configuration)?;
        self.set_bucket_config(&req.input.bucket, CONFIG_KIND, Some(config.encode()))
            .await?;
        Ok(S3Response::new(PutBucketCorsOutput {}))
    }

    pub(super) async fn do_get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        self.target_bucket(&req, &req.input.bucket).await?;
        let document = self
            .engine
            .bucket_config(&req.input.bucket, CONFIG_KIND)
            .await
            .map_err(from_engine)?
            .ok_or_else(|| s3_error!(NoSuchCORSConfiguration, "The CORS configuration does not exist"))?;
        let config = Config::decode(&document).map_err(from_engine)?;
        Ok(S3Response::new(GetBucketCorsOutput {
            cors_rules: Some(config.rules.into_iter().map(to_dto).collect()),
        }))
    }

    /// Answers 204 whether or not the bucket had a configuration, as S3 does.
    pub(super) async fn do_delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.target_bucket(&req, &req.input.bucket).await?;
        self.set_bucket_config(&req.input.bucket, CONFIG_KIND, None).await?;
        Ok(S3Response::new(DeleteBucketCorsOutput {}))
    }
}

/// Checks a configuration as Amazon S3 does and converts it to the stored
/// form. A rule without an origin or a method never gets here: s3s refuses
/// the document as MalformedXML.
pub(crate) fn validate(config: &CORSConfiguration) -> S3Result<Config> {
    if config.cors_rules.is_empty() || config.cors_rules.len() > RULES_MAX {
        return Err(s3_error!(MalformedXML, "{MALFORMED_XML}"));
    }
    config
        .cors_rules
        .iter()
        .map(validate_rule)
        .collect::<S3Result<_>>()
        .map(|rules| Config { rules })
}

fn validate_rule(rule: &CORSRule) -> S3Result<Rule> {
    if rule.allowed_methods.is_empty() || rule.allowed_origins.is_empty() {
        return Err(s3_error!(MalformedXML, "{MALFORMED_XML}"));
    }
    if let Some(method) = rule
        .allowed_methods
        .iter()
        .find(|method| !METHODS.contains(&method.as_str()))
    {
        return Err(s3_error!(
            InvalidRequest,
            "Found unsupported HTTP method in CORS config. Unsupported method is {method}"
        ));
    }
    let allowed_headers = rule.allowed_headers.clone().unwrap_or_default();
    let expose_headers = rule.expose_headers.clone().unwrap_or_default();
    one_wildcard_at_most("AllowedOrigin", &rule.allowed_origins)?;
    one_wildcard_at_most("AllowedHeader", &allowed_headers)?;
    if let Some(header) = expose_headers.iter().find(|header| header.contains('*')) {
        return Err(s3_error!(
            InvalidRequest,
            "ExposeHeader \"{header}\" contains wildcard. We currently do not support wildcard for ExposeHeader."
        ));
    }
    Ok(Rule {
        id: rule.id.clone(),
        allowed_methods: rule.allowed_methods.clone(),
        allowed_origins: rule.allowed_origins.clone(),
        allowed_headers,
        expose_headers,
        max_age_seconds: rule.max_age_seconds,
    })
}

fn one_wildcard_at_most(element: &str, patterns: &[String]) -> Result<(), S3Error> {
    match patterns.iter().find(|pattern| pattern.matches('*').count() > 1) {
        Some(pattern) => Err(s3_error!(
            InvalidRequest,
            "{element} \"{pattern}\" can not have more than one wildcard."
        )),
        None => Ok(()),
    }
}

fn to_dto(rule: Rule) -> CORSRule {
    let non_empty = |list: Vec<String>| (!list.is_empty()).then_some(list);
    CORSRule {
        id: rule.id,
        allowed_methods: rule.allowed_methods,
        allowed_origins: rule.allowed_origins,
        allowed_headers: non_empty(rule.allowed_headers),
        expose_headers: non_empty(rule.expose_headers),
        max_age_seconds: rule.max_age_seconds,
    }
}
