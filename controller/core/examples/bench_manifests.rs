//! Benchmark driver for `cargo xtask bench manifests`: generates a stack of N services, then
//! times load + validate, render, and diff against an identical live state, and reports the
//! peak resident memory. Prints one JSON line.

use std::time::Instant;

use ferry_core::diff::diff;
use ferry_core::live::{ActualState, LiveService};
use ferry_core::load_environment;
use ferry_core::render::{Digests, render};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let rounds: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().expect("temporary folder");
    generate(dir.path(), n);

    let mut best = [f64::MAX; 4];
    let mut changes = usize::MAX;
    for _ in 0..rounds {
        let t0 = Instant::now();
        let state = load_environment(dir.path(), "bench").unwrap_or_else(|d| panic!("{d}"));
        let t1 = Instant::now();
        let rendered = render(&state, &Digests::new());
        let t2 = Instant::now();
        let live = identical_live(&rendered);
        let t3 = Instant::now();
        let plan = diff(&state, &rendered, &live);
        let t4 = Instant::now();
        changes = plan.changes.len();
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1000.0;
        let total = ms(t0, t2) + ms(t3, t4);
        for (slot, v) in best
            .iter_mut()
            .zip([ms(t0, t1), ms(t1, t2), ms(t3, t4), total])
        {
            *slot = slot.min(v);
        }
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({
            "services": n, "load_ms": best[0], "render_ms": best[1], "diff_ms": best[2],
            "total_ms": best[3], "peak_rss_mib": peak_kib as f64 / 1024.0, "planned_changes": changes,
        })
    );
}

fn generate(root: &std::path::Path, n: usize) {
    std::fs::create_dir_all(root.join("bench")).expect("mkdir");
    std::fs::create_dir_all(root.join("base")).expect("mkdir");
    let mut images = String::new();
    let mut repos = String::new();
    for i in 0..n.div_ceil(10) {
        images.push_str(&format!("    app-{i}: {{ tag: v{i} }}\n"));
        repos.push_str(&format!(
            "---\napiVersion: ferry.dev/v1alpha1\nkind: EcrRepository\nmetadata: {{ name: app-{i} }}\nspec: {{ lifecycle: {{ keepLast: 20 }} }}\n"
        ));
    }
    std::fs::write(root.join("base/repos.yaml"), repos).expect("write");
    std::fs::write(
        root.join("bench/environment.yaml"),
        format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{ name: bench }}\nspec:\n  region: us-east-1\n  cluster: bench\n  \
             registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com\n  network: {{ subnets: \"${{subnets}}\", securityGroups: [sg-1] }}\n  \
             logGroup: /ecs/bench\n  resources: [../base]\n  values:\n    inline:\n      subnets: [subnet-a, subnet-b]\n      db_host: db.internal\n  \
             images:\n{images}  prune: true\n"
        ),
    )
    .expect("write");
    for i in 0..n {
        let svc = format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: EcsService\nmetadata: {{ name: svc-{i} }}\nspec:\n  desiredCount: 2\n  taskDefinition:\n    \
             cpu: 512\n    memory: 1024\n    containers:\n      - name: app\n        image: app-{r}\n        portMappings: [{{ containerPort: 8080 }}]\n        \
             environment: {{ DB_HOST: \"${{db_host}}\", MODE: production, INDEX: {i} }}\n        \
             secrets: {{ DB_PASSWORD: \"arn:aws:secretsmanager:us-east-1:123456789012:secret:db:password::\" }}\n        \
             healthCheck: {{ command: [CMD, /app, --check-health] }}\n      - name: sidecar\n        image: public.ecr.aws/docker/library/busybox:1.36\n        \
             essential: false\n  deployment: {{ circuitBreaker: {{ enable: true, rollback: true }} }}\n",
            r = i / 10
        );
        std::fs::write(root.join(format!("base/svc-{i}.yaml")), svc).expect("write");
    }
}

/// Live state exactly as ECS would describe what `rendered` creates.
fn identical_live(rendered: &ferry_core::render::Rendered) -> ActualState {
    let mut live = ActualState::default();
    for svc in &rendered.services {
        let arn = format!(
            "arn:aws:ecs:us-east-1:123456789012:task-definition/{}:1",
            svc.register_task_definition.family
        );
        live.task_definitions
            .insert(arn.clone(), svc.register_task_definition.clone());
        let c = &svc.create_service;
        live.services.insert(
            svc.name.clone(),
            LiveService {
                service_name: svc.name.clone(),
                status: "ACTIVE".into(),
                desired_count: c.desired_count.unwrap_or_default(),
                task_definition: arn,
                launch_type: c.launch_type.clone(),
                network_configuration: c.network_configuration.clone(),
                load_balancers: c.load_balancers.clone(),
                deployment_configuration: Some(c.deployment_configuration.clone()),
                health_check_grace_period_seconds: c.health_check_grace_period_seconds,
                tags: c.tags.clone(),
                ..LiveService::default()
            },
        );
    }
    for repo in &rendered.repositories {
        let c = &repo.create_repository;
        live.repositories.insert(
            repo.name.clone(),
            ferry_core::live::LiveRepository {
                repository_name: repo.name.clone(),
                image_tag_mutability: c.image_tag_mutability.clone(),
                image_scanning_configuration: c.image_scanning_configuration.clone(),
                encryption_configuration: Some(c.encryption_configuration.clone()),
                tags: c.tags.clone(),
                lifecycle_policy_text: repo
                    .put_lifecycle_policy
                    .as_ref()
                    .map(|p| p.lifecycle_policy_text.clone()),
                ..Default::default()
            },
        );
    }
    live
}
