//! Three `ferry run` replicas on one PostgreSQL history database (the one `cargo xtask test`
//! starts) share 30 environments on the local platform: each environment has exactly one
//! owner and one running process; a replica killed with SIGKILL has its environments owned
//! and reconciled again by the others; a replica stopped with SIGSTOP past its leases, woken
//! after the manifests changed, writes nothing (no process started, no history row under its
//! old leases), stops its stale processes, and then rejoins and gets its share back.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");
const ENVS: usize = 30;
/// Short leases keep the test quick; the benchmark measures the defaults.
const LEASE: &str = "4s";
const RENEW: &str = "500ms";
const JOIN_DELAY: Duration = Duration::from_secs(3);
const TOKEN: &str = "replicas-test-token";

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

fn http_post(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn env_name(i: usize) -> String {
    format!("e{i:02}")
}

/// 30 local environments over one base service whose process says when it started and with
/// which `MODE` (a marker of each platform write, in the log of the replica that made it).
fn write_manifests(root: &Path, mode: &str) {
    write_environments(root, mode, ENVS);
}

/// [`write_manifests`] with `count` environments.
fn write_environments(root: &Path, mode: &str, count: usize) {
    std::fs::create_dir_all(root.join("base")).expect("mkdir");
    std::fs::write(
        root.join("base/worker.yaml"),
        format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: EcsService\nmetadata: {{ name: worker }}\nspec:\n  taskDefinition:\n    cpu: 256\n    memory: 512\n    \
             containers:\n      - name: main\n        image: worker\n        environment: {{ MODE: \"{mode}\" }}\n"
        ),
    )
    .expect("write");
    for i in 0..count {
        let env = env_name(i);
        std::fs::create_dir_all(root.join(&env)).expect("mkdir");
        let path = root.join(&env).join("environment.yaml");
        if path.exists() {
            continue;
        }
        std::fs::write(
            path,
            format!(
                "apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{ name: {env} }}\nspec:\n  platform: local\n  resources: [../base]\n  \
                 local:\n    commands:\n      worker: {{ command: [sh, -c, \"echo start $MODE $(date +%s%3N); exec sleep 600\"] }}\n"
            ),
        )
        .expect("write");
    }
}

/// A running replica, killed on drop.
struct Replica {
    id: String,
    child: Child,
    port: u16,
    state: PathBuf,
    log: PathBuf,
}

impl Replica {
    fn start(id: &str, manifests: &Path, database: &str, dir: &Path) -> Self {
        let port = ferry_testkit::free_port().expect("free port");
        let state = dir.join(id);
        std::fs::create_dir_all(&state).expect("state dir");
        let log = dir.join(format!("{id}.log"));
        let file = std::fs::File::create(&log).expect("log");
        let token = dir.join("api-token");
        std::fs::write(&token, TOKEN).expect("token");
        let child = Command::new(FERRY)
            .arg("run")
            .arg("--api-token-file")
            .arg(&token)
            .arg("--manifests")
            .arg(manifests)
            .args([
                "--replica-id",
                id,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--health-interval",
                "500ms",
                "--drift-interval",
                "1h",
                "--rollout-poll-interval",
                "300ms",
                "--lease-duration",
                LEASE,
                "--lease-renew-interval",
                RENEW,
                "--lease-join-delay",
                &format!("{}s", JOIN_DELAY.as_secs()),
            ])
            .arg("--state-dir")
            .arg(&state)
            .env("FERRY_DATABASE_URL", database)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("ferry starts");
        Self {
            id: id.to_owned(),
            child,
            port,
            state,
            log,
        }
    }

    fn status(&self) -> Option<Value> {
        let (code, body) = http_get(self.port, "/status")?;
        (code == 200).then(|| serde_json::from_str(&body).ok())?
    }

    /// Environment → owner, as this replica's `/status` shows it.
    fn owners(&self) -> Option<BTreeMap<String, String>> {
        let s = self.status()?;
        Some(
            s["environments"]
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

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {signal} {}", self.id);
    }

    /// Lines `start MODE MILLIS` the processes this replica started printed, per environment.
    fn starts(&self) -> BTreeMap<String, Vec<(String, u128)>> {
        let mut out: BTreeMap<String, Vec<(String, u128)>> = BTreeMap::new();
        for i in 0..ENVS {
            let env = env_name(i);
            let log = self
                .state
                .join("local")
                .join(&env)
                .join("logs/worker-main.log");
            for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
                let mut words = line.split_whitespace();
                if words.next() != Some("start") {
                    continue;
                }
                let mode = words.next().unwrap_or_default().to_owned();
                let at = words.next().and_then(|t| t.parse().ok()).unwrap_or(0);
                out.entry(env.clone()).or_default().push((mode, at));
            }
        }
        out
    }

    /// The environment and `MODE` of each process this replica runs, from /proc.
    fn processes(&self) -> Vec<(String, String)> {
        self.process_ids()
            .into_iter()
            .map(|(env, mode, _)| (env, mode))
            .collect()
    }

    /// Environment → PID of the processes this replica runs.
    fn pids(&self) -> BTreeMap<String, u32> {
        self.process_ids()
            .into_iter()
            .map(|(env, _, pid)| (env, pid))
            .collect()
    }

    /// The environment, `MODE` and PID of each process this replica runs, from /proc.
    fn process_ids(&self) -> Vec<(String, String, u32)> {
        children(self.child.id())
            .into_iter()
            .filter_map(|pid| {
                let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
                let rel = cwd.strip_prefix(self.state.join("local")).ok()?;
                let env = rel
                    .components()
                    .next()?
                    .as_os_str()
                    .to_string_lossy()
                    .into_owned();
                let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
                let mode = environ
                    .split(|b| *b == 0)
                    .filter_map(|kv| std::str::from_utf8(kv).ok())
                    .find_map(|kv| kv.strip_prefix("MODE="))
                    .unwrap_or_default()
                    .to_owned();
                Some((env, mode, pid))
            })
            .collect()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit after SIGTERM:\n{}",
                self.id,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Live (not zombie) direct children of `pid`, from /proc.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
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
        if ppid == pid && state != "Z" {
            out.push(child);
        }
    }
    out
}

fn wait_for<T>(
    what: &str,
    timeout: Duration,
    replicas: &[&Replica],
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        if Instant::now() >= deadline {
            let logs: Vec<String> = replicas
                .iter()
                .map(|r| format!("--- {} ---\n{}", r.id, r.logs()))
                .collect();
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                logs.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Live lease holders per environment, from the database.
fn holders(database: &str) -> BTreeMap<String, String> {
    try_holders(database).expect("psql")
}

/// [`holders`], `None` while the replicas have not created the table yet.
fn try_holders(database: &str) -> Option<BTreeMap<String, String>> {
    Some(
        ferry_testkit::psql(
            database,
            "SELECT env || '=' || holder FROM ferry_leases WHERE expires_at > now() ORDER BY env",
        )
        .ok()?
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(e, h)| (e.to_owned(), h.to_owned()))
        .collect(),
    )
}

fn load(owners: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for o in owners.values() {
        *out.entry(o.clone()).or_default() += 1;
    }
    out
}

#[test]
fn three_replicas_split_thirty_environments_take_over_a_killed_one_and_fence_a_stopped_one() {
    let database = ferry_testkit::shared_pg_database();
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("manifests");
    write_manifests(&manifests, "one");
    let all: BTreeSet<String> = (0..ENVS).map(env_name).collect();

    let mut replicas: Vec<Replica> = ["r0", "r1", "r2"]
        .iter()
        .map(|id| Replica::start(id, &manifests, &database, dir.path()))
        .collect();
    let ids: Vec<String> = replicas.iter().map(|r| r.id.clone()).collect();

    // Every environment gets one owner, ten each; every replica's /status says the same
    // and shows every environment healthy (its own and, from the database, the others').
    let refs: Vec<&Replica> = replicas.iter().collect();
    let owners = wait_for(
        "30 environments owned and healthy on every replica",
        Duration::from_secs(40),
        &refs,
        || {
            let first = replicas[0].owners()?;
            let complete = first.keys().cloned().collect::<BTreeSet<_>>() == all
                && first.values().all(|o| ids.contains(o));
            if !complete {
                return None;
            }
            for r in &replicas {
                let s = r.status()?;
                let envs = s["environments"].as_object()?;
                if envs.len() != ENVS
                    || envs.values().any(|e| e["health"] != "Healthy")
                    || r.owners()? != first
                {
                    return None;
                }
            }
            Some(first)
        },
    );
    assert!(
        load(&owners).values().all(|n| *n == 10),
        "ten environments each: {:?}",
        load(&owners)
    );
    assert_eq!(
        holders(&database),
        owners,
        "status owners are the lease holders"
    );
    // One process per environment, run by its owner only.
    let mut running: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &replicas {
        for (env, _) in r.processes() {
            running.entry(env).or_default().push(r.id.clone());
        }
    }
    for env in &all {
        assert_eq!(
            running.get(env),
            Some(&vec![owners[env].clone()]),
            "{env} runs once, at its owner"
        );
    }
    let page = http_get(replicas[1].port, "/").expect("page").1;
    assert!(
        page.contains("owner <code class=\"owner\">r0</code>"),
        "the page names owners"
    );
    let metrics = http_get(replicas[0].port, "/metrics").expect("metrics").1;
    assert!(
        metrics.contains("ferry_leases_held 10") && metrics.contains("ferry_replicas_alive 3"),
        "{metrics}"
    );
    let (ready, _) = http_get(replicas[2].port, "/readyz").expect("readyz");
    assert_eq!(ready, 200, "a replica renewing its leases is ready");

    // POST /sync to a replica that does not own the environment: forwarded to its owner,
    // which reconciles it (a `sync` row in history, written by the owner).
    let (env, owner) = owners
        .iter()
        .find(|(_, o)| *o == "r0")
        .map(|(e, o)| (e.clone(), o.clone()))
        .expect("r0 owns environments");
    let (code, body) = http_post(replicas[2].port, &format!("/sync?env={env}")).expect("sync");
    assert_eq!(code, 202, "{body}");
    assert!(body.contains("\"forwardedTo\":\"r0\""), "{body}");
    let synced = format!(
        "SELECT count(*) FROM sync_attempts WHERE env = '{env}' AND trigger = 'sync' AND replica = '{owner}'"
    );
    wait_for(
        "the owner to sync on a forwarded POST /sync",
        Duration::from_secs(10),
        &refs,
        || (ferry_testkit::psql(&database, &synced).expect("psql") != "0").then_some(()),
    );

    // POST /promote likewise reaches the owner, which answers for itself (the local platform
    // has no progressive deployments: it refuses, in its own log).
    let (code, body) = http_post(
        replicas[2].port,
        &format!("/promote?env={env}&service=worker"),
    )
    .expect("promote");
    assert_eq!(code, 202, "{body}");
    assert!(body.contains("\"forwardedTo\":\"r0\""), "{body}");
    wait_for(
        "the owner to act on a forwarded POST /promote",
        Duration::from_secs(10),
        &refs,
        || {
            replicas[0]
                .logs()
                .contains("has no blue/green, canary or linear deployments")
                .then_some(())
        },
    );

    // kill -9 of r1: its environments are owned and reconciled (their process started) by
    // the survivors, within 10 s.
    let lost: BTreeSet<String> = owners
        .iter()
        .filter(|(_, o)| *o == "r1")
        .map(|(e, _)| e.clone())
        .collect();
    let killed = Instant::now();
    replicas[1].signal("-KILL");
    let _ = replicas[1].child.wait();
    let survivors = [&replicas[0], &replicas[2]];
    let owners = wait_for(
        "r1's environments taken over and running",
        Duration::from_secs(10),
        &survivors,
        || {
            let owners = replicas[0].owners()?;
            if owners.keys().cloned().collect::<BTreeSet<_>>() != all
                || owners.values().any(|o| o != "r0" && o != "r2")
            {
                return None;
            }
            let running: BTreeSet<String> = survivors
                .iter()
                .flat_map(|r| r.processes())
                .map(|(env, _)| env)
                .collect();
            lost.iter().all(|e| running.contains(e)).then_some(owners)
        },
    );
    let failover = killed.elapsed();
    eprintln!(
        "failover of {} environments after kill -9: {failover:?}",
        lost.len()
    );
    assert!(
        load(&owners).values().all(|n| *n == 15),
        "{:?}",
        load(&owners)
    );
    let applied = format!(
        "SELECT count(DISTINCT env) FROM sync_attempts WHERE replica IN ('r0', 'r2') AND result = 'Succeeded' AND env IN ({})",
        lost.iter()
            .map(|e| format!("'{e}'"))
            .collect::<Vec<_>>()
            .join(",")
    );
    wait_for(
        "each taken-over environment recorded as applied by its new owner",
        Duration::from_secs(10),
        &survivors,
        || {
            (ferry_testkit::psql(&database, &applied).expect("psql") == lost.len().to_string())
                .then_some(())
        },
    );

    // SIGSTOP r2 past its leases, change the manifests meanwhile: r0 takes everything and
    // applies the change.
    let stale: BTreeMap<String, String> = ferry_testkit::psql(
        &database,
        "SELECT env || '=' || epoch FROM ferry_leases WHERE holder = 'r2' AND expires_at > now()",
    )
    .expect("psql")
    .lines()
    .filter_map(|l| l.split_once('='))
    .map(|(e, n)| (e.to_owned(), n.to_owned()))
    .collect();
    assert_eq!(stale.len(), 15, "r2 holds its share");
    let last_row = ferry_testkit::psql(&database, "SELECT coalesce(max(id), 0) FROM sync_attempts")
        .expect("psql");
    replicas[2].signal("-STOP");
    write_manifests(&manifests, "two");
    let r0 = [&replicas[0]];
    wait_for(
        "r0 owns and runs all 30 environments in mode two",
        Duration::from_secs(20),
        &r0,
        || {
            let owners = replicas[0].owners()?;
            let twos: BTreeSet<String> = replicas[0]
                .processes()
                .into_iter()
                .filter(|(_, m)| m == "two")
                .map(|(e, _)| e)
                .collect();
            (owners.values().all(|o| o == "r0") && owners.len() == ENVS && twos == all)
                .then_some(())
        },
    );
    assert!(
        replicas[2].processes().iter().all(|(_, m)| m == "one"),
        "r2, stopped, still has its old processes (nothing is fenced on the local platform while it sleeps)"
    );

    // Wake r2: it sees its guards ended and writes nothing under them. Within the join
    // delay it writes nothing at all; its stale processes are stopped.
    let woke = now_ms();
    replicas[2].signal("-CONT");
    let both = [&replicas[0], &replicas[2]];
    wait_for(
        "r2's stale processes stopped",
        Duration::from_secs(10),
        &both,
        || {
            replicas[2]
                .processes()
                .iter()
                .all(|(_, m)| m != "one")
                .then_some(())
        },
    );
    let quiet_until = woke + JOIN_DELAY.as_millis() - 500;
    while now_ms() < quiet_until + 200 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let early: Vec<(String, String, u128)> = replicas[2]
        .starts()
        .into_iter()
        .flat_map(|(env, lines)| lines.into_iter().map(move |(m, at)| (env.clone(), m, at)))
        .filter(|(_, _, at)| *at >= woke && *at < quiet_until)
        .collect();
    assert!(
        early.is_empty(),
        "r2 started processes right after waking: {early:?}\n{}",
        replicas[2].logs()
    );
    let stale_rows = ferry_testkit::psql(
        &database,
        &format!(
            "SELECT count(*) FROM sync_attempts WHERE id > {last_row} AND replica = 'r2' AND ({})",
            stale
                .iter()
                .map(|(e, n)| format!("(env = '{e}' AND epoch = {n})"))
                .collect::<Vec<_>>()
                .join(" OR ")
        ),
    )
    .expect("psql");
    assert_eq!(stale_rows, "0", "no history row under r2's old leases");
    assert!(
        replicas[2].logs().contains("lease ended"),
        "r2 says why it stopped:\n{}",
        replicas[2].logs()
    );

    // Then r2 rejoins and gets its share back, now in mode two, with new epochs.
    let owners = wait_for(
        "r2 back with its share",
        Duration::from_secs(20),
        &both,
        || {
            let owners = replicas[2].owners()?;
            let l = load(&owners);
            let twos: BTreeSet<String> = both
                .iter()
                .flat_map(|r| r.processes())
                .filter(|(_, m)| m == "two")
                .map(|(e, _)| e)
                .collect();
            (l.get("r0") == Some(&15) && l.get("r2") == Some(&15) && twos == all).then_some(owners)
        },
    );
    for (env, owner) in &owners {
        if owner == "r2"
            && let Some(old) = stale.get(env)
        {
            let now: i64 = ferry_testkit::psql(
                &database,
                &format!("SELECT epoch FROM ferry_leases WHERE env = '{env}'"),
            )
            .expect("psql")
            .parse()
            .expect("epoch");
            assert!(
                now > old.parse::<i64>().expect("epoch"),
                "{env} retaken at a newer epoch"
            );
        }
    }

    for r in [0, 2] {
        let status = replicas[r].terminate();
        assert!(
            status.success(),
            "{} exits 0 on SIGTERM:\n{}",
            replicas[r].id,
            replicas[r].logs()
        );
    }
    // Handed back on the way out: no lease left live.
    assert!(holders(&database).is_empty(), "leases released at shutdown");
}

/// Live replicas, from the database.
fn alive(database: &str) -> BTreeSet<String> {
    ferry_testkit::psql(
        database,
        "SELECT id FROM ferry_replicas WHERE expires_at > now() ORDER BY id",
    )
    .expect("psql")
    .lines()
    .map(str::to_owned)
    .collect()
}

/// Two replicas, three environments. The replica holding two is frozen (SIGSTOP) past its
/// leases: the other takes them over and starts their processes. Woken (SIGCONT), the frozen
/// replica rejoins, but three environments on one of two replicas is within the bound (share
/// 2, plus the slack of 1): nothing moves back and no process restarts. SIGTERM then stops
/// both at once, leases handed back.
#[test]
fn environments_taken_over_from_a_frozen_replica_stay_with_their_new_owner() {
    const COUNT: usize = 3;
    let database = ferry_testkit::shared_pg_database();
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("manifests");
    write_environments(&manifests, "one", COUNT);
    let all: BTreeSet<String> = (0..COUNT).map(env_name).collect();
    let mut replicas: Vec<Replica> = ["s0", "s1"]
        .iter()
        .map(|id| Replica::start(id, &manifests, &database, dir.path()))
        .collect();
    let refs: Vec<&Replica> = replicas.iter().collect();
    let owners = wait_for(
        "3 environments owned and running, split 2/1",
        Duration::from_secs(40),
        &refs,
        || {
            let owners = try_holders(&database)?;
            let running: BTreeSet<String> = replicas
                .iter()
                .flat_map(|r| r.processes())
                .map(|(env, _)| env)
                .collect();
            let l = load(&owners);
            (owners.keys().cloned().collect::<BTreeSet<_>>() == all
                && running == all
                && l.len() == 2)
                .then_some(owners)
        },
    );
    let l = load(&owners);
    let (frozen, other) = if l.get("s0") == Some(&2) {
        (0, 1)
    } else {
        (1, 0)
    };
    assert_eq!(l.get(replicas[frozen].id.as_str()), Some(&2), "{owners:?}");

    // Frozen past its leases: the other replica owns and runs all three.
    replicas[frozen].signal("-STOP");
    let other_id = replicas[other].id.clone();
    let both = [&replicas[0], &replicas[1]];
    let pids = wait_for(
        "the other replica owns and runs all three environments",
        Duration::from_secs(30),
        &both,
        || {
            let owners = holders(&database);
            let pids = replicas[other].pids();
            (owners.len() == COUNT
                && owners.values().all(|o| *o == other_id)
                && pids.keys().cloned().collect::<BTreeSet<_>>() == all)
                .then_some(pids)
        },
    );

    // Woken: its stale processes stop, it rejoins (its heartbeat is back), and past its join
    // delay and many renewals, every environment is still with the other replica, on the
    // same processes.
    replicas[frozen].signal("-CONT");
    let frozen_id = replicas[frozen].id.clone();
    wait_for(
        "the woken replica stopped its stale processes and rejoined",
        Duration::from_secs(15),
        &both,
        || {
            (replicas[frozen].processes().is_empty() && alive(&database).contains(&frozen_id))
                .then_some(())
        },
    );
    let quiet = Instant::now() + JOIN_DELAY + Duration::from_secs(4);
    while Instant::now() < quiet {
        let owners = holders(&database);
        assert!(
            owners.len() == COUNT && owners.values().all(|o| *o == other_id),
            "an environment moved back to the woken replica: {owners:?}\n--- {frozen_id} ---\n{}",
            replicas[frozen].logs()
        );
        assert_eq!(
            replicas[other].pids(),
            pids,
            "the processes of the taken-over environments were restarted"
        );
        assert!(
            replicas[frozen].processes().is_empty(),
            "the woken replica runs processes: {:?}",
            replicas[frozen].processes()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        alive(&database).contains(&frozen_id),
        "the woken replica is a live member, not just silent"
    );
    let seen = replicas[frozen].owners().expect("status");
    assert!(
        seen.len() == COUNT && seen.values().all(|o| *o == other_id),
        "the woken replica shows the other as owner: {seen:?}"
    );

    // SIGTERM: both exit at once and hand everything back.
    for r in [frozen, other] {
        let sent = Instant::now();
        let status = replicas[r].terminate();
        let took = sent.elapsed();
        eprintln!("{} exited {took:?} after SIGTERM", replicas[r].id);
        assert!(
            status.success(),
            "{}:\n{}",
            replicas[r].id,
            replicas[r].logs()
        );
        assert!(
            took < Duration::from_secs(5),
            "{} took {took:?} to exit",
            replicas[r].id
        );
    }
    assert!(holders(&database).is_empty(), "leases released at shutdown");
}
