//! Bucket policies: the subset of the IAM policy language that S3 bucket
//! policies use, parsed and checked when a policy is put, and evaluated for
//! every request to the bucket.
//!
//! A policy is a list of statements. A statement applies to a request when
//! its principal, action, resource and every condition match; an applying
//! `Deny` always wins, otherwise an applying `Allow` allows, otherwise the
//! policy says nothing ([`Verdict::Silent`]) and ownership and ACLs decide.

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::Value;

/// What a policy says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
    Silent,
}

/// Who is asking, as a policy's Principal element names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    /// A user, by canonical id and name.
    User {
        id: String,
        name: String,
    },
}

/// One request, as a policy sees it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub principal: &'a Principal,
    /// An S3 action, such as `s3:GetObject`.
    pub action: &'a str,
    /// The ARN of the bucket or object, such as `arn:aws:s3:::bucket/key`.
    pub resource: &'a str,
    /// Condition keys (lower-case) and their values for this request.
    pub context: &'a HashMap<String, String>,
}

/// A parsed, checked bucket policy.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone)]
struct Statement {
    deny: bool,
    principals: Match<PrincipalPattern>,
    actions: Match<String>,
    resources: Match<String>,
    conditions: Vec<Condition>,
}

/// A list of patterns, or everything but a list of patterns (`NotAction`…).
#[derive(Debug, Clone)]
struct Match<T> {
    patterns: Vec<T>,
    negated: bool,
}

#[derive(Debug, Clone)]
enum PrincipalPattern {
    Everyone,
    /// A canonical id, a user name, or a user ARN (whose account is ignored).
    User(String),
}

#[derive(Debug, Clone)]
struct Condition {
    operator: Operator,
    negated: bool,
    if_exists: bool,
    key: String,
    values: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
enum Operator {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(NumericTest),
    Bool,
    IpAddress,
    Null,
}

#[derive(Debug, Clone, Copy)]
enum NumericTest {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

/// Why a policy was refused; the text goes into S3's MalformedPolicy error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedPolicy(pub String);

fn malformed(message: impl Into<String>) -> MalformedPolicy {
    MalformedPolicy(message.into())
}

/// A JSON value that may be one string or a list of strings.
fn strings(value: &Value, element: &str) -> Result<Vec<String>, MalformedPolicy> {
    match value {
        Value::String(one) => Ok(vec![one.clone()]),
        Value::Array(many) if !many.is_empty() => many
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text.clone()),
                Value::Bool(flag) => Ok(flag.to_string()),
                Value::Number(number) => Ok(number.to_string()),
                _ => Err(malformed(format!("{element} must hold strings"))),
            })
            .collect(),
        Value::Bool(flag) => Ok(vec![flag.to_string()]),
        Value::Number(number) => Ok(vec![number.to_string()]),
        _ => Err(malformed(format!("{element} must be a string or a list of strings"))),
    }
}

/// Reads whichever of `element` / `not_element` a statement has (exactly one).
fn either(
    statement: &serde_json::Map<String, Value>,
    element: &str,
    not_element: &str,
    required: bool,
) -> Result<Option<(&'static str, bool, Value)>, MalformedPolicy> {
    match (statement.get(element), statement.get(not_element)) {
        (Some(_), Some(_)) => Err(malformed(format!(
            "A statement cannot have both {element} and {not_element}"
        ))),
        (Some(value), None) => Ok(Some(("", false, value.clone()))),
        (None, Some(value)) => Ok(Some(("Not", true, value.clone()))),
        (None, None) if required => Err(malformed(format!("Missing required field {element}"))),
        (None, None) => Ok(None),
    }
}

impl Policy {
    /// Parses and checks a bucket policy for `bucket`, as PutBucketPolicy does.
    pub fn parse(text: &[u8], bucket: &str) -> Result<Policy, MalformedPolicy> {
        let document: Value = serde_json::from_slice(text)
            .map_err(|_| malformed("Policies must be valid JSON and the first byte must be '{'"))?;
        let document = document
            .as_object()
            .ok_or_else(|| malformed("Policies must be valid JSON and the first byte must be '{'"))?;
        if let Some(version) = document.get("Version")
            && !matches!(version.as_str(), Some("2012-10-17" | "2008-10-17"))
        {
            return Err(malformed("The policy must contain a valid version string"));
        }
        let statements = match document.get("Statement") {
            Some(Value::Array(list)) if !list.is_empty() => list.clone(),
            Some(single @ Value::Object(_)) => vec![single.clone()],
            _ => return Err(malformed("Missing required field Statement")),
        };
        let statements = statements
            .iter()
            .map(|statement| Statement::parse(statement, bucket))
            .collect::<Result<_, _>>()?;
        Ok(Policy { statements })
    }

    pub fn evaluate(&self, request: &Request<'_>) -> Verdict {
        let mut verdict = Verdict::Silent;
        for statement in self.statements.iter().filter(|s| s.applies(request)) {
            if statement.deny {
                return Verdict::Deny;
            }
            verdict = Verdict::Allow;
        }
        verdict
    }

    /// Whether the policy grants anything to everyone (GetBucketPolicyStatus'
    /// IsPublic): an Allow for the anonymous principal without conditions that
    /// narrow it to known callers.
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|statement| {
            !statement.deny
                && !statement.principals.negated
                && statement
                    .principals
                    .patterns
                    .iter()
                    .any(|p| matches!(p, PrincipalPattern::Everyone))
                && statement
                    .conditions
                    .iter()
                    .all(|c| !matches!(c.operator, Operator::IpAddress) && !c.key.starts_with("aws:source"))
        })
    }
}

impl Statement {
    fn parse(value: &Value, bucket: &str) -> Result<Statement, MalformedPolicy> {
        let statement = value
            .as_object()
            .ok_or_else(|| malformed("A statement must be an object"))?;
        let deny = match statement.get("Effect").and_then(Value::as_str) {
            Some("Allow") => false,
            Some("Deny") => true,
            _ => return Err(malformed("Invalid effect: the Effect must be Allow or Deny")),
        };
        let (_, principals_negated, principal) =
            either(statement, "Principal", "NotPrincipal", true)?.expect("required");
        let principals = Match {
            patterns: parse_principals(&principal)?,
            negated: principals_negated,
        };
        let (_, actions_negated, action) = either(statement, "Action", "NotAction", true)?.expect("required");
        let actions = strings(&action, "Action")?;
        for action in &actions {
            if action != "*" && !action.to_ascii_lowercase().starts_with("s3:") {
                return Err(malformed(format!("Policy has invalid action: {action}")));
            }
        }
        let (_, resources_negated, resource) = either(statement, "Resource", "NotResource", true)?.expect("required");
        let resources = strings(&resource, "Resource")?;
        for resource in &resources {
            let in_bucket = resource == "*"
                || resource
                    .strip_prefix("arn:aws:s3:::")
                    .is_some_and(|rest| wildcard_match(rest.split('/').next().unwrap_or(rest), bucket, false));
            if !in_bucket {
                return Err(malformed(format!("Policy has invalid resource: {resource}")));
            }
        }
        let conditions = match statement.get("Condition") {
            None => Vec::new(),
            Some(Value::Object(blocks)) => parse_conditions(blocks)?,
            Some(_) => return Err(malformed("Condition must be an object")),
        };
        Ok(Statement {
            deny,
            principals,
            actions: Match {
                patterns: actions,
                negated: actions_negated,
            },
            resources: Match {
                patterns: resources,
                negated: resources_negated,
            },
            conditions,
        })
    }

    fn applies(&self, request: &Request<'_>) -> bool {
        let principal =
            self.principals.patterns.iter().any(|p| p.matches(request.principal)) != self.principals.negated;
        let action = self
            .actions
            .patterns
            .iter()
            .any(|pattern| wildcard_match(pattern, request.action, true))
            != self.actions.negated;
        let resource = self
            .resources
            .patterns
            .iter()
            .any(|pattern| wildcard_match(pattern, request.resource, false))
            != self.resources.negated;
        principal && action && resource && self.conditions.iter().all(|c| c.holds(request.context))
    }
}

fn parse_principals(value: &Value) -> Result<Vec<PrincipalPattern>, MalformedPolicy> {
    let pattern = |name: &str| {
        if name == "*" {
            PrincipalPattern::Everyone
        } else {
            PrincipalPattern::User(name.to_owned())
        }
    };
    match value {
        Value::String(name) if name == "*" => Ok(vec![PrincipalPattern::Everyone]),
        Value::Object(kinds) if !kinds.is_empty() => {
            let mut patterns = Vec::new();
            for (kind, names) in kinds {
                if !matches!(kind.as_str(), "AWS" | "CanonicalUser") {
                    return Err(malformed(format!("Invalid principal kind in policy: {kind}")));
                }
                patterns.extend(strings(names, "Principal")?.iter().map(|name| pattern(name)));
            }
            Ok(patterns)
        }
        _ => Err(malformed("Invalid principal in policy")),
    }
}

impl PrincipalPattern {
    fn matches(&self, principal: &Principal) -> bool {
        match (self, principal) {
            (PrincipalPattern::Everyone, _) => true,
            (PrincipalPattern::User(_), Principal::Anonymous) => false,
            (PrincipalPattern::User(pattern), Principal::User { id, name }) => {
                pattern == id
                    || pattern == name
                    || pattern
                        .strip_prefix("arn:aws:iam::")
                        .and_then(|rest| rest.split_once(":user/"))
                        .is_some_and(|(_, user)| user == name)
            }
        }
    }
}

fn parse_conditions(blocks: &serde_json::Map<String, Value>) -> Result<Vec<Condition>, MalformedPolicy> {
    let mut conditions = Vec::new();
    for (operator_name, keys) in blocks {
        let (operator, negated, if_exists) = parse_operator(operator_name)?;
        let keys = keys
            .as_object()
            .ok_or_else(|| malformed(format!("Condition {operator_name} must map keys to values")))?;
        for (key, values) in keys {
            conditions.push(Condition {
                operator,
                negated,
                if_exists,
                key: key.to_ascii_lowercase(),
                values: strings(values, "Condition")?,
            });
        }
    }
    Ok(conditions)
}

fn parse_operator(name: &str) -> Result<(Operator, bool, bool), MalformedPolicy> {
    let unqualified = name
        .strip_prefix("ForAnyValue:")
        .or_else(|| name.strip_prefix("ForAllValues:"))
        .unwrap_or(name);
    let (base, if_exists) = match unqualified.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (unqualified, false),
    };
    let (operator, negated) = match base {
        "StringEquals" => (Operator::StringEquals, false),
        "StringNotEquals" => (Operator::StringEquals, true),
        "StringEqualsIgnoreCase" => (Operator::StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Operator::StringEqualsIgnoreCase, true),
        "StringLike" => (Operator::StringLike, false),
        "StringNotLike" => (Operator::StringLike, true),
        "NumericEquals" => (Operator::Numeric(NumericTest::Equals), false),
        "NumericNotEquals" => (Operator::Numeric(NumericTest::Equals), true),
        "NumericLessThan" => (Operator::Numeric(NumericTest::LessThan), false),
        "NumericLessThanEquals" => (Operator::Numeric(NumericTest::LessThanEquals), false),
        "NumericGreaterThan" => (Operator::Numeric(NumericTest::GreaterThan), false),
        "NumericGreaterThanEquals" => (Operator::Numeric(NumericTest::GreaterThanEquals), false),
        "Bool" => (Operator::Bool, false),
        "IpAddress" => (Operator::IpAddress, false),
        "NotIpAddress" => (Operator::IpAddress, true),
        "Null" => (Operator::Null, false),
        _ => return Err(malformed(format!("Invalid Condition type : {name}"))),
    };
    Ok((operator, negated, if_exists))
}

impl Condition {
    fn holds(&self, context: &HashMap<String, String>) -> bool {
        let Some(actual) = context.get(&self.key) else {
            return match self.operator {
                // `Null: true` holds when the key is absent.
                Operator::Null => self.values.iter().any(|v| v == "true"),
                _ => self.if_exists || self.negated,
            };
        };
        let any = self.values.iter().any(|expected| match self.operator {
            Operator::StringEquals => actual == expected,
            Operator::StringEqualsIgnoreCase => actual.eq_ignore_ascii_case(expected),
            Operator::StringLike => wildcard_match(expected, actual, false),
            Operator::Numeric(test) => numeric(test, actual, expected),
            Operator::Bool => actual.eq_ignore_ascii_case(expected),
            Operator::IpAddress => ip_in_block(actual, expected),
            Operator::Null => expected == "false",
        });
        any != self.negated
    }
}

fn numeric(test: NumericTest, actual: &str, expected: &str) -> bool {
    let (Ok(actual), Ok(expected)) = (actual.parse::<f64>(), expected.parse::<f64>()) else {
        return false;
    };
    match test {
        NumericTest::Equals => actual == expected,
        NumericTest::LessThan => actual < expected,
        NumericTest::LessThanEquals => actual <= expected,
        NumericTest::GreaterThan => actual > expected,
        NumericTest::GreaterThanEquals => actual >= expected,
    }
}

/// Whether `address` lies in `block` (`a.b.c.d/n`, an IPv6 CIDR, or one address).
fn ip_in_block(address: &str, block: &str) -> bool {
    let (network, bits) = block.split_once('/').unwrap_or((block, ""));
    let (Ok(address), Ok(network)) = (address.parse::<IpAddr>(), network.parse::<IpAddr>()) else {
        return false;
    };
    let (address, network, width) = match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u128::from(u32::from(a)), u128::from(u32::from(n)), 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    let bits: u32 = if bits.is_empty() {
        width
    } else {
        bits.parse().unwrap_or(u32::MAX)
    };
    if bits > width {
        return false;
    }
    let mask = if bits == 0 {
        0
    } else {
        (!0u128 << (width - bits)) & (u128::MAX >> (128 - width))
    };
    address & mask == network & mask
}

/// IAM wildcard matching: `*` is any run of characters, `?` any one.
fn wildcard_match(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let lower = |s: &str| {
        if ignore_case {
            s.to_ascii_lowercase()
        } else {
            s.to_owned()
        }
    };
    let (pattern, text) = (lower(pattern), lower(text));
    let (pattern, text): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            backtrack = Some((p, t));
            p += 1;
        } else if let Some((star, matched)) = backtrack {
            p = star + 1;
            t = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Principal {
        Principal::User {
            id: "a1".into(),
            name: "alice".into(),
        }
    }

    fn verdict(policy: &str, principal: &Principal, action: &str, resource: &str, context: &[(&str, &str)]) -> Verdict {
        let policy = Policy::parse(policy.as_bytes(), "b").unwrap();
        let context = context
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        policy.evaluate(&Request {
            principal,
            action,
            resource,
            context: &context,
        })
    }

    const PUBLIC_READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",
        "Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;

    /// Known S3 outcomes: (policy, principal, action, resource, context, verdict).
    #[test]
    fn evaluation_matches_known_s3_outcomes() {
        let anonymous = Principal::Anonymous;
        let deny_alice_private = r#"{"Statement":[
            {"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]},
            {"Effect":"Deny","Principal":{"AWS":["arn:aws:iam::123456789012:user/alice"]},"Action":"s3:Get*","Resource":"arn:aws:s3:::b/private/*"}]}"#;
        let not_action = r#"{"Statement":[{"Effect":"Deny","Principal":"*","NotAction":["s3:GetObject","s3:ListBucket"],"Resource":"arn:aws:s3:::b/*"}]}"#;
        let prefix_only = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b",
            "Condition":{"StringLike":{"s3:prefix":["home/*", ""]}}}]}"#;
        let ip_only = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*",
            "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"Bool":{"aws:SecureTransport":"false"}}}]}"#;
        let acl_required = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*",
            "Condition":{"StringNotEquals":{"s3:x-amz-acl":"bucket-owner-full-control"}}}]}"#;
        let max_keys = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b",
            "Condition":{"NumericLessThanEquals":{"s3:max-keys":"10"}}}]}"#;
        type Case<'a> = (
            &'a str,
            &'a Principal,
            &'a str,
            &'a str,
            &'a [(&'a str, &'a str)],
            Verdict,
        );
        let cases: &[Case<'_>] = &[
            (
                PUBLIC_READ,
                &anonymous,
                "s3:GetObject",
                "arn:aws:s3:::b/k",
                &[],
                Verdict::Allow,
            ),
            (
                PUBLIC_READ,
                &anonymous,
                "s3:PutObject",
                "arn:aws:s3:::b/k",
                &[],
                Verdict::Silent,
            ),
            (
                PUBLIC_READ,
                &anonymous,
                "s3:ListBucket",
                "arn:aws:s3:::b",
                &[],
                Verdict::Silent,
            ),
            (
                PUBLIC_READ,
                &alice(),
                "S3:getobject",
                "arn:aws:s3:::b/a/b",
                &[],
                Verdict::Allow,
            ),
            (
                deny_alice_private,
                &alice(),
                "s3:GetObject",
                "arn:aws:s3:::b/private/x",
                &[],
                Verdict::Deny,
            ),
            (
                deny_alice_private,
                &alice(),
                "s3:GetObject",
                "arn:aws:s3:::b/public/x",
                &[],
                Verdict::Allow,
            ),
            (
                deny_alice_private,
                &anonymous,
                "s3:GetObject",
                "arn:aws:s3:::b/private/x",
                &[],
                Verdict::Allow,
            ),
            (
                deny_alice_private,
                &alice(),
                "s3:PutObject",
                "arn:aws:s3:::b/private/x",
                &[],
                Verdict::Allow,
            ),
            (
                not_action,
                &alice(),
                "s3:DeleteObject",
                "arn:aws:s3:::b/k",
                &[],
                Verdict::Deny,
            ),
            (
                not_action,
                &alice(),
                "s3:GetObject",
                "arn:aws:s3:::b/k",
                &[],
                Verdict::Silent,
            ),
            (
                prefix_only,
                &anonymous,
                "s3:ListBucket",
                "arn:aws:s3:::b",
                &[("s3:prefix", "home/x")],
                Verdict::Allow,
            ),
            (
                prefix_only,
                &anonymous,
                "s3:ListBucket",
                "arn:aws:s3:::b",
                &[("s3:prefix", "etc/")],
                Verdict::Silent,
            ),
            (
                prefix_only,
                &anonymous,
                "s3:ListBucket",
                "arn:aws:s3:::b",
                &[],
                Verdict::Silent,
            ),
            (
                ip_only,
                &anonymous,
                "s3:GetObject",
                "arn:aws:s3:::b/k",
                &[("aws:SourceIp", "10.1.2.3"), ("aws:SecureTransport", "false")],
                Verdict::Allow,
            ),
            (
                ip_only,
                &anonymous,
                "s3:GetObject",
                "arn:aws:s3:::b/k",
                &[("aws:SourceIp", "127.0.0.1"), ("aws:SecureTransport", "false")],
                Verdict::Silent,
            ),
            (
                acl_required,
                &alice(),
                "s3:PutObject",
                "arn:aws:s3:::b/k",
                &[],
                Verdict::Deny,
            ),
            (
                acl_required,
                &alice(),
                "s3:PutObject",
                "arn:aws:s3:::b/k",
                &[("s3:x-amz-acl", "bucket-owner-full-control")],
                Verdict::Silent,
            ),
            (
                max_keys,
                &anonymous,
                "s3:ListBucket",
                "arn:aws:s3:::b",
                &[("s3:max-keys", "5")],
                Verdict::Allow,
            ),
            (
                max_keys,
                &anonymous,
                "s3:ListBucket",
                "arn:aws:s3:::b",
                &[("s3:max-keys", "50")],
                Verdict::Silent,
            ),
        ];
        for (policy, principal, action, resource, context, expected) in cases {
            assert_eq!(
                verdict(policy, principal, action, resource, context),
                *expected,
                "{action} on {resource} by {principal:?} with {context:?} under {policy}"
            );
        }
    }

    /// Properties that hold for every policy, checked over policies and
    /// requests built from a seeded generator (the seed is in the message):
    /// the order of statements never matters; a Deny that applies always
    /// wins; a policy allows only if one of its Allow statements alone does.
    #[test]
    fn evaluation_properties_hold_for_generated_policies() {
        let principals = [r#""*""#, r#"{"AWS":"alice"}"#, r#"{"AWS":"arn:aws:iam::1:user/bob"}"#];
        let actions = [
            r#""s3:*""#,
            r#""s3:GetObject""#,
            r#"["s3:Get*","s3:List*"]"#,
            r#""s3:PutObject""#,
        ];
        let resources = [
            r#""arn:aws:s3:::b/*""#,
            r#""arn:aws:s3:::b""#,
            r#""arn:aws:s3:::b/docs/*""#,
            r#""*""#,
        ];
        let conditions = ["", r#","Condition":{"StringLike":{"s3:prefix":"docs/*"}}"#];
        let requests = [
            ("s3:GetObject", "arn:aws:s3:::b/docs/x"),
            ("s3:PutObject", "arn:aws:s3:::b/k"),
            ("s3:ListBucket", "arn:aws:s3:::b"),
        ];
        let callers = [
            Principal::Anonymous,
            alice(),
            Principal::User {
                id: "b1".into(),
                name: "bob".into(),
            },
        ];
        let mut seed: u64 = 0x5eed_c0ff_ee00_0001;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for round in 0..300 {
            let statements: Vec<String> = (0..1 + next(4))
                .map(|_| {
                    format!(
                        r#"{{"Effect":"{}","Principal":{},"Action":{},"Resource":{}{}}}"#,
                        if next(3) == 0 { "Deny" } else { "Allow" },
                        principals[next(principals.len())],
                        actions[next(actions.len())],
                        resources[next(resources.len())],
                        conditions[next(conditions.len())],
                    )
                })
                .collect();
            let document = |statements: &[String]| format!(r#"{{"Statement":[{}]}}"#, statements.join(","));
            let policy = Policy::parse(document(&statements).as_bytes(), "b").unwrap();
            let reversed: Vec<String> = statements.iter().rev().cloned().collect();
            let reversed = Policy::parse(document(&reversed).as_bytes(), "b").unwrap();
            let (action, resource) = requests[next(requests.len())];
            let principal = &callers[next(callers.len())];
            let context: HashMap<String, String> = [("s3:prefix".to_owned(), "docs/a".to_owned())].into();
            let request = Request {
                principal,
                action,
                resource,
                context: &context,
            };
            let verdict = policy.evaluate(&request);
            assert_eq!(
                verdict,
                reversed.evaluate(&request),
                "round {round}: order matters for {statements:?}"
            );
            let alone = |statement: &String| {
                Policy::parse(document(std::slice::from_ref(statement)).as_bytes(), "b")
                    .unwrap()
                    .evaluate(&request)
            };
            let verdicts: Vec<Verdict> = statements.iter().map(alone).collect();
            let expected = if verdicts.contains(&Verdict::Deny) {
                Verdict::Deny
            } else if verdicts.contains(&Verdict::Allow) {
                Verdict::Allow
            } else {
                Verdict::Silent
            };
            assert_eq!(
                verdict, expected,
                "round {round}: {statements:?} for {principal:?} {action} {resource}"
            );
        }
    }

    #[test]
    fn malformed_policies_are_refused() {
        let refused = [
            "not json",
            "[]",
            r#"{"Statement":[]}"#,
            r#"{"Version":"2020-01-01","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ec2:RunInstances","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::other/*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","NotAction":"s3:Get*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringSortOf":{"a":"b"}}}]}"#,
        ];
        for policy in refused {
            assert!(Policy::parse(policy.as_bytes(), "b").is_err(), "{policy}");
        }
        assert!(Policy::parse(PUBLIC_READ.as_bytes(), "b").is_ok());
    }

    #[test]
    fn public_policies_are_told_apart() {
        assert!(Policy::parse(PUBLIC_READ.as_bytes(), "b").unwrap().is_public());
        let alice_only =
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"s3:*","Resource":"*"}]}"#;
        assert!(!Policy::parse(alice_only.as_bytes(), "b").unwrap().is_public());
    }

    #[test]
    fn wildcards_and_address_blocks() {
        assert!(wildcard_match("arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b/c", false));
        assert!(wildcard_match("a?c*", "abcdef", false));
        assert!(!wildcard_match("a?c", "ac", false));
        assert!(!wildcard_match("B/*", "b/x", false));
        assert!(wildcard_match("S3:Get*", "s3:getobject", true));
        assert!(ip_in_block("192.168.1.7", "192.168.0.0/16"));
        assert!(!ip_in_block("192.169.1.7", "192.168.0.0/16"));
        assert!(ip_in_block("10.0.0.1", "10.0.0.1"));
        assert!(ip_in_block("2001:db8::1", "2001:db8::/32"));
        assert!(ip_in_block("1.2.3.4", "0.0.0.0/0"));
    }
}
