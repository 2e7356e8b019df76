//! Validation rules over typed resources: everything ECS would refuse (or silently do wrong)
//! is caught here, at `file:line`, before anything reaches a platform.

use std::collections::{BTreeMap, BTreeSet};

use crate::kinds::{
    ContainerSpec, ENVIRONMENT_TAG, EcsServiceSpec, LaunchType, MANAGED_BY_TAG, PlatformKind,
};
use crate::load::{DesiredState, Diagnostic, Loaded};

/// Every rule violation in `state`.
pub fn validate(state: &DesiredState) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    environment(state, &mut out);
    for service in state.services.values() {
        self::service(state, service, &mut out);
    }
    service_order(state, &mut out);
    for repo in state.repositories.values() {
        repository(repo, &mut out);
    }
    out.extend(crate::autoscaling::validate(state));
    out
}

fn environment(state: &DesiredState, out: &mut Vec<Diagnostic>) {
    let env = &state.environment;
    let spec = &env.spec;
    let d = |path: &str, msg: String| env.origins.diagnostic(path, msg);
    if spec.platform == PlatformKind::Ecs {
        if spec.region.as_deref().is_none_or(str::is_empty) {
            out.push(d("spec.region", "an ecs environment needs a region".into()));
        }
        match spec.cluster.as_deref() {
            None | Some("") => out.push(d(
                "spec.cluster",
                "an ecs environment needs a cluster".into(),
            )),
            Some(c) if !is_ecs_name(c) => out.push(d(
                "spec.cluster",
                format!("cluster `{c}` must be 1-255 letters, digits, - or _"),
            )),
            _ => {}
        }
        let uses_stack_images = state.services.values().any(|s| {
            s.spec
                .task_definition
                .containers
                .iter()
                .any(|c| crate::render::is_registry_image(state, &c.image))
        });
        if uses_stack_images && spec.registry.as_deref().is_none_or(str::is_empty) {
            out.push(d("spec.registry", "containers use this stack's ECR repositories, so the environment needs `registry` (e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com)".into()));
        }
        for (name, svc) in &state.services {
            let net = svc.spec.network.as_ref().or(spec.network.as_ref());
            if net.is_none_or(|n| n.subnets.is_empty()) {
                out.push(svc.origins.diagnostic("spec", format!(
                    "service `{name}` has no subnets: set spec.network.subnets in the Environment or the service"
                )));
            }
        }
    }
    let used_images: BTreeSet<&str> = state
        .services
        .values()
        .flat_map(|s| {
            s.spec
                .task_definition
                .containers
                .iter()
                .map(|c| c.image.as_str())
        })
        .collect();
    for (repo, image) in &spec.images {
        let path = format!("spec.images.{repo}");
        if !state.repositories.contains_key(repo) && !used_images.contains(repo.as_str()) {
            out.push(d(&path, format!("`{repo}` is neither an EcrRepository of this stack nor an image a container uses")));
        }
        match (&image.tag, &image.digest) {
            (None, None) => out.push(d(&path, "set a tag or a digest".into())),
            (_, Some(digest)) if !is_digest(digest) => out.push(d(&format!("{path}.digest"), format!("`{digest}` is not a digest like sha256:<64 hex>"))),
            (Some(tag), _) if !is_tag(tag) => out.push(d(&format!("{path}.tag"), format!("`{tag}` is not a valid image tag (1-128 of A-Z a-z 0-9 _ . -, not starting with . or -)"))),
            _ => {}
        }
    }
    if let Some(timeout) = &spec.rollout_timeout
        && let Err(msg) = crate::kinds::parse_rollout_timeout(timeout)
    {
        out.push(d("spec.rolloutTimeout", msg));
    }
    if spec.platform == PlatformKind::Local {
        let commands = spec.local.as_ref().map(|l| &l.commands);
        for image in &used_images {
            if !commands.is_some_and(|c| c.contains_key(*image)) {
                out.push(d(
                    "spec.local.commands",
                    format!("no local command for image `{image}`"),
                ));
            }
        }
        if let Some(local) = &spec.local {
            for (image, cmd) in &local.commands {
                if cmd.command.is_empty() {
                    out.push(d(
                        &format!("spec.local.commands.{image}.command"),
                        "the command is empty".into(),
                    ));
                }
            }
        }
    }
}

fn service(state: &DesiredState, svc: &Loaded<EcsServiceSpec>, out: &mut Vec<Diagnostic>) {
    let spec = &svc.spec;
    let d = |path: &str, msg: String| svc.origins.diagnostic(path, msg);
    if !is_ecs_name(&svc.name) {
        out.push(d(
            "metadata.name",
            format!(
                "service name `{}` must be 1-255 letters, digits, - or _",
                svc.name
            ),
        ));
    }
    let td = &spec.task_definition;
    if let Some(family) = &td.family
        && !is_ecs_name(family)
    {
        out.push(d(
            "spec.taskDefinition.family",
            format!("family `{family}` must be 1-255 letters, digits, - or _"),
        ));
    }
    let fargate = spec.capacity_provider_strategy.is_empty()
        && spec.launch_type != Some(LaunchType::Ec2)
        || spec
            .capacity_provider_strategy
            .iter()
            .any(|c| c.capacity_provider.starts_with("FARGATE"));
    if fargate
        && state.environment.spec.platform == PlatformKind::Ecs
        && let Err(msg) = fargate_size(&td.cpu, &td.memory)
    {
        out.push(d("spec.taskDefinition.cpu", msg));
    }
    if td.containers.is_empty() {
        out.push(d(
            "spec.taskDefinition.containers",
            "a task needs at least one container".into(),
        ));
    }
    if !td.containers.is_empty() && td.containers.iter().all(|c| c.essential == Some(false)) {
        out.push(d(
            "spec.taskDefinition.containers",
            "at least one container must be essential".into(),
        ));
    }
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, c) in td.containers.iter().enumerate() {
        let path = format!("spec.taskDefinition.containers[{i}]");
        if let Some(first) = names.insert(&c.name, i) {
            out.push(d(
                &format!("{path}.name"),
                format!(
                    "container name `{}` is already used by containers[{first}]",
                    c.name
                ),
            ));
        }
        container(state, c, &path, &d, out);
    }
    let ports = |name: &str| -> Option<BTreeSet<u16>> {
        td.containers
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.port_mappings.iter().map(|p| p.container_port).collect())
    };
    for (i, c) in td.containers.iter().enumerate() {
        for (j, dep) in c.depends_on.iter().enumerate() {
            let path = format!("spec.taskDefinition.containers[{i}].dependsOn[{j}]");
            if dep.container_name == c.name {
                out.push(d(&path, "a container cannot depend on itself".into()));
            } else if !names.contains_key(dep.container_name.as_str()) {
                out.push(d(
                    &format!("{path}.containerName"),
                    format!("no container `{}` in this task", dep.container_name),
                ));
            }
            if !["START", "COMPLETE", "SUCCESS", "HEALTHY"].contains(&dep.condition.as_str()) {
                out.push(d(
                    &format!("{path}.condition"),
                    format!(
                        "`{}` is not START, COMPLETE, SUCCESS or HEALTHY",
                        dep.condition
                    ),
                ));
            }
        }
    }
    for (i, lb) in spec.load_balancers.iter().enumerate() {
        let path = format!("spec.loadBalancers[{i}]");
        match ports(&lb.container_name) {
            None => out.push(d(
                &format!("{path}.containerName"),
                format!("no container `{}` in this task", lb.container_name),
            )),
            Some(p) if !p.contains(&lb.container_port) => out.push(d(
                &format!("{path}.containerPort"),
                format!(
                    "container `{}` has no portMapping for {}",
                    lb.container_name, lb.container_port
                ),
            )),
            _ => {}
        }
        if !lb.target_group_arn.starts_with("arn:") {
            out.push(d(
                &format!("{path}.targetGroupArn"),
                format!("`{}` is not an ARN", lb.target_group_arn),
            ));
        }
    }
    if let Some(dep) = &spec.deployment {
        if let Some(min) = dep.minimum_healthy_percent
            && min > 100
        {
            out.push(d(
                "spec.deployment.minimumHealthyPercent",
                format!("{min} is above 100"),
            ));
        }
        if let Some(max) = dep.maximum_percent
            && !(100..=200).contains(&max)
        {
            out.push(d(
                "spec.deployment.maximumPercent",
                format!("{max} is outside 100-200"),
            ));
        }
    }
    for (i, dep) in spec.depends_on.iter().enumerate() {
        let path = format!("spec.dependsOn[{i}]");
        if dep == &svc.name {
            out.push(d(&path, "a service cannot depend on itself".into()));
        } else if !state.services.contains_key(dep) {
            out.push(d(
                &path,
                format!("no EcsService `{dep}` in this environment"),
            ));
        }
    }
    for key in spec.tags.keys() {
        if key.starts_with("aws:") || key == MANAGED_BY_TAG || key == ENVIRONMENT_TAG {
            out.push(d(
                &format!("spec.tags.{key}"),
                format!("tag `{key}` is reserved"),
            ));
        }
    }
}

fn container(
    state: &DesiredState,
    c: &ContainerSpec,
    path: &str,
    d: &dyn Fn(&str, String) -> Diagnostic,
    out: &mut Vec<Diagnostic>,
) {
    if !is_ecs_name(&c.name) {
        out.push(d(
            &format!("{path}.name"),
            format!(
                "container name `{}` must be 1-255 letters, digits, - or _",
                c.name
            ),
        ));
    }
    let is_repo = state.repositories.contains_key(&c.image);
    let local = state.environment.spec.platform == PlatformKind::Local;
    if !is_repo
        && !state.environment.spec.images.contains_key(&c.image)
        && !is_image_reference(&c.image)
        && !local
    {
        out.push(d(&format!("{path}.image"), format!(
            "`{}` is not an EcrRepository of this stack, a repository pinned in the Environment's spec.images, nor a full image reference (registry/name:tag or name@sha256:...)",
            c.image
        )));
    }
    if is_repo && !local && !state.environment.spec.images.contains_key(&c.image) {
        out.push(d(
            &format!("{path}.image"),
            format!(
                "no tag for `{}`: set spec.images.{}.tag (or .digest) in the Environment",
                c.image, c.image
            ),
        ));
    }
    for (name, value) in &c.environment {
        if looks_secret(name) && !value.is_empty() {
            out.push(d(&format!("{path}.environment.{name}"), format!(
                "`{name}` looks like a secret but has a literal value; move it to `secrets` with a Secrets Manager or SSM ARN"
            )));
        }
    }
    for (name, arn) in &c.secrets {
        if !is_secret_arn(arn) {
            out.push(d(&format!("{path}.secrets.{name}"), format!(
                "`{name}` must be a Secrets Manager or SSM parameter ARN (arn:aws:secretsmanager:... or arn:aws:ssm:...), never a value"
            )));
        }
        if c.environment.contains_key(name) {
            out.push(d(
                &format!("{path}.secrets.{name}"),
                format!("`{name}` is both an environment variable and a secret"),
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for (j, p) in c.port_mappings.iter().enumerate() {
        let pm = format!("{path}.portMappings[{j}]");
        if p.container_port == 0 {
            out.push(d(
                &format!("{pm}.containerPort"),
                "port 0 is not a port".into(),
            ));
        }
        if let Some(host) = p.host_port
            && host != p.container_port
        {
            out.push(d(
                &format!("{pm}.hostPort"),
                format!(
                    "under awsvpc hostPort must equal containerPort ({})",
                    p.container_port
                ),
            ));
        }
        if !seen.insert((p.container_port, p.protocol)) {
            out.push(d(
                &format!("{pm}.containerPort"),
                format!("port {} is mapped twice", p.container_port),
            ));
        }
    }
    if let Some(hc) = &c.health_check {
        let hp = format!("{path}.healthCheck");
        if hc.command.is_empty() && hc.http.is_none() {
            out.push(d(
                &hp,
                "a healthCheck needs a command (or an http check)".into(),
            ));
        }
        if let Some(first) = hc.command.first()
            && first != "CMD"
            && first != "CMD-SHELL"
        {
            out.push(d(
                &format!("{hp}.command"),
                format!("the command must start with CMD or CMD-SHELL, not `{first}`"),
            ));
        }
        for (field, value, lo, hi) in [
            ("interval", hc.interval, 5, 300),
            ("timeout", hc.timeout, 2, 120),
            ("retries", hc.retries, 1, 10),
            ("startPeriod", hc.start_period, 0, 300),
        ] {
            if let Some(v) = value
                && !(lo..=hi).contains(&v)
            {
                out.push(d(
                    &format!("{hp}.{field}"),
                    format!("{v} is outside {lo}-{hi}"),
                ));
            }
        }
    }
}

/// Service `dependsOn` must not form a cycle.
fn service_order(state: &DesiredState, out: &mut Vec<Diagnostic>) {
    if let Err(cycle) = crate::plan::service_order(state)
        && let Some(first) = cycle.first().and_then(|n| state.services.get(n))
    {
        out.push(first.origins.diagnostic(
            "spec.dependsOn",
            format!("dependsOn forms a cycle: {}", cycle.join(" → ")),
        ));
    }
}

fn repository(repo: &Loaded<crate::kinds::EcrRepositorySpec>, out: &mut Vec<Diagnostic>) {
    let d = |path: &str, msg: String| repo.origins.diagnostic(path, msg);
    if !is_repository_name(&repo.name) {
        out.push(d("metadata.name", format!(
            "repository name `{}` must be 2-256 lowercase letters, digits and . _ - / separators",
            repo.name
        )));
    }
    if let Some(enc) = &repo.spec.encryption {
        match enc.encryption_type.as_str() {
            "AES256" if enc.kms_key.is_some() => out.push(d(
                "spec.encryption.kmsKey",
                "kmsKey needs encryptionType KMS".into(),
            )),
            "AES256" | "KMS" => {}
            other => out.push(d(
                "spec.encryption.encryptionType",
                format!("`{other}` is not AES256 or KMS"),
            )),
        }
    }
    if let Some(l) = &repo.spec.lifecycle {
        if l.keep_last == Some(0) {
            out.push(d("spec.lifecycle.keepLast", "keep at least 1 image".into()));
        }
        if l.expire_untagged_after_days == Some(0) {
            out.push(d(
                "spec.lifecycle.expireUntaggedAfterDays",
                "use at least 1 day".into(),
            ));
        }
    }
    for key in repo.spec.tags.keys() {
        if key.starts_with("aws:") || key == MANAGED_BY_TAG || key == ENVIRONMENT_TAG {
            out.push(d(
                &format!("spec.tags.{key}"),
                format!("tag `{key}` is reserved"),
            ));
        }
    }
}

/// Whether (cpu, memory) is a valid Fargate task size.
pub fn fargate_size(cpu: &str, memory: &str) -> Result<(), String> {
    let cpu_n: u32 = cpu.parse().map_err(|_| {
        format!("cpu `{cpu}` must be CPU units (256, 512, 1024, 2048, 4096, 8192, 16384)")
    })?;
    let mem: u32 = memory
        .parse()
        .map_err(|_| format!("memory `{memory}` must be MiB (e.g. 1024)"))?;
    let ok = match cpu_n {
        256 => [512, 1024, 2048].contains(&mem),
        512 => (1024..=4096).contains(&mem) && mem.is_multiple_of(1024),
        1024 => (2048..=8192).contains(&mem) && mem.is_multiple_of(1024),
        2048 => (4096..=16384).contains(&mem) && mem.is_multiple_of(1024),
        4096 => (8192..=30720).contains(&mem) && mem.is_multiple_of(1024),
        8192 => (16384..=61440).contains(&mem) && mem.is_multiple_of(4096),
        16384 => (32768..=122_880).contains(&mem) && mem.is_multiple_of(8192),
        _ => {
            return Err(format!(
                "cpu `{cpu}` is not a Fargate size (256, 512, 1024, 2048, 4096, 8192, 16384)"
            ));
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "cpu {cpu} with memory {memory} is not a valid Fargate pair"
        ))
    }
}

fn is_ecs_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_repository_name(name: &str) -> bool {
    (2..=256).contains(&name.len())
        && name.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && part
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric())
                && part
                    .bytes()
                    .last()
                    .is_some_and(|b| b.is_ascii_alphanumeric())
        })
}

fn is_image_reference(image: &str) -> bool {
    !image.is_empty()
        && !image.contains(char::is_whitespace)
        && (image.contains('/') || image.contains(':') || image.contains('@'))
}

fn is_tag(tag: &str) -> bool {
    (1..=128).contains(&tag.len())
        && !tag.starts_with(['.', '-'])
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn is_digest(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_secret_arn(arn: &str) -> bool {
    let mut parts = arn.splitn(4, ':');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some("arn"), Some(partition), Some("secretsmanager" | "ssm")) if partition.starts_with("aws")
    )
}

/// Whether an environment variable name suggests a secret (`PG_PASSWORD`, `API_KEY`...).
pub fn looks_secret(name: &str) -> bool {
    name.to_ascii_uppercase()
        .split(['_', '-', '.'])
        .any(|part| {
            [
                "PASSWORD",
                "PASSWD",
                "PWD",
                "SECRET",
                "TOKEN",
                "KEY",
                "CREDENTIAL",
                "CREDENTIALS",
                "PRIVATE",
            ]
            .contains(&part)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fargate_pairs() {
        assert!(fargate_size("256", "512").is_ok());
        assert!(fargate_size("512", "1024").is_ok());
        assert!(fargate_size("4096", "30720").is_ok());
        assert!(fargate_size("256", "4096").is_err());
        assert!(fargate_size("512", "1536").is_err());
        assert!(fargate_size("300", "1024").is_err());
        assert!(fargate_size("half", "1024").is_err());
    }

    #[test]
    fn secret_looking_names() {
        for name in [
            "PG_PASSWORD",
            "API_KEY",
            "github-token",
            "CLIENT_SECRET",
            "DB_CREDENTIALS",
        ] {
            assert!(looks_secret(name), "{name}");
        }
        for name in ["PG_HOST", "KEYCLOAK_URL", "TOKENIZER_MODEL", "PORT"] {
            assert!(!looks_secret(name), "{name}");
        }
    }

    #[test]
    fn names_references_and_arns() {
        assert!(is_repository_name("numbers-api"));
        assert!(is_repository_name("team/numbers_api.v2"));
        assert!(!is_repository_name("Numbers"));
        assert!(!is_repository_name("a"));
        assert!(is_image_reference("nginx:1.27"));
        assert!(is_image_reference("public.ecr.aws/nginx/nginx@sha256:abc"));
        assert!(!is_image_reference("numbers-api"));
        assert!(is_secret_arn(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCd:password::"
        ));
        assert!(is_secret_arn(
            "arn:aws:ssm:eu-west-1:123456789012:parameter/x"
        ));
        assert!(!is_secret_arn("hunter2"));
        assert!(is_digest(&format!("sha256:{}", "a".repeat(64))));
        assert!(!is_tag("-bad"));
    }
}
