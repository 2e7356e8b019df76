//! The committed `manifests/<env>/terraform-outputs.json` against the Terraform root of the same
//! environment: the same output names as `environments/<env>/outputs.tf`, in the shape
//! `terraform output -json` writes, and every `${value}` the environment's manifests use is one of
//! them. (The values Terraform derives from names are held against the file by each root's
//! `terraform test`, run `committed_outputs`.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const ENVIRONMENTS: &[&str] = &["dev", "staging", "prod"];

fn repo() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Output names declared in a Terraform root's `outputs.tf`.
fn terraform_outputs(env: &str) -> BTreeSet<String> {
    let text = read(&repo().join("environments").join(env).join("outputs.tf"));
    let re = regex::Regex::new(r#"(?m)^output\s+"([A-Za-z0-9_-]+)"\s*\{"#).expect("regex");
    re.captures_iter(&text).map(|c| c[1].to_owned()).collect()
}

/// The committed outputs file, parsed.
fn committed(env: &str) -> serde_json::Map<String, serde_json::Value> {
    let path = repo()
        .join("manifests")
        .join(env)
        .join("terraform-outputs.json");
    match serde_json::from_str(&read(&path)) {
        Ok(serde_json::Value::Object(map)) => map,
        other => panic!("{}: not a JSON object: {other:?}", path.display()),
    }
}

/// Every YAML file under `path` (a file or a folder), recursively.
fn yaml_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .expect("read_dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for entry in entries {
            yaml_files(&entry, out);
        }
    } else if matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    ) {
        out.push(path.to_path_buf());
    }
}

/// The files an environment's manifests are made of: its own folder plus its `spec.resources`.
fn environment_files(env: &str) -> Vec<PathBuf> {
    let dir = repo().join("manifests").join(env);
    let environment: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&read(&dir.join("environment.yaml"))).expect("environment.yaml");
    assert_eq!(
        environment["spec"]["values"]["fromFile"].as_str(),
        Some("terraform-outputs.json"),
        "manifests/{env}/environment.yaml must read its values from terraform-outputs.json"
    );
    let mut files = Vec::new();
    yaml_files(&dir, &mut files);
    for resource in environment["spec"]["resources"]
        .as_sequence()
        .expect("spec.resources")
    {
        yaml_files(
            &dir.join(resource.as_str().expect("resource path")),
            &mut files,
        );
    }
    files
}

/// `${name}` references in a manifest file (`$${` is a literal `${`), with their line numbers.
fn value_references(text: &str) -> Vec<(usize, String)> {
    let re = regex::Regex::new(r"\$\{([^}]*)\}").expect("regex");
    let mut refs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.replace("$${", "");
        for capture in re.captures_iter(&line) {
            refs.push((index + 1, capture[1].to_owned()));
        }
    }
    refs
}

#[test]
fn committed_terraform_outputs_have_exactly_the_roots_output_names() {
    for env in ENVIRONMENTS {
        let declared = terraform_outputs(env);
        assert!(
            declared.len() >= 10,
            "environments/{env}/outputs.tf: too few outputs found ({declared:?})"
        );
        let committed: BTreeSet<String> = committed(env).keys().cloned().collect();
        assert_eq!(
            committed,
            declared,
            "manifests/{env}/terraform-outputs.json must hold exactly the outputs of environments/{env} \
             (only in the file: {:?}; only in Terraform: {:?})",
            committed.difference(&declared).collect::<Vec<_>>(),
            declared.difference(&committed).collect::<Vec<_>>(),
        );
    }
}

#[test]
fn committed_terraform_outputs_are_in_terraform_output_json_shape() {
    for env in ENVIRONMENTS {
        for (name, output) in committed(env) {
            let shape = output.as_object().map(|o| {
                let mut keys: Vec<_> = o.keys().map(String::as_str).collect();
                keys.sort_unstable();
                keys
            });
            assert_eq!(
                shape,
                Some(vec!["sensitive", "type", "value"]),
                "manifests/{env}/terraform-outputs.json: {name} must be {{sensitive, type, value}} as `terraform output -json` writes it"
            );
            assert_eq!(
                output["sensitive"],
                serde_json::Value::Bool(false),
                "manifests/{env}/terraform-outputs.json: {name} must not be sensitive"
            );
        }
    }
}

#[test]
fn every_value_the_manifests_use_is_a_terraform_output() {
    for env in ENVIRONMENTS {
        let outputs = committed(env);
        let files = environment_files(env);
        assert!(
            files.iter().any(|f| f.ends_with("base/numbers.yaml")),
            "manifests/{env} must include the base stack: {files:?}"
        );
        let mut used = BTreeSet::new();
        for file in &files {
            for (line, name) in value_references(&read(file)) {
                assert!(
                    outputs.contains_key(&name),
                    "{}:{line}: ${{{name}}} is not an output of environments/{env}",
                    file.display()
                );
                used.insert(name);
            }
        }
        // The references the numbers stack cannot run without.
        for name in [
            "cluster_name",
            "private_subnet_ids",
            "task_security_group_id",
            "target_group_arn",
            "db_secret_arn",
        ] {
            assert!(
                used.contains(name),
                "manifests/{env} no longer uses ${{{name}}}"
            );
        }
    }
}

#[test]
fn value_references_skip_escaped_dollars() {
    assert_eq!(
        value_references("a: ${x}\nb: $${literal} ${y}z\n"),
        vec![(1, "x".to_owned()), (2, "y".to_owned())]
    );
}
