//! `Environment.spec.aws` as a user meets it: the account, region and role load, the registry
//! defaults to the account's ECR in the region, the older `spec.region` still works, and every
//! rule (12-digit account, role ARN shape, a role in another account, session duration, names)
//! is refused at the line of the field, without showing the external ID.

use std::path::Path;

use ferry_core::render::{Digests, render};
use ferry_core::{DesiredState, load_environment};

const SERVICE: &str = "apiVersion: ferry.dev/v1alpha1
kind: EcsService
metadata:
  name: web
spec:
  desiredCount: 1
  taskDefinition:
    cpu: 256
    memory: 512
    containers:
      - name: app
        image: web-app
";

fn environment(spec: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata:
  name: prod
spec:
{spec}  cluster: numbers
  network: {{ subnets: [subnet-1] }}
  resources: [../base]
  images: {{ web-app: {{ tag: v1 }} }}
"
    )
}

fn write(dir: &Path, spec: &str) {
    for (path, content) in [
        ("prod/environment.yaml", environment(spec)),
        ("base/web.yaml", SERVICE.to_owned()),
    ] {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
    }
}

fn load(spec: &str) -> Result<DesiredState, Vec<String>> {
    let dir = tempfile::tempdir().expect("temporary folder");
    write(dir.path(), spec);
    load_environment(dir.path(), "prod").map_err(|d| d.0.iter().map(ToString::to_string).collect())
}

#[test]
fn an_environment_names_its_account_region_and_role_and_images_come_from_that_accounts_ecr() {
    let state = load(
        "  aws:
    accountId: \"333333333333\"
    region: eu-west-1
    roleArn: arn:aws:iam::333333333333:role/ferry-deploy
    externalId: prod-external-id
    roleSessionName: ferry-prod
    durationSeconds: 900
",
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let spec = &state.environment.spec;
    assert_eq!(spec.aws_region(), Some("eu-west-1"));
    assert_eq!(spec.account_id(), Some("333333333333"));
    let rendered = render(&state, &Digests::default());
    let image = &rendered.services[0]
        .register_task_definition
        .container_definitions[0]
        .image;
    assert_eq!(
        image,
        "333333333333.dkr.ecr.eu-west-1.amazonaws.com/web-app:v1"
    );
}

#[test]
fn the_older_region_field_still_works_with_an_explicit_registry() {
    let state = load(
        "  region: us-east-1
  registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
",
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(state.environment.spec.aws_region(), Some("us-east-1"));
    assert_eq!(state.environment.spec.account_id(), None);
}

#[test]
fn every_rule_of_spec_aws_is_refused_at_the_line_of_its_field() {
    let errors = load(
        "  region: us-west-2
  aws:
    accountId: \"12345\"
    region: eu-west-1
    roleArn: arn:aws:iam::123456789012:user/ferry
    externalId: \"a secret with spaces\"
    roleSessionName: x
    durationSeconds: 60
",
    )
    .expect_err("refused");
    let text = errors.join("\n");
    let at = |line: usize, what: &str| {
        assert!(
            errors
                .iter()
                .any(|e| e.contains(&format!("environment.yaml:{line}")) && e.contains(what)),
            "no `{what}` at line {line} in:\n{text}"
        );
    };
    at(6, "differs from spec.aws.region");
    at(8, "must be 12 digits");
    at(10, "is not an IAM role ARN");
    at(11, "external ID must be");
    at(12, "role session name");
    at(13, "between 900 and 43200");
    assert!(!text.contains("a secret with spaces"), "{text}");

    let errors = load(
        "  aws:
    accountId: \"111111111111\"
    region: us-east-1
    roleArn: arn:aws:iam::222222222222:role/ferry
",
    )
    .expect_err("a role in another account");
    assert!(
        errors.iter().any(|e| e.contains("environment.yaml:9")
            && e.contains("222222222222")
            && e.contains("111111111111")),
        "{errors:?}"
    );

    let errors = load("  aws: { accountId: \"111111111111\" }\n").expect_err("no region");
    assert!(
        errors.iter().any(|e| e.contains("needs a region")),
        "{errors:?}"
    );
}
