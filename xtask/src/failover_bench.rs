//! `cargo xtask bench failover`: how long the environments of a `ferry run` replica killed
//! with SIGKILL stay without a running owner. Three replicas (default lease settings; the
//! debug build, since what is measured is lease timing in seconds, not CPU work) share 30 local-platform environments on one PostgreSQL; each round kills one,
//! times until every one of its environments is owned by a survivor *and* runs there (the
//! survivor started its process), then starts a replacement and waits for the split to
//! settle. Median and max over the rounds, next to the anchor: the lease duration (a dead
//! replica's leases must lapse before anyone may take them, so failover cannot beat it).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ferry_testkit::{PgOptions, PgServer, free_port};
use serde_json::Value;

use crate::tools::{repo_root, run as run_cmd};

const ENVS: usize = 30;
const ROUNDS: usize = 5;
/// `ferry run`'s default `--lease-duration` (what this measures against).
const LEASE: Duration = Duration::from_secs(6);

struct Replica {
    id: String,
    child: Child,
    port: u16,
    state: PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(
    ferry: &Path,
    id: &str,
    manifests: &Path,
    database: &str,
    dir: &Path,
) -> anyhow::Result<Replica> {
    let port = free_port()?;
    let state = dir.join(id);
    std::fs::create_dir_all(&state)?;
    let log = std::fs::File::create(dir.join(format!("{id}.log")))?;
    let child = Command::new(ferry)
        .arg("run")
        .arg("--manifests")
        .arg(manifests)
        .args(["--replica-id", id, "--listen", &format!("127.0.0.1:{port}")])
        .args(["--drift-interval", "1h", "--rollout-poll-interval", "1s"])
        .arg("--state-dir")
        .arg(&state)
        .env("FERRY_DATABASE_URL", database)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start ferry")?;
    Ok(Replica {
        id: id.to_owned(),
        child,
        port,
        state,
    })
}

fn owners(port: u16) -> Option<BTreeMap<String, String>> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let body = answer.split_once("\r\n\r\n")?.1;
    let v: Value = serde_json::from_str(body).ok()?;
    Some(
        v["environments"]
            .as_object()?
            .iter()
            .map(|(env, e)| {
                (
                    env.clone(),
                    e["owner"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
    )
}

/// The environments whose process `replica` runs (children of it, by working folder).
fn running(replica: &Replica) -> BTreeSet<String> {
    let pid = replica.child.id();
    let mut out = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(after) = stat.rsplit_once(") ").map(|(_, a)| a) else {
            continue;
        };
        let mut fields = after.split_whitespace();
        let state = fields.next().unwrap_or_default();
        let ppid: u32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if ppid != pid || state == "Z" {
            continue;
        }
        let Ok(cwd) = std::fs::read_link(format!("/proc/{child}/cwd")) else {
            continue;
        };
        if let Ok(rel) = cwd.strip_prefix(replica.state.join("local"))
            && let Some(env) = rel.components().next()
        {
            out.insert(env.as_os_str().to_string_lossy().into_owned());
        }
    }
    out
}

fn wait(what: &str, timeout: Duration, mut probe: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while !probe() {
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Every environment owned by one of `replicas`, each running at its owner, no more than
/// `cap` each.
fn settled(replicas: &[Replica], all: &BTreeSet<String>) -> bool {
    let Some(owners) = owners(replicas[0].port) else {
        return false;
    };
    if owners.keys().cloned().collect::<BTreeSet<_>>() != *all {
        return false;
    }
    let cap = ENVS.div_ceil(replicas.len());
    replicas.iter().all(|r| {
        let mine: BTreeSet<String> = owners
            .iter()
            .filter(|(_, o)| **o == r.id)
            .map(|(e, _)| e.clone())
            .collect();
        mine.len() <= cap && mine.is_subset(&running(r))
    }) && owners.values().all(|o| replicas.iter().any(|r| &r.id == o))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Run and print the table.
pub(crate) fn run() -> anyhow::Result<()> {
    let root = repo_root();
    run_cmd(Command::new("cargo").current_dir(&root).args([
        "build",
        "--quiet",
        "--package",
        "ferry",
        "--bin",
        "ferry",
    ]))?;
    let ferry = root.join("target/debug/ferry");
    let pg = PgServer::start(&PgOptions::default())?;
    let database = pg.fresh_database()?;
    let dir = tempfile::tempdir()?;
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(manifests.join("base"))?;
    std::fs::write(
        manifests.join("base/worker.yaml"),
        "apiVersion: ferry.dev/v1alpha1\nkind: EcsService\nmetadata: { name: worker }\nspec:\n  taskDefinition:\n    cpu: 256\n    memory: 512\n    \
         containers:\n      - name: main\n        image: worker\n",
    )?;
    let all: BTreeSet<String> = (0..ENVS).map(|i| format!("e{i:02}")).collect();
    for env in &all {
        std::fs::create_dir_all(manifests.join(env))?;
        std::fs::write(
            manifests.join(env).join("environment.yaml"),
            format!(
                "apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{ name: {env} }}\nspec:\n  platform: local\n  resources: [../base]\n  \
                 local:\n    commands:\n      worker: {{ command: [sleep, \"600\"] }}\n"
            ),
        )?;
    }
    println!(
        "\nfailover: 3 replicas, {ENVS} local environments, kill -9 of one replica per round ({ROUNDS} rounds), default leases ({}s)\n",
        LEASE.as_secs()
    );
    let mut next = 0;
    let mut replicas: Vec<Replica> = Vec::new();
    for _ in 0..3 {
        replicas.push(start(
            &ferry,
            &format!("r{next}"),
            &manifests,
            &database,
            dir.path(),
        )?);
        next += 1;
    }
    wait(
        "three replicas to split the environments",
        Duration::from_secs(60),
        || settled(&replicas, &all),
    )?;
    let mut times = Vec::new();
    for round in 0..ROUNDS {
        let owners = owners(replicas[0].port).context("status")?;
        let victim = replicas.remove(round % replicas.len());
        let orphans: BTreeSet<String> = owners
            .iter()
            .filter(|(_, o)| **o == victim.id)
            .map(|(e, _)| e.clone())
            .collect();
        let killed = Instant::now();
        drop(victim);
        wait(
            "the survivors to take over",
            Duration::from_secs(60),
            || {
                let Some(owners) = self::owners(replicas[0].port) else {
                    return false;
                };
                let runs: BTreeSet<String> = replicas.iter().flat_map(running).collect();
                orphans.iter().all(|e| {
                    owners
                        .get(e)
                        .is_some_and(|o| replicas.iter().any(|r| &r.id == o))
                        && runs.contains(e)
                })
            },
        )?;
        let took = killed.elapsed();
        println!(
            "  round {}: {} environments running again after {:>6.2} s",
            round + 1,
            orphans.len(),
            took.as_secs_f64()
        );
        times.push(took.as_secs_f64());
        replicas.push(start(
            &ferry,
            &format!("r{next}"),
            &manifests,
            &database,
            dir.path(),
        )?);
        next += 1;
        wait(
            "the replacement to get its share",
            Duration::from_secs(60),
            || settled(&replicas, &all),
        )?;
    }
    let (med, max) = (
        median(times.clone()),
        times.iter().copied().fold(0.0, f64::max),
    );
    let anchor = LEASE.as_secs_f64();
    println!(
        "\n  failover median {med:>6.2} s  max {max:>6.2} s  anchor: lease duration {anchor:.0} s  ({:.2}x / {:.2}x of the anchor); target ≤ 10 s",
        med / anchor,
        max / anchor
    );
    if max > 10.0 {
        bail!("failover took {max:.1} s > 10 s");
    }
    Ok(())
}
