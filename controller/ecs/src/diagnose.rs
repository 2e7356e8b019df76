//! Why AWS could not be used, in one line that names the cause and the fix, instead of the
//! SDK's whole error chain (provider attempts, IMDS responses, Debug dumps).
//!
//! [`classify`] sorts an SDK error by its kind: a service error by its code (expired token,
//! access denied, rejected credentials), a dispatch failure by its connector error (I/O or
//! timeout: the endpoint cannot be reached; other: the credential chain, sorted by
//! [`classify_credentials`]), a timeout, a construction failure (an invalid region), a response
//! that is not the API's. [`diagnose`] is what a command runs once a call failed: it resolves
//! the credential chain and makes one read-only call Ferry makes anyway (`ecs:ListServices`
//! on the environment's cluster), both with the same settings as the platform, and classifies
//! what goes wrong. Nothing printed here carries a secret: resolved secrets and the AWS_*
//! secret variables are scrubbed from every text taken from an error.

use std::error::Error as StdError;
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ecs::config::{ProvideCredentials, Region};
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response as HttpResponse;

use crate::AwsSettings;

/// Where the calls went, for the message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// The region, when one is set.
    pub region: Option<String>,
    /// The endpoint URL (`AWS_ENDPOINT_URL` or the region's ECS endpoint), without user info.
    pub url: String,
}

impl Endpoint {
    /// The ECS endpoint of `region`, or `url` when one is configured.
    pub fn new(region: Option<&str>, url: Option<&str>) -> Self {
        let url = match (url, region) {
            (Some(u), _) => without_userinfo(u),
            (None, Some(r)) => format!("https://ecs.{r}.amazonaws.com"),
            (None, None) => "the ECS endpoint".to_owned(),
        };
        Self {
            region: region.map(str::to_owned),
            url,
        }
    }
}

/// A problem with reaching or using AWS, as one line: the cause, then the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AwsProblem {
    /// The default chain found no credentials anywhere.
    NoCredentials,
    /// The chain found none, and the EC2 instance metadata service refused to answer (not on
    /// EC2, or a hop limit / policy that keeps this process out).
    MetadataRefused,
    /// Loading credentials timed out (metadata endpoints that do not answer).
    CredentialsTimedOut,
    /// A credential provider is configured but broken (profile syntax, role loop, SSO...).
    CredentialsFailed {
        /// What the provider said (scrubbed, shortened).
        detail: String,
    },
    /// The session token or SSO session expired.
    ExpiredToken,
    /// AWS does not know the access key, or the signature does not match the secret.
    InvalidCredentials {
        /// AWS's error code.
        code: String,
    },
    /// The identity may not call `action` (e.g. `ecs:ListServices`).
    AccessDenied {
        /// The IAM action.
        action: String,
    },
    /// No region is configured.
    NoRegion,
    /// The region is not a valid region name.
    InvalidRegion {
        /// The region given.
        region: String,
    },
    /// The endpoint cannot be reached (unknown region, DNS, refused, timed out).
    Unreachable {
        /// Where.
        endpoint: Endpoint,
        /// The innermost cause (scrubbed, shortened).
        cause: String,
    },
    /// Something answered that is not the ECS API.
    NotTheApi {
        /// Where.
        endpoint: Endpoint,
    },
}

const SET_CREDENTIALS: &str =
    "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run on a role";
const CHECK_REGION: &str = "the Environment's spec.aws.region or AWS_REGION";

impl std::fmt::Display for AwsProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoCredentials => write!(
                f,
                "no AWS credentials found (looked in environment, profile, web identity, ECS/EC2 metadata): {SET_CREDENTIALS}"
            ),
            Self::MetadataRefused => write!(
                f,
                "no AWS credentials found (looked in environment, profile, web identity, ECS/EC2 metadata; the EC2 instance metadata service refused the request): {SET_CREDENTIALS} (off EC2, AWS_EC2_METADATA_DISABLED=true skips the metadata service)"
            ),
            Self::CredentialsTimedOut => write!(
                f,
                "loading AWS credentials timed out (the instance or container metadata endpoint did not answer): {SET_CREDENTIALS}; off AWS, set AWS_EC2_METADATA_DISABLED=true"
            ),
            Self::CredentialsFailed { detail } => write!(
                f,
                "cannot load AWS credentials: {detail}: fix the profile (AWS_PROFILE, ~/.aws/config, ~/.aws/credentials) or the web identity settings, or {SET_CREDENTIALS}"
            ),
            Self::ExpiredToken => write!(
                f,
                "the AWS credentials have expired (session token or SSO session): refresh them (`aws sso login`, a new AWS_SESSION_TOKEN, or assume the role again)"
            ),
            Self::InvalidCredentials { code } => write!(
                f,
                "AWS rejected the credentials ({code}: unknown access key, or a secret that does not match it): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile's keys"
            ),
            Self::AccessDenied { action } => write!(
                f,
                "access denied: the AWS identity in use may not call {action}: allow {action} in the IAM policy of the role or user Ferry runs as"
            ),
            Self::NoRegion => write!(f, "no AWS region is set: set {CHECK_REGION}"),
            Self::InvalidRegion { region } => write!(
                f,
                "`{region}` is not a valid AWS region: fix {CHECK_REGION} (e.g. us-east-1)"
            ),
            Self::Unreachable { endpoint, cause } => {
                write!(f, "cannot reach the ECS API at {}", endpoint.url)?;
                if let Some(region) = &endpoint.region {
                    write!(f, " (region {region})")?;
                }
                write!(
                    f,
                    ": {cause}: check the region ({CHECK_REGION}; an unknown region has no endpoint), AWS_ENDPOINT_URL and the network"
                )
            }
            Self::NotTheApi { endpoint } => write!(
                f,
                "{} did not answer like the ECS API: check AWS_ENDPOINT_URL and any proxy in between",
                endpoint.url
            ),
        }
    }
}

/// Sort an error of the default credential chain (or any credential provider).
pub fn classify_credentials(err: &CredentialsError) -> AwsProblem {
    match err {
        CredentialsError::CredentialsNotLoaded(_) => AwsProblem::NoCredentials,
        CredentialsError::ProviderTimedOut(_) => AwsProblem::CredentialsTimedOut,
        other => {
            let detail = innermost(other);
            let lower = chain_text(other).to_ascii_lowercase();
            if lower.contains("expired") {
                AwsProblem::ExpiredToken
            } else if matches!(other, CredentialsError::ProviderError(_))
                && lower.contains("imds")
                && (lower.contains("forbidden") || lower.contains("403"))
            {
                AwsProblem::MetadataRefused
            } else {
                AwsProblem::CredentialsFailed {
                    detail: scrub(&detail, &[]),
                }
            }
        }
    }
}

/// Sort an SDK error of a call to `action` (an IAM action, e.g. `ecs:ListServices`) made to
/// `endpoint`. `None`: not a problem of credentials, permissions, region or reachability (a
/// missing cluster, a validation error...), which the caller reports as it is.
pub fn classify<E, R>(action: &str, err: &SdkError<E, R>, endpoint: &Endpoint) -> Option<AwsProblem>
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: std::fmt::Debug + 'static,
{
    match err {
        SdkError::ServiceError(_) => by_code(action, err.code()?),
        SdkError::DispatchFailure(failure) => {
            if let Some(creds) = credentials_in(err) {
                return Some(classify_credentials(creds));
            }
            if failure.is_io() || failure.is_timeout() {
                let cause = failure
                    .as_connector_error()
                    .map_or_else(|| "no connection".to_owned(), |c| innermost(c));
                return Some(AwsProblem::Unreachable {
                    endpoint: endpoint.clone(),
                    cause: scrub(&cause, &[]),
                });
            }
            None
        }
        SdkError::TimeoutError(_) => Some(AwsProblem::Unreachable {
            endpoint: endpoint.clone(),
            cause: "no answer in time".to_owned(),
        }),
        SdkError::ConstructionFailure(_) => {
            if let Some(creds) = credentials_in(err) {
                return Some(classify_credentials(creds));
            }
            let text = chain_text(err).to_ascii_lowercase();
            match &endpoint.region {
                None if text.contains("region") => Some(AwsProblem::NoRegion),
                Some(region) if text.contains("region") => Some(AwsProblem::InvalidRegion {
                    region: scrub(region, &[]),
                }),
                _ => None,
            }
        }
        // An answer the SDK could not read: an error in another protocol's shape (XML from a
        // proxy or an emulator) still carries AWS's code.
        SdkError::ResponseError(_) => err
            .raw_response()
            .and_then(|raw| (raw as &dyn std::any::Any).downcast_ref::<HttpResponse>())
            .filter(|raw| matches!(raw.status().as_u16(), 400 | 401 | 403))
            .and_then(|raw| raw.body().bytes())
            .and_then(error_code)
            .and_then(|code| by_code(action, &code))
            .or_else(|| {
                Some(AwsProblem::NotTheApi {
                    endpoint: endpoint.clone(),
                })
            }),
        _ => None,
    }
}

/// The error code in an error body: `<Code>…</Code>` (XML protocols) or `"__type"` /
/// `"code"` (JSON protocols, `…#Code`).
fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let code = if let Some((_, rest)) = text.split_once("<Code>") {
        rest.split_once("</Code>")?.0.to_owned()
    } else {
        let json: serde_json::Value = serde_json::from_str(text).ok()?;
        let raw = json
            .get("__type")
            .or_else(|| json.get("code"))
            .and_then(|v| v.as_str())?;
        raw.rsplit('#').next()?.split(':').next()?.to_owned()
    };
    let code = code.trim();
    (!code.is_empty() && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
        .then(|| code.to_owned())
}

/// A service error's code, sorted.
fn by_code(action: &str, code: &str) -> Option<AwsProblem> {
    match code {
        "ExpiredTokenException" | "ExpiredToken" | "TokenRefreshRequired" => {
            Some(AwsProblem::ExpiredToken)
        }
        "AccessDeniedException"
        | "AccessDenied"
        | "UnauthorizedOperation"
        | "UnauthorizedException"
        | "AuthorizationError" => Some(AwsProblem::AccessDenied {
            action: action.to_owned(),
        }),
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "InvalidAccessKeyId" => Some(AwsProblem::InvalidCredentials {
            code: code.to_owned(),
        }),
        _ => None,
    }
}

/// The credential error somewhere in `err`'s sources (identity resolution failed).
fn credentials_in<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a CredentialsError> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return Some(c);
        }
        next = e.source();
    }
    None
}

/// The Display of the innermost source of `err` (the root cause: "Connection refused",
/// "failed to lookup address information"...), else of `err` itself.
fn innermost(err: &(dyn StdError + 'static)) -> String {
    let mut last = err;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// Every Display of the chain, for looking into (never printed).
fn chain_text(err: &(dyn StdError + 'static)) -> String {
    let mut out = String::new();
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        out.push_str(&e.to_string());
        out.push_str(": ");
        next = e.source();
    }
    out
}

/// `url` without `user:password@`.
fn without_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => url.rsplit_once('@').map_or(url, |(_, h)| h).to_owned(),
    }
}

/// Environment variables whose values are secrets.
const SECRET_VARIABLES: &[&str] = &[
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
];

/// One short line of `text` that carries no secret: the first line, without a trailing Debug
/// dump, at most 300 characters, with `secrets`, the values of the AWS_* secret variables and
/// anything shaped like an access key id replaced by `***`.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut line = text.lines().next().unwrap_or_default().to_owned();
    if let Some(at) = debug_dump_start(&line) {
        line.truncate(at);
    }
    let from_env: Vec<String> = SECRET_VARIABLES
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .collect();
    for secret in secrets
        .iter()
        .copied()
        .chain(from_env.iter().map(String::as_str))
    {
        if secret.len() >= 4 {
            line = line.replace(secret, "***");
        }
    }
    line = mask_key_ids(&line);
    if line.chars().count() > 300 {
        line = line.chars().take(300).collect::<String>() + "…";
    }
    line.trim_end().to_owned()
}

/// Where `DisplayErrorContext`'s ` (SomeError(SomeError { ... }))` Debug dump starts.
fn debug_dump_start(line: &str) -> Option<usize> {
    line.match_indices(" (").map(|(i, _)| i).find(|&i| {
        let rest = &line[i + 2..];
        let name: String = rest
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        name.starts_with(|c: char| c.is_ascii_uppercase())
            && (rest[name.len()..].starts_with('(') || rest[name.len()..].starts_with(" {"))
    })
}

/// Access key ids (`AKIA...`, `ASIA...`: 20 upper-case letters and digits) become `***`.
fn mask_key_ids(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let key = word.len() == 20
            && (word.starts_with("AKIA") || word.starts_with("ASIA"))
            && word
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        out.push_str(if key { "***" } else { word });
        word.clear();
    };
    for c in line.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Why calls with `settings` to `cluster` fail, when it is the credentials, the permissions,
/// the region or the endpoint: resolves the credential chain, then calls `ecs:ListServices`
/// (one result) on `cluster`, one attempt, and sorts what goes wrong. `None` when both work
/// or the failure is of another kind (the caller then reports its own error, shortened).
pub async fn diagnose(settings: &AwsSettings, cluster: Option<&str>) -> Option<AwsProblem> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(15))
                .build(),
        );
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some((id, secret)) = &settings.static_credentials {
        loader = loader.credentials_provider(aws_sdk_ecs::config::Credentials::new(
            id, secret, None, None, "ferry",
        ));
    }
    let config = loader.load().await;
    let Some(region) = config.region().map(ToString::to_string) else {
        return Some(AwsProblem::NoRegion);
    };
    let endpoint = Endpoint::new(Some(&region), config.endpoint_url());
    let provider = config.credentials_provider()?;
    let credentials = match provider.provide_credentials().await {
        Ok(c) => c,
        Err(e) => return Some(classify_credentials(&e)),
    };
    if credentials.expiry().is_some_and(|t| t <= SystemTime::now()) {
        return Some(AwsProblem::ExpiredToken);
    }
    let ecs = aws_sdk_ecs::Client::from_conf(
        aws_sdk_ecs::config::Builder::from(&config)
            .credentials_provider(credentials.clone())
            .build(),
    );
    let mut call = ecs.list_services().max_results(1);
    if let Some(cluster) = cluster {
        call = call.cluster(cluster);
    }
    let err = call.send().await.err()?;
    let secrets: Vec<&str> = [
        Some(credentials.secret_access_key()),
        credentials.session_token(),
    ]
    .into_iter()
    .flatten()
    .collect();
    classify("ecs:ListServices", &err, &endpoint).map(|p| match p {
        AwsProblem::Unreachable { endpoint, cause } => AwsProblem::Unreachable {
            endpoint,
            cause: scrub(&cause, &secrets),
        },
        AwsProblem::CredentialsFailed { detail } => AwsProblem::CredentialsFailed {
            detail: scrub(&detail, &secrets),
        },
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::error::ConnectorError;
    use aws_sdk_ecs::error::ErrorMetadata;
    use aws_sdk_ecs::operation::list_services::ListServicesError;

    type Err = SdkError<ListServicesError, ()>;

    fn endpoint() -> Endpoint {
        Endpoint::new(Some("us-east-1"), None)
    }

    fn service(code: &str) -> Err {
        SdkError::service_error(
            ListServicesError::generic(
                ErrorMetadata::builder()
                    .code(code)
                    .message("User: arn:aws:iam::123456789012:user/ci is not authorized")
                    .build(),
            ),
            (),
        )
    }

    #[test]
    fn service_errors_are_sorted_by_their_code() {
        let e = endpoint();
        assert_eq!(
            classify("ecs:ListServices", &service("AccessDeniedException"), &e),
            Some(AwsProblem::AccessDenied {
                action: "ecs:ListServices".into()
            })
        );
        assert_eq!(
            classify("ecs:ListServices", &service("ExpiredTokenException"), &e),
            Some(AwsProblem::ExpiredToken)
        );
        assert!(matches!(
            classify(
                "ecs:ListServices",
                &service("UnrecognizedClientException"),
                &e
            ),
            Some(AwsProblem::InvalidCredentials { .. })
        ));
        assert_eq!(
            classify("ecs:ListServices", &service("ClusterNotFoundException"), &e),
            None,
            "not an AWS setup problem: reported as it is"
        );
        let line = AwsProblem::AccessDenied {
            action: "ecs:ListServices".into(),
        }
        .to_string();
        assert!(line.contains("may not call ecs:ListServices"), "{line}");
    }

    #[test]
    fn a_credential_chain_that_found_nothing_is_no_credentials() {
        let err: Err = SdkError::dispatch_failure(ConnectorError::other(
            Box::new(CredentialsError::not_loaded(
                "no providers in chain provided credentials",
            )),
            None,
        ));
        let p = classify("ecs:ListServices", &err, &endpoint());
        assert_eq!(p, Some(AwsProblem::NoCredentials));
        let line = p.map(|p| p.to_string()).unwrap_or_default();
        assert!(line.starts_with("no AWS credentials found"), "{line}");
        assert!(line.contains("AWS_PROFILE"), "{line}");
        let timed_out = CredentialsError::provider_timed_out(Duration::from_secs(5));
        assert_eq!(
            classify_credentials(&timed_out),
            AwsProblem::CredentialsTimedOut
        );
        let sso = CredentialsError::provider_error("the SSO session has expired");
        assert_eq!(classify_credentials(&sso), AwsProblem::ExpiredToken);
        let refused = CredentialsError::provider_error(
            "request forbidden: IMDS is disabled or the caller has insufficient permissions.",
        );
        let p = classify_credentials(&refused);
        assert_eq!(p, AwsProblem::MetadataRefused);
        assert!(!p.to_string().contains("IMDS"), "{p}");
    }

    #[test]
    fn io_failures_are_an_unreachable_endpoint_with_the_root_cause() {
        let io = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let err: Err = SdkError::dispatch_failure(ConnectorError::io(Box::new(io)));
        let p = classify("ecs:ListServices", &err, &endpoint()).expect("sorted");
        let line = p.to_string();
        assert!(
            line.starts_with(
                "cannot reach the ECS API at https://ecs.us-east-1.amazonaws.com (region us-east-1): Connection refused"
            ),
            "{line}"
        );
    }

    #[test]
    fn error_codes_are_read_from_xml_and_json_bodies() {
        let xml = b"<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>m</Message></Error></Errors></ErrorResponse>";
        assert_eq!(error_code(xml).as_deref(), Some("AccessDenied"));
        let json = br#"{"__type":"com.amazonaws.ecs#ExpiredTokenException","message":"m"}"#;
        assert_eq!(error_code(json).as_deref(), Some("ExpiredTokenException"));
        assert_eq!(error_code(b"<html>nope</html>"), None);
    }

    #[test]
    fn scrubbed_lines_carry_no_secret_and_no_debug_dump() {
        let text = "dispatch failure: other: key AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG (DispatchFailure(DispatchFailure { source: x }))\nmore";
        let line = scrub(text, &["wJalrXUtnFEMI/K7MDENG"]);
        assert_eq!(line, "dispatch failure: other: key *** secret ***");
        assert_eq!(
            without_userinfo("http://user:pw@127.0.0.1:5000/x"),
            "http://127.0.0.1:5000/x"
        );
    }
}
