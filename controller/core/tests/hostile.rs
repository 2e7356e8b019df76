//! The hostile-manifest corpus in process: every case is refused by the loader with the
//! expected `file:line`, prints no planted credential and no follow-on error. The same corpus
//! runs against the `ferry validate` binary, with time and memory bounds, in
//! `controller/ferry/tests/hostile_cli.rs`.

#[path = "hostile/corpus.rs"]
mod corpus;

use std::path::Path;

/// What `ferry validate` would print: problems anywhere in the folder, then every
/// environment's errors.
fn errors(root: &Path) -> Vec<String> {
    let found = ferry_core::discover(root).unwrap_or_else(|d| panic!("{d}"));
    let mut lines: Vec<String> = found.problems.iter().map(ToString::to_string).collect();
    for env in &found.environments {
        if let Err(diags) = ferry_core::load_environment(root, env) {
            lines.extend(diags.0.iter().map(ToString::to_string));
        }
    }
    lines
}

#[test]
fn the_corpus_has_at_least_sixty_cases_over_every_class() {
    let cases = corpus::cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let classes: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.class).collect();
    for class in [
        "budget", "fs", "skip", "secret", "values", "patch", "cascade", "names", "output", "yaml",
        "local",
    ] {
        assert!(classes.contains(class), "no case of class {class}");
    }
}

#[test]
fn every_hostile_folder_is_refused_at_the_right_line_without_leaking() {
    let mut failures = Vec::new();
    for case in corpus::cases() {
        let dir = case.build();
        let lines = errors(dir.path());
        if std::env::var_os("FERRY_CORPUS_DUMP").is_some() {
            println!("[{}] {}", case.class, case.name);
            for l in &lines {
                println!("    {}", l.chars().take(200).collect::<String>());
            }
        }
        if lines.is_empty() {
            failures.push(format!("[{}] {}: accepted", case.class, case.name));
            continue;
        }
        if let Err(why) = case.check(&lines.join("\n")) {
            failures.push(format!(
                "[{}] {}: {why}\n    got:\n      {}",
                case.class,
                case.name,
                lines
                    .iter()
                    .map(|l| l.chars().take(300).collect::<String>())
                    .collect::<Vec<_>>()
                    .join("\n      ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
