//! The AWS account an environment deploys into (`Environment.spec.aws`): account, region and
//! the role Ferry assumes there, their rules (checked at `file:line` with the other rules), and
//! what follows from them (the region in use, the default ECR registry). Types and rules only:
//! assuming the role and checking the account is the ECS platform's work.

use crate::kinds::PlatformKind;
use crate::load::{DesiredState, Diagnostic};
use crate::printable::quote;

pub use crate::kinds::account::*;

/// The shortest and longest session an assumed role may have (STS's limits).
pub const DURATION_SECONDS: std::ops::RangeInclusive<u32> = 900..=43_200;

/// The rules of `spec.aws`, at `file:line`.
pub fn validate(state: &DesiredState) -> Vec<Diagnostic> {
    let env = &state.environment;
    let mut out = Vec::new();
    let Some(aws) = &env.spec.aws else {
        return out;
    };
    let d = |path: &str, msg: String| env.origins.diagnostic(path, msg);
    let show = |path: &str, value: &str| {
        if env.origins.is_substituted(path) {
            crate::printable::HIDDEN.to_owned()
        } else {
            quote(value)
        }
    };
    if env.spec.platform == PlatformKind::Local {
        out.push(d(
            "spec.aws",
            "spec.aws is for ecs environments; a local environment runs on this machine".into(),
        ));
    }
    if let Some(a) = &aws.account_id
        && !is_account_id(a)
    {
        out.push(d(
            "spec.aws.accountId",
            format!(
                "account ID {} must be 12 digits (e.g. \"123456789012\", quoted)",
                show("spec.aws.accountId", a)
            ),
        ));
    }
    if let (Some(new), Some(old)) = (&aws.region, &env.spec.region)
        && new != old
    {
        out.push(d(
            "spec.region",
            format!(
                "spec.region {} differs from spec.aws.region {}: keep only spec.aws.region",
                show("spec.region", old),
                show("spec.aws.region", new)
            ),
        ));
    }
    if let Some(r) = &aws.region
        && !is_region(r)
    {
        out.push(d(
            "spec.aws.region",
            format!(
                "{} is not an AWS region name (e.g. us-east-1)",
                show("spec.aws.region", r)
            ),
        ));
    }
    if let Some(arn) = &aws.role_arn {
        match role_account(arn) {
            None => out.push(d(
                "spec.aws.roleArn",
                format!(
                    "{} is not an IAM role ARN (arn:aws:iam::123456789012:role/name)",
                    show("spec.aws.roleArn", arn)
                ),
            )),
            Some(account) => {
                if let Some(a) = &aws.account_id
                    && is_account_id(a)
                    && a != account
                {
                    out.push(d(
                        "spec.aws.roleArn",
                        format!(
                            "the role is in account {account}, but spec.aws.accountId is {a}: a role gives credentials of its own account"
                        ),
                    ));
                }
            }
        }
    }
    let needs_role = |path: &str, out: &mut Vec<Diagnostic>| {
        if aws.role_arn.is_none() {
            out.push(d(path, format!("{path} needs spec.aws.roleArn")));
        }
    };
    if let Some(id) = &aws.external_id {
        needs_role("spec.aws.externalId", &mut out);
        // Never quoted: an external ID is a shared secret of sorts.
        if !(2..=1224).contains(&id.len())
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/_-".contains(c))
        {
            out.push(d(
                "spec.aws.externalId",
                "the external ID must be 2-1224 letters, digits or + = , . @ : / _ -".into(),
            ));
        }
    }
    if let Some(name) = &aws.role_session_name {
        needs_role("spec.aws.roleSessionName", &mut out);
        if !(2..=64).contains(&name.len())
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
        {
            out.push(d(
                "spec.aws.roleSessionName",
                format!(
                    "role session name {} must be 2-64 letters, digits or + = , . @ _ -",
                    show("spec.aws.roleSessionName", name)
                ),
            ));
        }
    }
    if let Some(secs) = aws.duration_seconds {
        needs_role("spec.aws.durationSeconds", &mut out);
        if !DURATION_SECONDS.contains(&secs) {
            out.push(d(
                "spec.aws.durationSeconds",
                format!(
                    "durationSeconds {secs} must be between {} and {} (15 minutes to 12 hours)",
                    DURATION_SECONDS.start(),
                    DURATION_SECONDS.end()
                ),
            ));
        }
    }
    out
}

/// Whether `r` looks like a region name (`us-east-1`, `eu-central-2`, `us-gov-west-1`).
fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::EnvironmentSpec;

    #[test]
    fn a_role_arn_names_its_account_and_anything_else_is_refused() {
        assert_eq!(
            role_account("arn:aws:iam::123456789012:role/ferry-deploy"),
            Some("123456789012")
        );
        assert_eq!(
            role_account("arn:aws-us-gov:iam::123456789012:role/path/to/ferry"),
            Some("123456789012")
        );
        for bad in [
            "arn:aws:iam::12345678901:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:iam:us-east-1:123456789012:role/x",
            "arn:aws:sts::123456789012:role/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a b",
            "role/x",
        ] {
            assert_eq!(role_account(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_registry_defaults_to_the_accounts_ecr_in_the_region() {
        let mut spec = EnvironmentSpec {
            aws: Some(AwsSpec {
                region: Some("eu-west-1".into()),
                role_arn: Some("arn:aws:iam::210987654321:role/ferry".into()),
                ..AwsSpec::default()
            }),
            ..EnvironmentSpec::default()
        };
        assert_eq!(spec.account_id(), Some("210987654321"));
        assert_eq!(
            spec.registry_host().as_deref(),
            Some("210987654321.dkr.ecr.eu-west-1.amazonaws.com")
        );
        spec.registry = Some("mirror.example.com".into());
        assert_eq!(spec.registry_host().as_deref(), Some("mirror.example.com"));
        let old = EnvironmentSpec {
            region: Some("us-east-1".into()),
            ..EnvironmentSpec::default()
        };
        assert_eq!(old.aws_region(), Some("us-east-1"));
        assert_eq!(old.registry_host(), None, "no account, no default registry");
    }

    #[test]
    fn region_names_are_recognized() {
        for good in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-4",
        ] {
            assert!(is_region(good), "{good}");
        }
        for bad in ["useast1", "US-EAST-1", "us-east-", "us-east-x"] {
            assert!(!is_region(bad), "{bad}");
        }
    }
}
