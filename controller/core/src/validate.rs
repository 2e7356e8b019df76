//! Validation rules over typed resources: everything ECS would refuse (or silently do wrong)
//! is caught here, at `file:line`, before anything reaches a platform: names (given and
//! derived) within ECS's and ECR's limits and character sets, tags within their lengths,
//! credentials recognized by value, local commands kept inside the repository. Messages quote
//! a value only when it is neither a credential nor a substituted `${…}` value.

use std::collections::{BTreeMap, BTreeSet};

use crate::kinds::{
    ContainerSpec, ENVIRONMENT_TAG, EcsServiceSpec, LaunchType, MANAGED_BY_TAG, PlatformKind,
};
use std::path::Path;

use crate::load::{
    Broken, DesiredState, Diagnostic, Diagnostics, Loaded, Origins, finish, is_plain_relative,
    is_within,
};
use crate::printable::{HIDDEN, quote, secret_kind};

/// Load and validate environment `env` from the manifests folder `root`: read and typed by
/// `load`, then every rule here. A rule about a field that already has an error is left out
/// (it would only repeat it).
pub fn load_environment(root: &Path, env: &str) -> Result<DesiredState, Diagnostics> {
    let (state, broken, mut diags) = crate::load::read_environment(root, env)?;
    let rules = validate_with(&state, &broken);
    let earlier = diags.clone();
    diags.extend(rules.into_iter().filter(|d| {
        !earlier.iter().any(|e| {
            e.file == d.file
                && match (&e.field, &d.field) {
                    (Some(ef), Some(df)) => is_within(df, ef),
                    _ => false,
                }
        })
    }));
    if diags.is_empty() {
        Ok(state)
    } else {
        Err(finish(diags))
    }
}

/// Every rule violation in `state`.
pub fn validate(state: &DesiredState) -> Vec<Diagnostic> {
    validate_with(state, &Broken::default())
}

/// Every rule violation in `state`, skipping rules that refer to resources in `broken` (their
/// own error is the one to fix).
pub fn validate_with(state: &DesiredState, broken: &Broken) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    environment(state, broken, &mut out);
    out.extend(crate::account::validate(state));
    for service in state.services.values() {
        self::service(state, service, broken, &mut out);
    }
    service_order(state, &mut out);
    for repo in state.repositories.values() {
        repository(repo, &mut out);
    }
    out.extend(crate::autoscaling::validate(state));
    out.extend(crate::ecs_features::validate(state));
    out.extend(crate::ecs_fields::validate(state));
    out.extend(crate::progressive::validate(state));
    out
}

/// `value` of the field at `path` as a message may show it.
fn shown(origins: &Origins, path: &str, value: &str) -> String {
    if origins.is_substituted(path) {
        HIDDEN.to_owned()
    } else {
        quote(value)
    }
}

/// Most tags a resource may have (ECS and ECR: 50, of which Ferry uses 2).
pub const MAX_TAGS: usize = 50;

/// Tag rules shared by ECS and ECR: reserved keys, lengths, characters, count.
fn tags(tags: &BTreeMap<String, String>, origins: &Origins, out: &mut Vec<Diagnostic>) {
    let d = |path: &str, msg: String| origins.diagnostic(path, msg);
    if tags.len() + 2 > MAX_TAGS {
        out.push(d(
            "spec.tags",
            format!(
                "{} tags, plus Ferry's 2, exceed the {MAX_TAGS} a resource may have",
                tags.len()
            ),
        ));
    }
    for (key, value) in tags {
        let path = format!("spec.tags.{key}");
        if key.to_ascii_lowercase().starts_with("aws:")
            || key == MANAGED_BY_TAG
            || key == ENVIRONMENT_TAG
        {
            out.push(d(&path, format!("tag {} is reserved", quote(key))));
        } else if !(1..=128).contains(&key.chars().count()) || !key.chars().all(is_tag_char) {
            out.push(d(&path, format!(
                "tag key {} must be 1-128 characters: letters, digits, spaces and _ . : / = + - @",
                quote(key)
            )));
        }
        if value.chars().count() > 256 || !value.chars().all(is_tag_char) {
            out.push(d(&path, format!(
                "the value of tag {} must be at most 256 characters: letters, digits, spaces and _ . : / = + - @",
                quote(key)
            )));
        } else if let Some(kind) = secret_kind(value) {
            out.push(d(
                &path,
                format!(
                    "the value of tag {} looks like {kind}; a credential never belongs in a tag",
                    quote(key)
                ),
            ));
        }
    }
}

fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)
}

fn environment(state: &DesiredState, broken: &Broken, out: &mut Vec<Diagnostic>) {
    let env = &state.environment;
    let spec = &env.spec;
    let d = |path: &str, msg: String| env.origins.diagnostic(path, msg);
    let show = |path: &str, value: &str| shown(&env.origins, path, value);
    if spec.platform == PlatformKind::Ecs {
        if spec.aws_region().is_none() {
            out.push(d(
                "spec.aws.region",
                "an ecs environment needs a region (spec.aws.region)".into(),
            ));
        }
        match spec.cluster.as_deref() {
            None | Some("") => out.push(d(
                "spec.cluster",
                "an ecs environment needs a cluster".into(),
            )),
            Some(c) if !is_ecs_name(c) => out.push(d(
                "spec.cluster",
                format!(
                    "cluster {} must be 1-255 letters, digits, - or _",
                    show("spec.cluster", c)
                ),
            )),
            _ => {}
        }
        let uses_stack_images = state.services.values().any(|s| {
            s.spec
                .containers()
                .any(|c| crate::render::is_registry_image(state, &c.image))
        });
        if uses_stack_images && spec.registry_host().is_none() {
            out.push(d("spec.registry", "containers use this stack's ECR repositories, so the environment needs `registry` (e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com) or spec.aws.accountId".into()));
        }
        for svc in state.services.values() {
            let net = svc.spec.network.as_ref().or(spec.network.as_ref());
            if svc.spec.task_definition.network_mode() == "awsvpc"
                && net.is_none_or(|n| n.subnets.is_empty())
            {
                out.push(svc.origins.diagnostic("spec", format!(
                    "service {} has no subnets: set spec.network.subnets in the Environment or the service",
                    quote(&svc.name)
                )));
            }
        }
    }
    let used_images: BTreeSet<&str> = state
        .services
        .values()
        .flat_map(|s| s.spec.containers().map(|c| c.image.as_str()))
        .collect();
    for (repo, image) in &spec.images {
        let path = format!("spec.images.{repo}");
        if !is_repository_name(repo) {
            out.push(d(
                &path,
                format!(
                    "{} is not an ECR repository name ({REPOSITORY_RULE})",
                    quote(repo)
                ),
            ));
        } else if !state.repositories.contains_key(repo)
            && !used_images.contains(repo.as_str())
            && !broken.any("EcsService")
            && !broken.covers("EcrRepository", repo)
        {
            out.push(d(
                &path,
                format!(
                    "{} is neither an EcrRepository of this stack nor an image a container uses",
                    quote(repo)
                ),
            ));
        }
        let (tag_path, digest_path) = (format!("{path}.tag"), format!("{path}.digest"));
        match (&image.tag, &image.digest) {
            (None, None) => out.push(d(&path, "set a tag or a digest".into())),
            (_, Some(digest)) if !is_digest(digest) => out.push(d(&digest_path, format!("{} is not a digest like sha256:<64 hex>", show(&digest_path, digest)))),
            (Some(tag), _) if !is_tag(tag) => out.push(d(&tag_path, format!("{} is not a valid image tag (1-128 of A-Z a-z 0-9 _ . -, not starting with . or -)", show(&tag_path, tag)))),
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
                    format!("no local command for image {}", quote(image)),
                ));
            }
        }
    }
    if let Some(local) = &spec.local {
        for (image, cmd) in &local.commands {
            let path = format!("spec.local.commands.{image}");
            match cmd.command.first() {
                None => out.push(d(&format!("{path}.command"), "the command is empty".into())),
                // A bare name is looked up on PATH; anything with a `/` is a file of the
                // repository and must stay inside it.
                Some(program) if program.contains('/') && !is_plain_relative(program) => {
                    out.push(d(&format!("{path}.command[0]"), format!(
                        "{} leaves the repository: a local command is a name found on PATH or a path relative to the repository, without `..`",
                        show(&format!("{path}.command[0]"), program)
                    )));
                }
                Some(program) if program.is_empty() || program.contains('\0') => {
                    out.push(d(
                        &format!("{path}.command[0]"),
                        "the program name is empty or holds a NUL".into(),
                    ));
                }
                _ => {}
            }
            for (i, arg) in cmd.command.iter().enumerate() {
                if let Some(kind) = secret_kind(arg) {
                    out.push(d(&format!("{path}.command[{i}]"), format!(
                        "looks like {kind}; pass credentials to a container through `secrets`, never in its command"
                    )));
                }
            }
            if let Some(dir) = &cmd.working_dir
                && !is_plain_relative(dir)
            {
                out.push(d(&format!("{path}.workingDir"), format!(
                    "{} leaves the repository: workingDir is a folder relative to the repository, without `..`",
                    show(&format!("{path}.workingDir"), dir)
                )));
            }
        }
    }
}

fn service(
    state: &DesiredState,
    svc: &Loaded<EcsServiceSpec>,
    broken: &Broken,
    out: &mut Vec<Diagnostic>,
) {
    let spec = &svc.spec;
    let d = |path: &str, msg: String| svc.origins.diagnostic(path, msg);
    let show = |path: &str, value: &str| shown(&svc.origins, path, value);
    let name_ok = is_ecs_name(&svc.name);
    if !name_ok {
        out.push(d(
            "metadata.name",
            format!(
                "service name {} must be 1-255 letters, digits, - or _",
                quote(&svc.name)
            ),
        ));
    }
    let td = &spec.task_definition;
    match &td.family {
        Some(family) if !is_ecs_name(family) => out.push(d(
            "spec.taskDefinition.family",
            format!(
                "family {} must be 1-255 letters, digits, - or _",
                show("spec.taskDefinition.family", family)
            ),
        )),
        Some(_) => {}
        None => {
            // The default family is derived: `{env}-{name}` must itself be a valid family.
            let family = crate::render::family(state, svc);
            if name_ok && crate::load::is_environment_name(&state.env) && !is_ecs_name(&family) {
                out.push(d(
                    "metadata.name",
                    format!(
                        "the task family `{{env}}-{{name}}` would be {} characters, over ECS's 255: shorten the service name or set spec.taskDefinition.family",
                        family.len()
                    ),
                ));
            }
        }
    }
    for (i, c) in spec.capacity_provider_strategy.iter().enumerate() {
        if !is_ecs_name(&c.capacity_provider) {
            let path = format!("spec.capacityProviderStrategy[{i}].capacityProvider");
            out.push(d(
                &path,
                format!(
                    "capacity provider {} must be 1-255 letters, digits, - or _",
                    show(&path, &c.capacity_provider)
                ),
            ));
        }
    }
    let fargate = spec.capacity_provider_strategy.is_empty()
        && spec.launch_type != Some(LaunchType::Ec2)
        || spec
            .capacity_provider_strategy
            .iter()
            .any(|c| c.capacity_provider.starts_with("FARGATE"));
    if fargate && state.environment.spec.platform == PlatformKind::Ecs {
        match (&td.cpu, &td.memory) {
            (Some(cpu), Some(memory)) => {
                if let Err(msg) = fargate_size(cpu, memory) {
                    out.push(d("spec.taskDefinition.cpu", msg));
                }
            }
            (None, _) => out.push(d(
                "spec.taskDefinition",
                "a Fargate task needs a task-level `cpu` (or set `launchType: EC2`)".into(),
            )),
            (_, None) => out.push(d(
                "spec.taskDefinition",
                "a Fargate task needs a task-level `memory` (or set `launchType: EC2`)".into(),
            )),
        }
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
        container(state, svc, c, &path, broken, out);
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
                let p = format!("{path}.containerName");
                out.push(d(
                    &p,
                    format!(
                        "no container {} in this task",
                        show(&p, &dep.container_name)
                    ),
                ));
            }
            if !["START", "COMPLETE", "SUCCESS", "HEALTHY"].contains(&dep.condition.as_str()) {
                let p = format!("{path}.condition");
                out.push(d(
                    &p,
                    format!(
                        "{} is not START, COMPLETE, SUCCESS or HEALTHY",
                        show(&p, &dep.condition)
                    ),
                ));
            }
        }
    }
    for (i, lb) in spec.load_balancers.iter().enumerate() {
        let path = format!("spec.loadBalancers[{i}]");
        let name_path = format!("{path}.containerName");
        match ports(&lb.container_name) {
            None => out.push(d(
                &name_path,
                format!(
                    "no container {} in this task",
                    show(&name_path, &lb.container_name)
                ),
            )),
            Some(p) if !p.contains(&lb.container_port) => out.push(d(
                &format!("{path}.containerPort"),
                format!(
                    "container {} has no portMapping for {}",
                    show(&name_path, &lb.container_name),
                    lb.container_port
                ),
            )),
            _ => {}
        }
        if !lb.target_group_arn.starts_with("arn:") {
            let p = format!("{path}.targetGroupArn");
            out.push(d(
                &p,
                format!("{} is not an ARN", show(&p, &lb.target_group_arn)),
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
    pre_deploy(state, svc, broken, out);
    for (i, dep) in spec.depends_on.iter().enumerate() {
        let path = format!("spec.dependsOn[{i}]");
        if dep == &svc.name {
            out.push(d(&path, "a service cannot depend on itself".into()));
        } else if !state.services.contains_key(dep) && !broken.covers("EcsService", dep) {
            out.push(d(
                &path,
                format!("no EcsService {} in this environment", show(&path, dep)),
            ));
        }
    }
    tags(&spec.tags, &svc.origins, out);
}

fn container(
    state: &DesiredState,
    svc: &Loaded<EcsServiceSpec>,
    c: &ContainerSpec,
    path: &str,
    broken: &Broken,
    out: &mut Vec<Diagnostic>,
) {
    let origins = &svc.origins;
    let awsvpc = svc.spec.task_definition.network_mode() == "awsvpc";
    let plaintext = crate::kinds::plaintext_environment(&svc.annotations);
    let d = |path: &str, msg: String| origins.diagnostic(path, msg);
    let show = |path: &str, value: &str| shown(origins, path, value);
    let name_path = format!("{path}.name");
    if !is_ecs_name(&c.name) {
        out.push(d(
            &name_path,
            format!(
                "container name {} must be 1-255 letters, digits, - or _",
                show(&name_path, &c.name)
            ),
        ));
    }
    let image_path = format!("{path}.image");
    let image = show(&image_path, &c.image);
    let is_repo = state.repositories.contains_key(&c.image);
    let local = state.environment.spec.platform == PlatformKind::Local;
    if !is_image_text(&c.image) {
        // ecspresso's and other tools' templates (`{{ must_env `TAG` }}`) are filled in before
        // ECS sees them; Ferry's manifests hold what ECS registers.
        let template = if c.image.contains("{{") {
            "; this is a template: render it first (`ecspresso render taskdef`), or write the repository name and set its tag in the Environment's spec.images"
        } else {
            ""
        };
        out.push(d(&image_path, format!(
            "image {image} must be 1-255 letters, digits and - _ : . / @ # (no spaces or control characters){template}"
        )));
    } else if !is_repo
        && !state.environment.spec.images.contains_key(&c.image)
        && !is_image_reference(&c.image)
        && !local
        && !broken.covers("EcrRepository", &c.image)
        && (state.environment.spec.bare_images != Some(crate::kinds::BareImages::Reference)
            || looks_like_a_stack_repository(state, &c.image))
    {
        out.push(d(&image_path, format!(
            "{image} is not an EcrRepository of this stack, a repository pinned in the Environment's spec.images, nor a full image reference (registry/name:tag or name@sha256:...)"
        )));
    }
    if is_repo && !local && !state.environment.spec.images.contains_key(&c.image) {
        out.push(d(
            &image_path,
            format!(
                "no tag for {image}: set spec.images.<repository>.tag (or .digest) in the Environment"
            ),
        ));
    }
    for (name, value) in &c.environment {
        let var = format!("{path}.environment.{name}");
        if !is_variable_name(name) {
            out.push(d(&var, format!(
                "environment variable name {} must be non-empty, without `=` or control characters",
                quote(name)
            )));
        }
        if let Some(kind) = secret_kind(value) {
            out.push(d(&var, format!(
                "{} holds what looks like {kind}; a credential never goes in plain `environment`: store it in Secrets Manager or SSM and reference its ARN under `secrets`",
                quote(name)
            )));
        } else if looks_secret(name) && !value.is_empty() && !plaintext.contains(name.as_str()) {
            out.push(d(&var, format!(
                "{} looks like a secret but has a literal value; move it to `secrets` with a Secrets Manager or SSM ARN (or, if the literal is meant, list it in the annotation `ferry.dev/plaintext-environment`)",
                quote(name)
            )));
        }
    }
    for (field, args) in [("command", &c.command), ("entryPoint", &c.entry_point)] {
        for (i, arg) in args.iter().enumerate() {
            if let Some(kind) = secret_kind(arg) {
                out.push(d(&format!("{path}.{field}[{i}]"), format!(
                    "looks like {kind}; pass credentials through `secrets` (environment variables from Secrets Manager or SSM), never in a command"
                )));
            }
        }
    }
    if let Some(logging) = &c.logging {
        for (key, value) in &logging.options {
            if let Some(kind) = secret_kind(value) {
                out.push(d(&format!("{path}.logging.options.{key}"), format!(
                    "looks like {kind}; use the log configuration's secretOptions through `secrets`, never a plain option"
                )));
            }
        }
    }
    for (name, arn) in &c.secrets {
        let var = format!("{path}.secrets.{name}");
        if !is_variable_name(name) {
            out.push(d(
                &var,
                format!(
                    "secret variable name {} must be non-empty, without `=` or control characters",
                    quote(name)
                ),
            ));
        }
        if !is_secret_arn(arn) {
            out.push(d(&var, format!(
                "{} must be a Secrets Manager or SSM parameter ARN (arn:aws:secretsmanager:... or arn:aws:ssm:...) or an SSM parameter name (/path/name), never a value",
                quote(name)
            )));
        }
        if c.environment.contains_key(name) {
            out.push(d(
                &var,
                format!(
                    "{} is both an environment variable and a secret",
                    quote(name)
                ),
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
            && awsvpc
        {
            out.push(d(
                &format!("{pm}.hostPort"),
                format!(
                    "under awsvpc hostPort must equal containerPort ({})",
                    p.container_port
                ),
            ));
        }
        if let Some(name) = &p.name
            && !is_port_name(name)
        {
            out.push(d(&format!("{pm}.name"), format!(
                "port name {} must be 1-64 lowercase letters, digits, _ or -, not starting with -",
                show(&format!("{pm}.name"), name)
            )));
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
                format!(
                    "the command must start with CMD or CMD-SHELL, not {}",
                    show(&format!("{hp}.command[0]"), first)
                ),
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
        out.push(d(
            "metadata.name",
            format!(
                "repository name {} is not valid for ECR ({REPOSITORY_RULE})",
                quote(&repo.name)
            ),
        ));
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
                format!(
                    "{} is not AES256 or KMS",
                    shown(&repo.origins, "spec.encryption.encryptionType", other)
                ),
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
    tags(&repo.spec.tags, &repo.origins, out);
}

/// Whether (cpu, memory) is a valid Fargate task size.
pub fn fargate_size(cpu: &str, memory: &str) -> Result<(), String> {
    let cpu_n: u32 = crate::ecs_model::cpu_units(cpu).ok_or_else(|| {
        format!("cpu `{cpu}` must be CPU units (256, 512, 1024, 2048, 4096, 8192, 16384) or vCPUs (`1 vcpu`)")
    })?;
    let mem: u32 = crate::ecs_model::memory_mib(memory)
        .ok_or_else(|| format!("memory `{memory}` must be MiB (e.g. 1024) or GB (`2 gb`)"))?;
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

/// ECR's repository name rule, as messages state it.
const REPOSITORY_RULE: &str = "2-256 characters: lowercase letters and digits in parts joined by one `.`, `_` or `-`, with `/` between path components";

/// ECR's exact pattern `(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*`,
/// 2-256 characters.
pub fn is_repository_name(name: &str) -> bool {
    (2..=256).contains(&name.len())
        && name.split('/').all(|component| {
            component.split(['.', '_', '-']).all(|run| {
                !run.is_empty()
                    && run
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
        })
}

/// ECS's image field: up to 255 of letters, digits and `- _ : . / @ #`.
fn is_image_text(image: &str) -> bool {
    (1..=255).contains(&image.len())
        && image
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:./@#".contains(&b))
}

/// A name an environment variable can have in a container: non-empty, no `=`, no NUL or
/// other control character.
fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.contains('=')
        && !name.chars().any(char::is_control)
}

/// ECS port mapping names: 1-64 of a-z 0-9 _ -, not starting with `-`.
fn is_port_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Whether a bare image name (`nginx`) is a near miss of a repository the stack knows (a
/// typo) rather than an image of Docker Hub, which ECS pulls by such a name.
fn looks_like_a_stack_repository(state: &DesiredState, image: &str) -> bool {
    let known = state
        .repositories
        .keys()
        .chain(state.environment.spec.images.keys())
        .map(String::as_str);
    crate::ecs_model::suggest(image, known).is_some()
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
    ) || is_parameter_name(arn)
}

/// An SSM parameter of the task's region by name, as ECS takes it: SSM's own characters
/// (letters, digits, `_ . - /`), at most 2048, and shaped like a name: a path
/// (`/app/db/password`), capitals (`DB_PASSWORD`) or words joined by `_ . -`
/// (`prod.db-password`). A single lower-case word (`hunter2`) reads as a value.
fn is_parameter_name(name: &str) -> bool {
    let charset = !name.is_empty()
        && name.len() <= 2048
        && name.bytes().any(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b));
    charset
        && (name.starts_with('/')
            || name.bytes().any(|b| b.is_ascii_uppercase())
            || name
                .split(['_', '.', '-'])
                .filter(|w| !w.is_empty())
                .count()
                > 1)
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

/// A service's pre-deploy tasks: names, timeouts, and each task definition by the rules of a
/// service's (reported at the task's own fields and lines).
fn pre_deploy(
    state: &DesiredState,
    svc: &Loaded<EcsServiceSpec>,
    broken: &Broken,
    out: &mut Vec<Diagnostic>,
) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, task) in svc.spec.pre_deploy.iter().enumerate() {
        let at = format!("spec.preDeploy[{i}]");
        let d = |path: &str, msg: String| svc.origins.diagnostic(&format!("{at}{path}"), msg);
        if let Some(first) = seen.insert(&task.name, i) {
            out.push(d(
                ".name",
                format!(
                    "pre-deploy task name `{}` is already used by preDeploy[{first}]",
                    task.name
                ),
            ));
        }
        let name = format!("{}-{}", svc.name, task.name);
        if !is_ecs_name(&task.name) {
            out.push(d(
                ".name",
                format!(
                    "pre-deploy task name {} must be 1-255 letters, digits, - or _",
                    quote(&task.name)
                ),
            ));
            continue;
        }
        if let Some(timeout) = &task.timeout
            && let Err(msg) = crate::kinds::parse_rollout_timeout(timeout)
        {
            out.push(d(".timeout", msg.replace("rollout timeout", "timeout")));
        }
        // Checked as a service of its own, whose fields live under `spec.preDeploy[i]`.
        let task_td = format!("{at}.taskDefinition");
        let as_service = Loaded {
            name,
            annotations: BTreeMap::new(),
            spec: EcsServiceSpec {
                launch_type: svc.spec.launch_type,
                capacity_provider_strategy: svc.spec.capacity_provider_strategy.clone(),
                task_definition: task.task_definition.clone(),
                network: task.network.clone().or_else(|| svc.spec.network.clone()),
                ..EcsServiceSpec::default()
            },
            origins: svc
                .origins
                .rebased(&task_td, "spec.taskDefinition")
                .rebased(&format!("{at}.name"), "metadata.name"),
        };
        let mut found = Vec::new();
        service(state, &as_service, broken, &mut found);
        for mut diag in found {
            diag.field = diag
                .field
                .map(|f| match f.strip_prefix("spec.taskDefinition") {
                    Some(rest) => format!("{task_td}{rest}"),
                    None if f == "metadata.name" => format!("{at}.name"),
                    None => f,
                });
            out.push(diag);
        }
    }
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
        assert!(!is_repository_name("a..b"));
        assert!(!is_repository_name("a_-b"));
        assert!(!is_repository_name("team//app"));
        assert!(!is_repository_name("-app"));
        assert!(is_repository_name(
            "a.b_c-d/e__f".replace("__", "_").as_str()
        ));
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
        assert!(!is_secret_arn("a b"));
        assert!(!is_secret_arn("$$$SECRET$$$"));
        for name in [
            "/app/db/password",
            "DB_PASSWORD",
            "prod.db-password",
            "db_password",
        ] {
            assert!(is_secret_arn(name), "{name}");
        }
        assert!(is_digest(&format!("sha256:{}", "a".repeat(64))));
        assert!(!is_tag("-bad"));
    }
}
