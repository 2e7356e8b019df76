//! The hostile-manifest corpus (`controller/core/tests/hostile/corpus.rs`) against the real
//! `ferry validate`, one child process per case: exit code 1, the expected `file:line` on
//! stderr, no planted credential and no control character on either stream, no forged `ok`
//! line, and bounds on wall time and peak memory (a hang or a blow-up fails, not a slowdown).

#[path = "../../core/tests/hostile/corpus.rs"]
mod corpus;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};

const BIN: &str = env!("CARGO_BIN_EXE_ferry");

/// Generous bounds, far above what a refused input costs (a few MiB, a few ms): they catch a
/// hang or an unbounded expansion, not a slowdown.
const TIME_BOUND: Duration = Duration::from_secs(20);
const RSS_BOUND_KIB: i64 = 256 * 1024;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    /// Peak resident memory of the largest child reaped so far (this one included), KiB.
    peak_kib: i64,
}

fn validate(root: &std::path::Path) -> Run {
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(["validate", "--manifests"])
        .arg(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry runs");
    // Read both pipes on threads so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut s).ok();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut s).ok();
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > TIME_BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "ferry validate did not finish within {TIME_BOUND:?} on {}",
                root.display()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = started.elapsed();
    let peak_kib = getrusage(UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage")
        .max_rss();
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&out.join().expect("stdout thread")).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().expect("stderr thread")).into_owned(),
        elapsed,
        peak_kib,
    }
}

#[test]
fn hostile_manifests_exit_1_at_the_right_line_fast_and_small_without_leaking() {
    let cases = corpus::cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut failures = Vec::new();
    let mut slowest = (Duration::ZERO, String::new());
    for case in &cases {
        let dir = case.build();
        let run = validate(dir.path());
        let label = format!("[{}] {}", case.class, case.name);
        if run.elapsed > slowest.0 {
            slowest = (run.elapsed, label.clone());
        }
        let mut why = Vec::new();
        if run.code != Some(1) {
            why.push(format!("exit code {:?}, expected 1", run.code));
        }
        if let Err(e) = case.check(&run.stderr) {
            why.push(e);
        }
        if let Err(e) = case.check_clean(&run.stdout) {
            why.push(format!("stdout: {e}"));
        }
        // Every `ok` line on stdout is a real one: `ok <env>: N service(s), M repositor…`.
        for line in run.stdout.lines() {
            let genuine = line
                .strip_prefix("ok ")
                .and_then(|rest| rest.split_once(": "))
                .is_some_and(|(env, counts)| {
                    env.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                        && counts
                            .split(' ')
                            .next()
                            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
                });
            if !genuine {
                why.push(format!("stdout line is not a genuine ok line: {line:?}"));
            }
        }
        if run.peak_kib > RSS_BOUND_KIB {
            why.push(format!(
                "peak RSS {} KiB over {RSS_BOUND_KIB} KiB",
                run.peak_kib
            ));
        }
        if !why.is_empty() {
            failures.push(format!(
                "{label}: {}\n    stderr:\n      {}",
                why.join("; "),
                run.stderr
                    .lines()
                    .map(|l| l.chars().take(300).collect::<String>())
                    .collect::<Vec<_>>()
                    .join("\n      ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let peak = getrusage(UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage")
        .max_rss();
    println!(
        "{} hostile cases: largest child peak RSS {} KiB, slowest {:?} ({})",
        cases.len(),
        peak,
        slowest.0,
        slowest.1
    );
}
