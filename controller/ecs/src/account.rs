//! The credentials of one environment's AWS account, and the guard that keeps Ferry out of any
//! other account. [`AccountGuard`] is the credentials provider every client of the environment
//! (ECS, ECR, Application Auto Scaling, CloudWatch) signs with: it takes credentials from a
//! source (the role assumed with the SDK's own `AssumeRoleProvider`, from Ferry's own chain, or
//! that chain itself), asks `sts:GetCallerIdentity` which account each new access key acts in
//! (once per key), and hands out only credentials of the expected account. It keeps the current
//! credentials and renews them `renew_before` their expiry (one renewal at a time: callers wait
//! for it), so it is the clients' credentials cache (they are built with the SDK's `no_cache`).
//! One guard per role, external ID, region and account, shared by every environment that names
//! them. Nothing it reports carries a secret.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata};

use crate::diagnose;

/// The role an environment assumes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AssumeRole {
    /// The role's ARN.
    pub arn: String,
    /// The external ID its trust policy requires (never shown).
    pub external_id: Option<String>,
    /// The session name (default `ferry`).
    pub session_name: Option<String>,
    /// How long a session lasts (default: STS's, one hour).
    pub duration: Option<Duration>,
}

/// Why an environment's credentials were refused or could not be had.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// The credentials act in another account than the environment names.
    #[error(
        "the AWS credentials{via} act in account {actual}, not in {expected} (spec.aws.accountId): nothing was read or written; fix spec.aws.accountId or spec.aws.roleArn, or give Ferry credentials of account {expected}"
    )]
    WrongAccount {
        /// The account the environment names.
        expected: String,
        /// The account `sts:GetCallerIdentity` answered.
        actual: String,
        /// ` of role <arn>`, or nothing.
        via: String,
    },
    /// STS refused (or could not be asked) to assume the role.
    #[error(
        "cannot assume role {role}: {detail}: check that the role exists, that its trust policy lets Ferry's identity assume it (with the external ID, when spec.aws.externalId is set) and that its maximum session duration allows spec.aws.durationSeconds"
    )]
    AssumeRole {
        /// The role ARN.
        role: String,
        /// What STS said (scrubbed, one line).
        detail: String,
        /// Worth retrying (throttling, network).
        transient: bool,
    },
    /// Ferry's own credential chain gave nothing usable.
    #[error("{0}")]
    Credentials(String),
    /// `sts:GetCallerIdentity` failed.
    #[error(
        "cannot check which AWS account the credentials act in (sts:GetCallerIdentity): {detail}: check that the STS endpoint of the region is reachable"
    )]
    Identity {
        /// What STS said (scrubbed, one line).
        detail: String,
    },
}

impl AccountError {
    /// The typed reason status conditions and history show.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::WrongAccount { .. } => "AccountMismatch",
            Self::AssumeRole { .. } => "AssumeRoleFailed",
            Self::Credentials(_) => "CredentialsFailed",
            Self::Identity { .. } => "AccountCheckFailed",
        }
    }

    /// Worth retrying with backoff.
    pub fn transient(&self) -> bool {
        match self {
            Self::WrongAccount { .. } | Self::Credentials(_) => false,
            Self::AssumeRole { transient, .. } => *transient,
            Self::Identity { .. } => true,
        }
    }
}

/// What the guard checks and where its credentials come from.
#[derive(Clone)]
pub(crate) struct GuardSettings {
    /// The account the credentials must act in (unchecked when `None`).
    pub(crate) expected: Option<String>,
    /// The role assumed, when one is.
    pub(crate) role: Option<AssumeRole>,
    /// Renew the credentials this long before they expire.
    pub(crate) renew_before: Duration,
}

/// How long a refusal is answered from memory (STS is not asked again at every health check
/// of a stalled environment).
const REFUSAL_KEPT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct State {
    /// The credentials handed out now (already checked).
    current: Option<Credentials>,
    /// The last refusal and when it happened.
    refused: Option<(std::time::Instant, AccountError)>,
    /// The account of each access key seen (at most 8 keys).
    accounts: BTreeMap<String, String>,
}

struct Inner {
    settings: GuardSettings,
    /// Where credentials come from.
    source: SharedCredentialsProvider,
    /// Region, endpoint, HTTP client and retries for STS.
    base: SdkConfig,
    state: tokio::sync::Mutex<State>,
    /// How many credentials were fetched from the source (tests and metrics).
    fetched: std::sync::atomic::AtomicU64,
}

/// See the module documentation. Cheap to clone (shared).
#[derive(Clone)]
pub struct AccountGuard(Arc<Inner>);

impl std::fmt::Debug for AccountGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountGuard")
            .field("expected", &self.0.settings.expected)
            .field("role", &self.0.settings.role.as_ref().map(|r| &r.arn))
            .finish_non_exhaustive()
    }
}

impl AccountGuard {
    /// A guard over `base`'s credential chain (with `settings.role` assumed from it).
    pub(crate) async fn new(settings: GuardSettings, base: &SdkConfig) -> Self {
        let source = match &settings.role {
            Some(role) => {
                let mut builder = aws_config::sts::AssumeRoleProvider::builder(role.arn.clone())
                    .session_name(role.session_name.clone().unwrap_or_else(|| "ferry".into()))
                    .configure(base);
                if let Some(id) = &role.external_id {
                    builder = builder.external_id(id.clone());
                }
                if let Some(d) = role.duration {
                    builder = builder.session_length(d);
                }
                SharedCredentialsProvider::new(builder.build().await)
            }
            None => match base.credentials_provider() {
                Some(p) => p,
                None => SharedCredentialsProvider::new(
                    aws_credential_types::credential_fn::provide_credentials_fn(|| async {
                        Err(CredentialsError::not_loaded_no_source())
                    }),
                ),
            },
        };
        Self(Arc::new(Inner {
            settings,
            source,
            base: base.clone(),
            state: tokio::sync::Mutex::new(State::default()),
            fetched: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// The account the credentials must act in.
    pub fn expected_account(&self) -> Option<&str> {
        self.0.settings.expected.as_deref()
    }

    /// How many times credentials were taken from the source (assumed) so far.
    pub fn fetched(&self) -> u64 {
        self.0.fetched.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Checked credentials: the current ones while they last longer than `renew_before`, else
    /// new ones from the source, whose account is checked once per access key.
    pub async fn credentials(&self) -> Result<Credentials, AccountError> {
        let inner = &*self.0;
        let mut state = inner.state.lock().await;
        if let Some(c) = &state.current
            && fresh(c, inner.settings.renew_before)
        {
            return Ok(c.clone());
        }
        state.current = None;
        if let Some((at, e)) = &state.refused
            && at.elapsed() < REFUSAL_KEPT
        {
            return Err(e.clone());
        }
        let checked = self.fetch_and_check(&mut state).await;
        state.refused = checked
            .as_ref()
            .err()
            .map(|e| (std::time::Instant::now(), e.clone()));
        checked
    }

    async fn fetch_and_check(&self, state: &mut State) -> Result<Credentials, AccountError> {
        let inner = &*self.0;
        inner
            .fetched
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let creds = inner
            .source
            .provide_credentials()
            .await
            .map_err(|e| self.source_error(&e))?;
        if let Some(expected) = &inner.settings.expected {
            let actual = match state.accounts.get(creds.access_key_id()) {
                Some(a) => a.clone(),
                None => {
                    let a = self.account_of(&creds).await?;
                    if state.accounts.len() >= 8 {
                        state.accounts.pop_first();
                    }
                    state
                        .accounts
                        .insert(creds.access_key_id().to_owned(), a.clone());
                    a
                }
            };
            if &actual != expected {
                tracing::warn!(expected = %expected, actual = %actual, "refusing credentials of another AWS account");
                return Err(AccountError::WrongAccount {
                    expected: expected.clone(),
                    actual,
                    via: inner
                        .settings
                        .role
                        .as_ref()
                        .map(|r| format!(" of role {}", r.arn))
                        .unwrap_or_default(),
                });
            }
        }
        if inner.settings.role.is_some() {
            tracing::info!(
                role = inner.settings.role.as_ref().map(|r| r.arn.as_str()).unwrap_or_default(),
                expires = ?creds.expiry(),
                "assumed role"
            );
        }
        state.current = Some(creds.clone());
        Ok(creds)
    }

    fn source_error(&self, e: &CredentialsError) -> AccountError {
        let Some(role) = &self.0.settings.role else {
            return AccountError::Credentials(diagnose::classify_credentials(e).to_string());
        };
        let text = DisplayErrorContext(e).to_string();
        let secrets: Vec<&str> = role.external_id.as_deref().into_iter().collect();
        let detail = match std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<aws_sdk_sts::error::SdkError<aws_sdk_sts::operation::assume_role::AssumeRoleError>>())
        {
            Some(sdk) => match (sdk.code(), sdk.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                _ => text,
            },
            None => text,
        };
        let transient = matches!(e, CredentialsError::ProviderTimedOut(_))
            || crate::pace::is_throttling(Some(detail.as_str()))
            || detail.contains("dispatch failure")
            || detail.contains("timeout");
        AccountError::AssumeRole {
            role: role.arn.clone(),
            detail: diagnose::scrub(&detail, &secrets),
            transient,
        }
    }

    /// `sts:GetCallerIdentity` signed with `creds`: the account they act in.
    async fn account_of(&self, creds: &Credentials) -> Result<String, AccountError> {
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&self.0.base)
                .credentials_provider(creds.clone())
                .build(),
        );
        let secrets: Vec<&str> = [Some(creds.secret_access_key()), creds.session_token()]
            .into_iter()
            .flatten()
            .collect();
        match sts.get_caller_identity().send().await {
            Ok(out) => out
                .account()
                .map(str::to_owned)
                .ok_or_else(|| AccountError::Identity {
                    detail: "the answer names no account".into(),
                }),
            Err(e) => Err(AccountError::Identity {
                detail: diagnose::scrub(
                    &e.message()
                        .map_or_else(|| DisplayErrorContext(&e).to_string(), str::to_owned),
                    &secrets,
                ),
            }),
        }
    }
}

/// Whether `c` lasts longer than `margin` from now (credentials without expiry always do).
fn fresh(c: &Credentials, margin: Duration) -> bool {
    c.expiry().is_none_or(|t| {
        t.duration_since(SystemTime::now())
            .is_ok_and(|left| left > margin)
    })
}

impl ProvideCredentials for AccountGuard {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.credentials()
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_renewed_once_they_expire_within_the_margin() {
        let now = SystemTime::now();
        let creds = |left: u64| {
            Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                Some("token".into()),
                Some(now + Duration::from_secs(left)),
                "test",
            )
        };
        let margin = Duration::from_secs(300);
        assert!(fresh(&creds(900), margin), "15 minutes left: kept");
        assert!(!fresh(&creds(290), margin), "under 5 minutes left: renewed");
        assert!(
            fresh(&Credentials::new("AKID", "s", None, None, "static"), margin),
            "credentials without expiry are kept"
        );
        let past = Credentials::new("AKID", "s", None, Some(now - Duration::from_secs(1)), "t");
        assert!(!fresh(&past, margin));
    }

    #[test]
    fn a_wrong_account_names_both_accounts_and_the_fix() {
        let e = AccountError::WrongAccount {
            expected: "111111111111".into(),
            actual: "222222222222".into(),
            via: " of role arn:aws:iam::222222222222:role/ferry".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("111111111111") && text.contains("222222222222"),
            "{text}"
        );
        assert!(text.contains("nothing was read or written"), "{text}");
        assert_eq!(e.reason(), "AccountMismatch");
        assert!(!e.transient());
        assert!(!text.contains('\n'));
    }
}
