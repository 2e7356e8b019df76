//! plan.yml's comment script (`.github/scripts/ferry_plan_comment.py`) with fake plans and a
//! fake `gh`: which environments a change affects, the comment it builds, and that it keeps one
//! comment (edits the one carrying its marker, creates it only when there is none).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const MARKER: &str = "<!-- ferry-plan -->";

fn script() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../.github/scripts/ferry_plan_comment.py"
    ))
    .to_path_buf()
}

fn python(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new("python3")
        .arg(script())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be on the PATH (the workflow runs the script with it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("script runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn affected_environments_follow_the_changed_manifests() {
    let run = |paths: &str| stdout(&python(&["affected"], paths, &[]));
    assert_eq!(
        run("manifests/dev/environment.yaml\nmanifests/local/environment.yaml\nREADME.md\n"),
        "environments=[\"dev\"]\n"
    );
    assert_eq!(
        run("manifests/prod/environment.yaml\nmanifests/base/numbers.yaml\n"),
        "environments=[\"dev\", \"staging\", \"prod\"]\n"
    );
    assert_eq!(
        run("manifests/staging/terraform-outputs.json\n"),
        "environments=[\"staging\"]\n"
    );
    assert_eq!(
        run("manifests/local/environment.yaml\n"),
        "environments=[]\n"
    );
}

/// A fake `ferry plan -o markdown` of dev, as the plan job writes it.
const FAKE_DEV_PLAN: &str = "#### `dev`: 0 to create, 1 to update, 0 to prune (1 with drift)\n\n\
| | Resource | Changes |\n|---|---|---|\n\
| 🔄 update | `EcsService/numbers` | `desiredCount`: 4 → 1 **⚠ drift** |\n";

#[test]
fn the_comment_holds_every_environments_plan_under_one_marker() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("dev.md"), FAKE_DEV_PLAN).expect("write");
    std::fs::write(
        dir.path().join("staging.md"),
        "#### `staging`: ❌ invalid manifests\n\n```\nmanifests/staging/environment.yaml:7: spec.cluster: required\n```\n",
    )
    .expect("write");
    // The prod job failed before writing anything.
    std::fs::write(dir.path().join("prod.md"), "").expect("write");

    let body = stdout(&python(
        &["body", dir.path().to_str().expect("utf-8")],
        "",
        &[
            ("COMMIT", "0123abc"),
            ("RUN_URL", "https://example.com/run/1"),
        ],
    ));
    assert!(
        body.starts_with(&format!("{MARKER}\n### Ferry plan\n")),
        "{body}"
    );
    assert!(
        body.contains("For 0123abc ([run](https://example.com/run/1))."),
        "{body}"
    );
    assert!(body.contains(FAKE_DEV_PLAN.trim_end()), "{body}");
    assert!(
        body.contains("manifests/staging/environment.yaml:7: spec.cluster: required"),
        "{body}"
    );
    assert!(body.contains("#### `prod`: ⚠ no plan"), "{body}");
    // Environments in a stable order (file names), dev before prod before staging.
    let dev = body.find("#### `dev`").expect("dev");
    let prod = body.find("#### `prod`").expect("prod");
    let staging = body.find("#### `staging`").expect("staging");
    assert!(dev < prod && prod < staging, "{body}");

    // A huge plan is cut under GitHub's comment limit.
    std::fs::write(dir.path().join("dev.md"), "x".repeat(100_000)).expect("write");
    let body = stdout(&python(
        &["body", dir.path().to_str().expect("utf-8")],
        "",
        &[],
    ));
    assert!(body.chars().count() < 65_536, "{}", body.len());
    assert!(body.contains("cut at 60 000 characters"));
}

/// A fake `gh` that answers the comment listing with `FAKE_COMMENTS` and logs every call.
fn fake_gh(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let gh = bin.join("gh");
    std::fs::write(
        &gh,
        "#!/usr/bin/env python3\nimport os, sys\n\
         args = sys.argv[1:]\n\
         data = sys.stdin.read() if '--input' in args else ''\n\
         with open(os.environ['FAKE_GH_LOG'], 'a') as log:\n    log.write(' '.join(args) + '\\t' + data + '\\n')\n\
         if '--paginate' in args:\n    print(os.environ['FAKE_COMMENTS'])\n",
    )
    .expect("write gh");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&gh, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    bin
}

#[test]
fn upsert_edits_the_marked_comment_and_creates_one_only_when_missing() {
    let dir = tempfile::tempdir().expect("tmp");
    let bin = fake_gh(dir.path());
    let log = dir.path().join("gh.log");
    let body_file = dir.path().join("comment.md");
    std::fs::write(&body_file, format!("{MARKER}\n### Ferry plan\nnew plan\n")).expect("write");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let upsert = |comments: &str| {
        let _ = std::fs::remove_file(&log);
        let out = python(
            &["upsert", body_file.to_str().expect("utf-8")],
            "",
            &[
                ("PATH", &path),
                ("GH_REPO", "example-org/ferry"),
                ("PR_NUMBER", "42"),
                ("FAKE_COMMENTS", comments),
                ("FAKE_GH_LOG", log.to_str().expect("utf-8")),
            ],
        );
        let said = stdout(&out);
        (said, std::fs::read_to_string(&log).expect("gh log"))
    };

    // Someone else's comment and ours (on the second page): ours is edited, nothing created.
    let (said, calls) = upsert(&format!(
        "[[{{\"id\": 7, \"body\": \"LGTM\"}}], [{{\"id\": 9, \"body\": \"{MARKER}\\nold plan\"}}]]"
    ));
    assert_eq!(said, "updated comment 9\n");
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0].starts_with("api --paginate --slurp repos/example-org/ferry/issues/42/comments")
    );
    assert!(
        calls[1].starts_with(
            "api --method PATCH repos/example-org/ferry/issues/comments/9 --input -\t"
        ),
        "{calls:?}"
    );
    let sent: serde_json::Value =
        serde_json::from_str(calls[1].split_once('\t').expect("payload").1).expect("json");
    assert_eq!(
        sent["body"],
        format!("{MARKER}\n### Ferry plan\nnew plan\n")
    );

    // No comment of ours yet: exactly one is created.
    let (said, calls) = upsert("[[{\"id\": 7, \"body\": \"LGTM\"}]]");
    assert_eq!(said, "created a comment\n");
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[1].starts_with(
            "api --method POST repos/example-org/ferry/issues/42/comments --input -\t"
        ),
        "{calls:?}"
    );
}
