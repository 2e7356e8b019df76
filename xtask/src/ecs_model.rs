//! `cargo xtask gen-ecs-model`: derive Ferry's ECS field set from the ECS API model the AWS
//! SDKs are generated from (botocore's `ecs/2014-11-13/service-2.json`, pinned to the release
//! that matches the `aws-sdk-ecs` in Cargo.lock), and write what is derived:
//!
//! - `controller/core/src/ecs_model/model.json`: every shape reachable from
//!   RegisterTaskDefinition, CreateService and UpdateService (and the TaskDefinition and Service
//!   that the Describe calls return), with members, types, enums, limits and a one-paragraph
//!   doc each. `ferry-core` validates, normalizes and documents manifests with it.
//! - `controller/ecs/src/generated.rs`: JSON ⇄ SDK conversions for each of those shapes, so
//!   the ECS platform sends and reads every field without a hand-written line per field.
//!
//! A field AWS adds is picked up by bumping [`BOTOCORE`] (and the SDK) and running this again.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

use crate::tools;

/// The botocore release whose ECS model matches `aws-sdk-ecs` 1.157 (the newest before
/// `trustedExecutionConfiguration`, which that SDK does not have).
pub(crate) const BOTOCORE: &str = "1.43.126";

/// Shapes whose reachable closure Ferry renders or reads.
const ROOTS: &[&str] = &[
    "RegisterTaskDefinitionRequest",
    "CreateServiceRequest",
    "UpdateServiceRequest",
    "TaskDefinition",
    "Service",
    "RunTaskRequest",
];

/// Operation inputs: generated as functions filling the SDK's fluent builder.
const OPERATIONS: &[(&str, &str)] = &[
    ("RegisterTaskDefinitionRequest", "register_task_definition"),
    ("CreateServiceRequest", "create_service"),
    ("UpdateServiceRequest", "update_service"),
    ("RunTaskRequest", "run_task"),
];

/// Member names the SDK spells differently from its usual rule.
const SNAKE_OVERRIDES: &[(&str, &str)] = &[("sizeInGiB", "size_in_gib")];

#[derive(clap::Args)]
pub(crate) struct GenArgs {
    /// Check that the committed files are what the generator writes (exit 1 if not).
    #[arg(long)]
    pub(crate) check: bool,
}

pub(crate) fn run(args: &GenArgs) -> anyhow::Result<()> {
    let root = tools::repo_root();
    let model = load_model(&root)?;
    let shapes = model["shapes"]
        .as_object()
        .context("model without shapes")?;
    let reachable = reachable(shapes)?;
    let core_json = core_model(shapes, &reachable)?;
    let rust = ecs_rust(shapes, &reachable)?;
    let outputs = [
        (
            root.join("controller/core/src/ecs_model/model.json"),
            core_json,
        ),
        (root.join("controller/ecs/src/generated.rs"), rust),
    ];
    let mut stale = Vec::new();
    for (path, text) in &outputs {
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let formatted_old = path.extension().is_some_and(|e| e == "rs");
        let differs = if formatted_old {
            !args.check || old != rustfmt(text)?
        } else {
            old != *text
        };
        if differs {
            if args.check {
                stale.push(path.display().to_string());
            } else {
                std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
                std::fs::write(path, text)?;
                if path.extension().is_some_and(|e| e == "rs") {
                    tools::run(
                        Command::new("rustfmt")
                            .args(["--edition", "2024"])
                            .arg(path),
                    )?;
                }
                println!("wrote {}", path.display());
            }
        }
    }
    if !stale.is_empty() {
        bail!(
            "generated files differ from botocore {BOTOCORE}'s ECS model: {} (run `cargo xtask gen-ecs-model`)",
            stale.join(", ")
        );
    }
    Ok(())
}

/// `text` as rustfmt writes it (the committed file is formatted).
fn rustfmt(text: &str) -> anyhow::Result<String> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("generated.rs");
    std::fs::write(&path, text)?;
    tools::run(
        Command::new("rustfmt")
            .args(["--edition", "2024"])
            .arg(&path),
    )?;
    Ok(std::fs::read_to_string(&path)?)
}

/// botocore's ECS model, downloaded once (pip, from PyPI) into `.tools/botocore-<version>`.
fn load_model(root: &Path) -> anyhow::Result<Value> {
    let dir = root.join(".tools").join(format!("botocore-{BOTOCORE}"));
    let gz = dir.join("service-2.json.gz");
    if !gz.exists() {
        std::fs::create_dir_all(&dir)?;
        tools::run(
            Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-deps",
                    "-d",
                ])
                .arg(&dir)
                .arg(format!("botocore=={BOTOCORE}")),
        )?;
        let wheel: PathBuf = std::fs::read_dir(&dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "whl"))
            .context("pip downloaded no botocore wheel")?;
        tools::run(Command::new("python3").args([
            "-c",
            "import sys, zipfile; open(sys.argv[2], 'wb').write(zipfile.ZipFile(sys.argv[1]).read('botocore/data/ecs/2014-11-13/service-2.json.gz'))",
        ]).arg(&wheel).arg(&gz))?;
    }
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&gz)?).read_to_string(&mut text)?;
    Ok(serde_json::from_str(&text)?)
}

fn reachable(shapes: &Map<String, Value>) -> anyhow::Result<BTreeSet<String>> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = ROOTS.iter().map(|s| (*s).to_owned()).collect();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let shape = shapes
            .get(&name)
            .with_context(|| format!("no shape {name}"))?;
        match shape["type"].as_str() {
            Some("structure") => {
                for m in shape["members"].as_object().into_iter().flatten() {
                    todo.push(m.1["shape"].as_str().unwrap_or_default().to_owned());
                }
            }
            Some("list") => todo.push(
                shape["member"]["shape"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            ),
            Some("map") => {
                todo.push(
                    shape["key"]["shape"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
                todo.push(
                    shape["value"]["shape"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            _ => {}
        }
    }
    Ok(seen)
}

/// The first paragraph of an HTML doc string as plain text (at most ~400 characters).
fn doc_text(html: &str) -> String {
    let first = html.split("</p>").next().unwrap_or(html);
    let mut out = String::new();
    let mut in_tag = false;
    for c in first.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .replace("&quot;", "\"");
    let words: Vec<&str> = out.split_whitespace().collect();
    let mut text = words.join(" ");
    if text.chars().count() > 400 {
        let cut: String = text.chars().take(400).collect();
        let end = cut.rfind(". ").map_or(cut.len(), |i| i + 1);
        text = cut[..end].to_owned();
    }
    text
}

fn core_model(shapes: &Map<String, Value>, reachable: &BTreeSet<String>) -> anyhow::Result<String> {
    let mut out = BTreeMap::new();
    for name in reachable {
        let s = &shapes[name];
        let mut o = Map::new();
        let ty = s["type"].as_str().unwrap_or_default();
        o.insert("type".into(), json!(ty));
        for k in ["min", "max", "enum", "pattern", "box", "union", "document"] {
            if let Some(v) = s.get(k) {
                o.insert(k.into(), v.clone());
            }
        }
        if let Some(d) = s.get("documentation").and_then(Value::as_str) {
            o.insert("doc".into(), json!(doc_text(d)));
        }
        match ty {
            "structure" => {
                let mut members = Map::new();
                for (m, mv) in s["members"].as_object().into_iter().flatten() {
                    let mut mo = Map::new();
                    mo.insert("shape".into(), mv["shape"].clone());
                    if let Some(d) = mv.get("documentation").and_then(Value::as_str) {
                        mo.insert("doc".into(), json!(doc_text(d)));
                    }
                    members.insert(m.clone(), Value::Object(mo));
                }
                o.insert("members".into(), Value::Object(members));
                if let Some(r) = s.get("required") {
                    o.insert("required".into(), r.clone());
                }
            }
            "list" => {
                o.insert("member".into(), s["member"]["shape"].clone());
            }
            "map" => {
                o.insert("key".into(), s["key"]["shape"].clone());
                o.insert("value".into(), s["value"]["shape"].clone());
            }
            _ => {}
        }
        out.insert(name.clone(), Value::Object(o));
    }
    let doc = json!({
        "source": format!("botocore {BOTOCORE}: botocore/data/ecs/2014-11-13/service-2.json (generated by `cargo xtask gen-ecs-model`; do not edit)"),
        "shapes": out,
    });
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}

/// smithy-rs's word split: `enableECSManagedTags` → `enable_ecs_managed_tags`.
fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let boundary = c.is_ascii_uppercase()
            && prev.is_some_and(|p| {
                p.is_ascii_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()))
            });
        if boundary && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn snake(member: &str) -> String {
    if let Some((_, s)) = SNAKE_OVERRIDES.iter().find(|(m, _)| *m == member) {
        return (*s).to_owned();
    }
    let s = words(member).join("_");
    match s.as_str() {
        "type" | "match" | "ref" | "mod" | "enum" | "struct" | "fn" | "impl" | "use" => {
            format!("r#{s}")
        }
        _ => s,
    }
}

fn pascal(shape: &str) -> String {
    words(shape)
        .iter()
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn ecs_rust(shapes: &Map<String, Value>, reachable: &BTreeSet<String>) -> anyhow::Result<String> {
    let ops: BTreeMap<&str, &str> = OPERATIONS.iter().copied().collect();
    let mut r = String::new();
    r.push_str(&format!(
        "// Generated by `cargo xtask gen-ecs-model` from botocore {BOTOCORE}'s ECS model. Do not edit.\n\
         //! JSON ⇄ `aws-sdk-ecs` conversions for every shape Ferry renders or reads: the JSON is the\n\
         //! ECS API's own (camelCase members), as `aws ecs ... --cli-input-json` takes it.\n\n\
         #![allow(clippy::all, clippy::pedantic, deprecated, unused_mut, unused_variables)]\n\n\
         use aws_sdk_ecs::types as t;\n\
         use serde_json::{{Map, Value}};\n\n\
         use crate::model_json::{{FromJson, Field, JsonError, ToJson, Built, get, object, only}};\n\n"
    ));
    for name in reachable {
        let s = &shapes[name];
        let ty = s["type"].as_str().unwrap_or_default();
        let rust_ty = pascal(name);
        if ty == "string" && s.get("enum").is_some() {
            writeln!(
                r,
                "impl ToJson for t::{rust_ty} {{ fn to_json(&self) -> Value {{ Value::String(self.as_str().to_owned()) }} }}"
            )?;
            writeln!(
                r,
                "impl FromJson for t::{rust_ty} {{ fn from_json(v: &Value, path: &str) -> Result<Self, JsonError> {{ String::from_json(v, path).map(|s| t::{rust_ty}::from(s.as_str())) }} }}"
            )?;
            continue;
        }
        if ty != "structure" || s.get("document").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let members: Vec<(&String, &Value)> =
            s["members"].as_object().into_iter().flatten().collect();
        let names: Vec<String> = members.iter().map(|(m, _)| format!("{m:?}")).collect();
        if let Some(op) = ops.get(name.as_str()) {
            let input = pascal(name.trim_end_matches("Request"));
            writeln!(r, "/// Fill `{op}`'s fluent builder from its JSON input.")?;
            writeln!(
                r,
                "pub fn {op}(client: &aws_sdk_ecs::Client, v: &Value) -> Result<aws_sdk_ecs::operation::{}::builders::{input}FluentBuilder, JsonError> {{",
                snake(name.trim_end_matches("Request"))
            )?;
            writeln!(r, "    let m = object(v, \"\")?;")?;
            writeln!(r, "    only(m, &[{}], \"\")?;", names.join(", "))?;
            writeln!(r, "    Ok(client.{op}()")?;
            for (m, _) in &members {
                writeln!(
                    r,
                    "        .set_{}(get(m, {m:?}, \"\")?)",
                    snake(m).trim_start_matches("r#")
                )?;
            }
            writeln!(r, "    )\n}}\n")?;
            continue;
        }
        if name.ends_with("Request") || name.ends_with("Response") {
            continue;
        }
        let union = s.get("union").and_then(Value::as_bool).unwrap_or(false);
        if union {
            writeln!(
                r,
                "impl ToJson for t::{rust_ty} {{\n    fn to_json(&self) -> Value {{\n        let mut m = Map::new();\n        match self {{"
            )?;
            for (m, _) in &members {
                writeln!(
                    r,
                    "            t::{rust_ty}::{}(x) => {{ m.insert({m:?}.into(), x.to_json()); }}",
                    pascal(m)
                )?;
            }
            writeln!(
                r,
                "            _ => {{}}\n        }}\n        Value::Object(m)\n    }}\n}}"
            )?;
            writeln!(
                r,
                "impl FromJson for t::{rust_ty} {{\n    fn from_json(v: &Value, path: &str) -> Result<Self, JsonError> {{\n        let m = object(v, path)?;\n        only(m, &[{}], path)?;",
                names.join(", ")
            )?;
            for (m, _) in &members {
                writeln!(
                    r,
                    "        if let Some(x) = get(m, {m:?}, path)? {{ return Ok(t::{rust_ty}::{}(x)); }}",
                    pascal(m)
                )?;
            }
            writeln!(
                r,
                "        Err(JsonError::new(path, \"needs exactly one member\"))\n    }}\n}}\n"
            )?;
            continue;
        }
        writeln!(
            r,
            "impl ToJson for t::{rust_ty} {{\n    fn to_json(&self) -> Value {{\n        let mut m = Map::new();"
        )?;
        for (m, _) in &members {
            writeln!(r, "        self.{}.put(&mut m, {m:?});", snake(m))?;
        }
        writeln!(r, "        Value::Object(m)\n    }}\n}}")?;
        writeln!(
            r,
            "impl FromJson for t::{rust_ty} {{\n    fn from_json(v: &Value, path: &str) -> Result<Self, JsonError> {{\n        let m = object(v, path)?;\n        only(m, &[{}], path)?;\n        t::{rust_ty}::builder()",
            names.join(", ")
        )?;
        for (m, _) in &members {
            writeln!(
                r,
                "            .set_{}(get(m, {m:?}, path)?)",
                snake(m).trim_start_matches("r#")
            )?;
        }
        writeln!(r, "            .build().built(path)\n    }}\n}}\n")?;
    }
    Ok(r)
}
