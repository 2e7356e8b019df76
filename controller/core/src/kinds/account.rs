//! `Environment.spec.aws`: the account, region and role an environment deploys with, and
//! what follows from them (the region in use, the default ECR registry). Types only: the
//! rules are in `account`, assuming the role and checking the account in the ECS platform.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::EnvironmentSpec;

/// Where an ECS environment runs in AWS and as whom.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsSpec {
    /// The 12-digit AWS account the environment lives in. Before anything is read or written,
    /// Ferry checks (`sts:GetCallerIdentity`) that its credentials act in this account, and
    /// refuses to go on otherwise. Default: the account of `roleArn`, else unchecked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The AWS region (wins over `AWS_REGION`; the older `spec.region` is still read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The IAM role Ferry assumes for this environment, from its own credentials (which may
    /// themselves be a web identity). Default: Ferry's own credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The external ID the role's trust policy requires (never shown in status or errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The role session name (shown in CloudTrail). Default: `ferry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_session_name: Option<String>,
    /// How long assumed credentials last, 900 to 43200 seconds (the role's maximum session
    /// duration must allow it). Default: 3600. They are renewed before they expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u32>,
}

impl EnvironmentSpec {
    /// The region: `spec.aws.region`, else the older `spec.region`.
    pub fn aws_region(&self) -> Option<&str> {
        self.aws
            .as_ref()
            .and_then(|a| a.region.as_deref())
            .or(self.region.as_deref())
            .filter(|r| !r.is_empty())
    }

    /// The account the environment must be deployed into: `spec.aws.accountId`, else the
    /// account of `spec.aws.roleArn`.
    pub fn account_id(&self) -> Option<&str> {
        let aws = self.aws.as_ref()?;
        aws.account_id
            .as_deref()
            .filter(|a| !a.is_empty())
            .or_else(|| aws.role_arn.as_deref().and_then(role_account))
    }

    /// The ECR registry host images are pulled from: `spec.registry`, else
    /// `<accountId>.dkr.ecr.<region>.amazonaws.com` when the account is known.
    pub fn registry_host(&self) -> Option<String> {
        if let Some(r) = self.registry.as_deref().filter(|r| !r.is_empty()) {
            return Some(r.to_owned());
        }
        let account = self.account_id()?;
        let region = self.aws_region()?;
        Some(format!("{account}.dkr.ecr.{region}.amazonaws.com"))
    }
}

/// Whether `s` is an AWS account ID: 12 digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The account of an IAM role ARN (`arn:<partition>:iam::<account>:role/<path/name>`), when
/// `arn` has that shape.
pub fn role_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (arn_, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let name = resource.strip_prefix("role/")?;
    let name_ok = !name.is_empty()
        && name.len() <= 512
        && !name.ends_with('/')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
    (arn_ == "arn"
        && partition.starts_with("aws")
        && service == "iam"
        && region.is_empty()
        && is_account_id(account)
        && name_ok)
        .then_some(account)
}
