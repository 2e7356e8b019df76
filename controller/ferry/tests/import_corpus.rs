//! `ferry import --task-definition` on a corpus of real, public task definitions
//! (tests/data/ecs-corpus, sources in its SOURCES.md): every file either round-trips exactly
//! (import → render gives back the same RegisterTaskDefinition input, ECS's defaults and the
//! order of named lists aside) or is refused with the field named. None is changed silently.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferry_core::diff::normalize_task_definition;
use ferry_core::render::TaskDefinition;
use serde_json::Value;

fn ferry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
}

fn corpus(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/ecs-corpus")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

enum Outcome {
    RoundTrip,
    Refused(String),
    Changed(String),
}

/// The source as ECS would register it, normalized the way diff compares.
fn source(file: &Path) -> Option<Value> {
    let json: Value = serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()?;
    let (td, _) = ferry_core::import::task_definition_json(&json).ok()?;
    let td: TaskDefinition = serde_json::from_value(Value::Object(td)).ok()?;
    Some(normalize_task_definition(&td))
}

fn round_trip(file: &Path, out: &Path) -> Outcome {
    let import = ferry()
        .args(["import", "--env", "corpus", "--out"])
        .arg(out)
        .arg("--task-definition")
        .arg(file)
        .output()
        .expect("ferry runs");
    let stderr = String::from_utf8_lossy(&import.stderr).into_owned();
    if !import.status.success() {
        return Outcome::Refused(stderr);
    }
    if stderr.contains("awsvpc task needs subnets") {
        // What the note asks the user to do.
        let env = out.join("corpus/environment.yaml");
        let mut text = std::fs::read_to_string(&env).expect("environment written");
        text.push_str("  network:\n    subnets: [subnet-0123456789abcdef0]\n");
        std::fs::write(&env, text).expect("environment edited");
    }
    let render = ferry()
        .args(["render", "--env", "corpus", "-o", "json", "--manifests"])
        .arg(out)
        .output()
        .expect("ferry runs");
    if !render.status.success() {
        return Outcome::Refused(String::from_utf8_lossy(&render.stderr).into_owned());
    }
    let rendered: Value = serde_json::from_slice(&render.stdout).expect("render prints JSON");
    let td: TaskDefinition =
        serde_json::from_value(rendered["services"][0]["registerTaskDefinition"].clone())
            .expect("a rendered task definition");
    let (want, got) = (
        source(file).expect("the source reads"),
        normalize_task_definition(&td),
    );
    if want == got {
        Outcome::RoundTrip
    } else {
        let mut fields = Vec::new();
        ferry_core::diff::diff_values(&got, &want, "", &mut fields);
        Outcome::Changed(format!("{fields:#?}"))
    }
}

#[test]
fn real_task_definitions_round_trip_or_are_refused_naming_the_field() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let files = corpus("task-definitions");
    assert!(files.len() >= 60, "the corpus has {} files", files.len());
    let (mut exact, mut refused, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    for file in &files {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        match round_trip(file, &tmp.path().join(&name)) {
            Outcome::RoundTrip => exact.push(name),
            Outcome::Refused(why) => {
                // Named: `file: field: message` (import) or `file:line: field: message` (load).
                assert!(
                    why.lines()
                        .next()
                        .is_some_and(|l| l.matches(": ").count() >= 2),
                    "{name} was refused without naming the field: {why}"
                );
                refused.push(format!(
                    "{name}: {}",
                    why.lines().next().unwrap_or_default()
                ));
            }
            Outcome::Changed(diff) => changed.push(format!("{name}: {diff}")),
        }
    }
    eprintln!(
        "{} of {} round-trip exactly; refused ({}):\n  {}",
        exact.len(),
        files.len(),
        refused.len(),
        refused.join("\n  ")
    );
    assert!(
        changed.is_empty(),
        "changed silently:\n{}",
        changed.join("\n")
    );
    assert!(
        exact.len() >= 59,
        "only {} of {} round-trip",
        exact.len(),
        files.len()
    );
}

#[test]
fn files_ecs_would_reject_are_refused_with_the_field() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for file in corpus("invalid") {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        match round_trip(&file, &tmp.path().join(&name)) {
            Outcome::Refused(why) => assert!(!why.trim().is_empty(), "{name}"),
            Outcome::RoundTrip | Outcome::Changed(_) => panic!("{name} was accepted"),
        }
    }
}

#[test]
fn service_definitions_import_with_their_task_definition() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let td = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/ecs-corpus/task-definitions/firelens-fluentd-fargate.json");
    let mut imported = 0;
    for file in corpus("service-definitions") {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let out = ferry()
            .args(["import", "--env", "svc", "--name", "web", "--out"])
            .arg(tmp.path().join(&name))
            .arg("--task-definition")
            .arg(&td)
            .arg("--service-definition")
            .arg(&file)
            .output()
            .expect("ferry runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            imported += 1;
            let text = std::fs::read_to_string(tmp.path().join(&name).join("svc/web.yaml"))
                .expect("the service manifest");
            assert!(text.contains("ferry.dev/adopt"), "{name}: {text}");
        } else {
            assert!(stderr.contains(": "), "{name}: {stderr}");
            if name.contains("codedeploy") || name.contains("external") {
                assert!(stderr.contains("deployment controller"), "{name}: {stderr}");
            }
        }
    }
    assert!(
        imported >= 5,
        "only {imported} service definitions imported"
    );
}
