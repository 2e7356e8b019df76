//! The ECS API model: every shape of RegisterTaskDefinition, CreateService and UpdateService
//! (and of the TaskDefinition and Service the Describe calls return), with members, types,
//! enums, limits and docs, as `model.json` (generated from botocore's ECS model, the one the AWS
//! SDKs are generated from, by `cargo xtask gen-ecs-model`; never edited by hand).
//!
//! Manifests carry every ECS field by ECS's own name; this module checks such values as ECS
//! would (types, enums, ranges, unknown members with a suggestion), gives their JSON Schema,
//! and knows which members are the inputs of an API call (what a live object is projected onto
//! before it is compared). The lowest module of the crate: it imports none of the others.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value, json};

/// One shape of the model.
#[derive(Debug, Clone, Deserialize)]
pub struct Shape {
    /// `structure`, `list`, `map`, `string`, `integer`, `long`, `double`, `boolean`,
    /// `timestamp`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Structure members by name.
    #[serde(default)]
    pub members: BTreeMap<String, Member>,
    /// Required members of a structure.
    #[serde(default)]
    pub required: Vec<String>,
    /// A union: exactly one member.
    #[serde(default)]
    pub union: bool,
    /// Free-form JSON.
    #[serde(default)]
    pub document: bool,
    /// Allowed values of a string.
    #[serde(default, rename = "enum")]
    pub values: Vec<String>,
    /// Minimum (length, items or value).
    #[serde(default)]
    pub min: Option<f64>,
    /// Maximum (length, items or value).
    #[serde(default)]
    pub max: Option<f64>,
    /// List item shape.
    #[serde(default)]
    pub member: Option<String>,
    /// Map key shape.
    #[serde(default)]
    pub key: Option<String>,
    /// Map value shape.
    #[serde(default)]
    pub value: Option<String>,
    /// First paragraph of AWS's documentation.
    #[serde(default)]
    pub doc: String,
}

/// A member of a structure.
#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    /// Its shape's name.
    pub shape: String,
    /// First paragraph of AWS's documentation.
    #[serde(default)]
    pub doc: String,
}

#[derive(Deserialize)]
struct ModelFile {
    source: String,
    shapes: BTreeMap<String, Shape>,
}

static MODEL: LazyLock<ModelFile> = LazyLock::new(|| {
    serde_json::from_str(include_str!("model.json")).expect("ecs_model/model.json is valid")
});

/// Where the model comes from (botocore release).
pub fn source() -> &'static str {
    &MODEL.source
}

/// A shape by name.
pub fn shape(name: &str) -> Option<&'static Shape> {
    MODEL.shapes.get(name)
}

/// A structure's members (empty for an unknown shape).
pub fn members(structure: &str) -> impl Iterator<Item = (&'static str, &'static Member)> {
    shape(structure)
        .into_iter()
        .flat_map(|s| s.members.iter().map(|(k, v)| (k.as_str(), v)))
}

/// The shape of `structure`'s member `name`.
pub fn member_shape(structure: &str, name: &str) -> Option<&'static str> {
    shape(structure)?
        .members
        .get(name)
        .map(|m| m.shape.as_str())
}

/// One problem in a value: where (relative path) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Path below the value checked (`linuxParameters.capabilities.add[0]`).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// `path.key` (or `key` at the root).
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// What kind of JSON value `v` is, for messages (never the value itself).
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// The member of `structure` closest to `name` (case, a letter or two), for "did you mean".
pub fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    candidates
        .map(|c| (c, distance(&lower, &c.to_ascii_lowercase())))
        .filter(|(c, d)| *d <= 2.max(c.len() / 5))
        .min_by_key(|(_, d)| *d)
        .map(|(c, _)| c)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The message for a member `name` that `structure` does not have.
pub fn unknown_member(structure: &str, name: &str) -> String {
    match suggest(name, members(structure).map(|(k, _)| k)) {
        Some(s) => format!("unknown field `{name}` (did you mean `{s}`?)"),
        None => format!("unknown field `{name}`: not a field of ECS's {structure}"),
    }
}

/// Check `value` against shape `name` as ECS would, collecting every problem.
pub fn check(value: &Value, name: &str, path: &str, out: &mut Vec<Problem>) {
    let Some(shape) = shape(name) else {
        return;
    };
    let mut problem = |p: &str, m: String| {
        out.push(Problem {
            path: p.to_owned(),
            message: m,
        });
    };
    if shape.document {
        return;
    }
    match (shape.kind.as_str(), value) {
        (_, Value::Null) => {}
        ("structure", Value::Object(m)) => {
            let mut present = 0;
            for (k, v) in m {
                match shape.members.get(k) {
                    Some(member) => {
                        present += usize::from(!v.is_null());
                        check(v, &member.shape, &join(path, k), out);
                    }
                    None => out.push(Problem {
                        path: join(path, k),
                        message: unknown_member(name, k),
                    }),
                }
            }
            for r in &shape.required {
                if m.get(r).is_none_or(Value::is_null) {
                    out.push(Problem {
                        path: path.to_owned(),
                        message: format!("missing required field `{r}`"),
                    });
                }
            }
            if shape.union && present != 1 {
                out.push(Problem {
                    path: path.to_owned(),
                    message: format!(
                        "set exactly one of {}",
                        shape
                            .members
                            .keys()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        ("list", Value::Array(items)) => {
            if let Some(min) = shape.min
                && (items.len() as f64) < min
            {
                problem(path, format!("needs at least {min} item(s)"));
            }
            if let Some(max) = shape.max
                && (items.len() as f64) > max
            {
                problem(path, format!("takes at most {max} item(s)"));
            }
            let item = shape.member.as_deref().unwrap_or_default();
            for (i, v) in items.iter().enumerate() {
                check(v, item, &format!("{path}[{i}]"), out);
            }
        }
        ("map", Value::Object(m)) => {
            let item = shape.value.as_deref().unwrap_or_default();
            for (k, v) in m {
                check(v, item, &join(path, k), out);
            }
        }
        ("string", Value::String(s)) => {
            if !shape.values.is_empty() && !shape.values.iter().any(|e| e == s) {
                problem(
                    path,
                    format!(
                        "`{s}` is not one of {}",
                        shape
                            .values
                            .iter()
                            .map(|e| format!("`{e}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
        ("integer" | "long", Value::Number(n)) => {
            let Some(i) = n.as_i64() else {
                return problem(path, format!("expected a whole number, got {n}"));
            };
            if shape.kind == "integer" && i32::try_from(i).is_err() {
                problem(path, format!("{i} is out of range"));
            }
            if let Some(min) = shape.min
                && (i as f64) < min
            {
                problem(path, format!("must be at least {min}"));
            }
            if let Some(max) = shape.max
                && (i as f64) > max
            {
                problem(path, format!("must be at most {max}"));
            }
        }
        ("double", Value::Number(_)) | ("boolean", Value::Bool(_)) => {}
        ("timestamp", Value::Number(_) | Value::String(_)) => {}
        (kind, v) => problem(
            path,
            format!(
                "expected {}, got {}",
                match kind {
                    "structure" | "map" => "a mapping",
                    "list" => "a list",
                    "string" => "a string",
                    "integer" | "long" => "a whole number",
                    "double" => "a number",
                    "boolean" => "true or false",
                    _ => "a timestamp",
                },
                kind_of(v)
            ),
        ),
    }
}

/// Keep only the members of `structure` in `object` (recursively into nested structures):
/// what a Describe call returns beyond an API input (ARNs, status, revision...) is dropped.
pub fn project(value: &Value, structure: &str) -> Value {
    let Some(shape) = shape(structure) else {
        return value.clone();
    };
    match (shape.kind.as_str(), value) {
        ("structure", Value::Object(m)) if !shape.document => Value::Object(
            m.iter()
                .filter_map(|(k, v)| {
                    let member = shape.members.get(k)?;
                    Some((k.clone(), project(v, &member.shape)))
                })
                .collect(),
        ),
        ("list", Value::Array(items)) => {
            let item = shape.member.as_deref().unwrap_or_default();
            Value::Array(items.iter().map(|v| project(v, item)).collect())
        }
        ("map", Value::Object(m)) => {
            let item = shape.value.as_deref().unwrap_or_default();
            Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), project(v, item)))
                    .collect(),
            )
        }
        _ => value.clone(),
    }
}

/// Prefix of the ECS shapes' names among a JSON Schema's `$defs` (Ferry's own types use
/// some of the same names).
pub const SCHEMA_PREFIX: &str = "ecs.";

/// JSON Schema of shape `name` (definitions go into `defs` as `ecs.<Shape>`, referenced by
/// that name).
pub fn json_schema(name: &str, defs: &mut Map<String, Value>) -> Value {
    let Some(shape) = shape(name) else {
        return json!({});
    };
    let mut s = match shape.kind.as_str() {
        _ if shape.document => json!({}),
        "structure" => {
            let key = format!("{SCHEMA_PREFIX}{name}");
            if !defs.contains_key(&key) {
                defs.insert(key.clone(), json!({}));
                let props: Map<String, Value> = shape
                    .members
                    .iter()
                    .map(|(k, m)| {
                        let mut p = json_schema(&m.shape, defs);
                        if !m.doc.is_empty()
                            && let Some(o) = p.as_object_mut()
                            && !o.contains_key("$ref")
                        {
                            o.insert("description".into(), json!(m.doc));
                        }
                        (k.clone(), p)
                    })
                    .collect();
                let mut def =
                    json!({"type": "object", "properties": props, "additionalProperties": false});
                if !shape.doc.is_empty() {
                    def["description"] = json!(shape.doc);
                }
                defs.insert(key.clone(), def);
            }
            return json!({"$ref": format!("#/$defs/{key}")});
        }
        "list" => {
            json!({"type": "array", "items": json_schema(shape.member.as_deref().unwrap_or_default(), defs)})
        }
        "map" => {
            json!({"type": "object", "additionalProperties": json_schema(shape.value.as_deref().unwrap_or_default(), defs)})
        }
        "string" if !shape.values.is_empty() => json!({"type": "string", "enum": shape.values}),
        "string" => json!({"type": "string"}),
        "integer" | "long" => json!({"type": "integer"}),
        "double" => json!({"type": "number"}),
        "boolean" => json!({"type": "boolean"}),
        _ => json!({"type": ["string", "number"]}),
    };
    if let (Some(min), Some(o)) = (shape.min, s.as_object_mut()) {
        let key = match shape.kind.as_str() {
            "list" => "minItems",
            "string" => "minLength",
            _ => "minimum",
        };
        o.insert(key.into(), json!(min));
    }
    s
}

/// Defaults ECS fills in when a member is left out: `(structure, member, value)`. A member
/// equal to its default is the same as no member, on both sides of a diff.
pub const DEFAULTS: &[(&str, &str, &str)] = &[
    ("DockerVolumeConfiguration", "scope", "\"task\""),
    ("DockerVolumeConfiguration", "autoprovision", "false"),
    ("CreateServiceRequest", "schedulingStrategy", "\"REPLICA\""),
    (
        "CreateServiceRequest",
        "deploymentController",
        "{\"type\":\"ECS\"}",
    ),
    ("CreateServiceRequest", "platformVersion", "\"LATEST\""),
    ("CreateServiceRequest", "enableExecuteCommand", "false"),
    (
        "RegisterTaskDefinitionRequest",
        "enableFaultInjection",
        "false",
    ),
    ("ContainerDefinition", "disableNetworking", "false"),
    ("ContainerDefinition", "privileged", "false"),
    ("ContainerDefinition", "interactive", "false"),
    ("ContainerDefinition", "pseudoTerminal", "false"),
    ("LinuxParameters", "initProcessEnabled", "false"),
    ("FirelensConfiguration", "options", "{}"),
];

fn is_default(structure: &str, member: &str, value: &Value) -> bool {
    DEFAULTS.iter().any(|(s, m, d)| {
        *s == structure
            && *m == member
            && serde_json::from_str::<Value>(d).is_ok_and(|d| &d == value)
    })
}

/// `value` (of shape `name`) in a canonical form for comparison: members that are not ECS's
/// dropped (what Describe adds beyond an input), nulls, empty lists, maps and strings and
/// ECS's defaults left out, lists of named objects in name order. Both sides of a diff go
/// through it.
pub fn normalize(value: &Value, name: &str) -> Value {
    let Some(shape) = shape(name) else {
        return value.clone();
    };
    match (shape.kind.as_str(), value) {
        ("structure", Value::Object(m)) if !shape.document => {
            let mut out = Map::new();
            for (k, v) in m {
                let Some(member) = shape.members.get(k) else {
                    continue;
                };
                let v = normalize(v, &member.shape);
                if !is_empty(&v) && !is_default(name, k, &v) {
                    out.insert(k.clone(), v);
                }
            }
            Value::Object(out)
        }
        ("list", Value::Array(items)) => {
            let item = shape.member.as_deref().unwrap_or_default();
            let mut items: Vec<Value> = items.iter().map(|v| normalize(v, item)).collect();
            if items
                .iter()
                .all(|v| v.get("name").is_some_and(Value::is_string))
            {
                items.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            }
            Value::Array(items)
        }
        ("map", Value::Object(m)) => {
            let item = shape.value.as_deref().unwrap_or_default();
            Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), normalize(v, item)))
                    .collect(),
            )
        }
        _ => value.clone(),
    }
}

/// Null, `[]`, `{}` or `""`.
pub fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// The normalized members of `extra` (members of `structure` only), merged into `into`.
pub fn merge_normalized(
    into: &mut Map<String, Value>,
    extra: &Map<String, Value>,
    structure: &str,
) {
    if let Value::Object(n) = normalize(&Value::Object(extra.clone()), structure) {
        for (k, v) in n {
            into.insert(k, v);
        }
    }
}

/// Task-level `cpu` as CPU units: `1024`, or ECS's `1 vcpu` / `.25 vCPU` (converted by ECS
/// at registration).
pub fn cpu_units(text: &str) -> Option<u32> {
    scaled(text, &[("vcpu", 1024.0)])
}

/// Task-level `memory` as MiB: `2048`, or ECS's `2 gb` / `0.5GB` (converted by ECS at
/// registration).
pub fn memory_mib(text: &str) -> Option<u32> {
    scaled(
        text,
        &[("gb", 1024.0), ("mb", 1.0), ("mib", 1.0), ("gib", 1024.0)],
    )
}

fn scaled(text: &str, units: &[(&str, f64)]) -> Option<u32> {
    let t = text.trim().to_ascii_lowercase();
    if let Ok(n) = t.parse::<u32>() {
        return Some(n);
    }
    units.iter().find_map(|(unit, factor)| {
        let n: f64 = t.strip_suffix(unit)?.trim().parse().ok()?;
        let v = n * factor;
        (v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX)).then_some(v as u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_has_every_container_definition_field() {
        let names: Vec<&str> = members("ContainerDefinition").map(|(k, _)| k).collect();
        for f in [
            "firelensConfiguration",
            "linuxParameters",
            "links",
            "privileged",
            "systemControls",
        ] {
            assert!(names.contains(&f), "{f} missing from {names:?}");
        }
        assert_eq!(
            member_shape("RegisterTaskDefinitionRequest", "networkMode"),
            Some("NetworkMode")
        );
    }

    #[test]
    fn checks_types_enums_and_unknown_members() {
        let v = json!({"name": "x", "memory": "lots", "privilegd": true, "linuxParameters": {"capabilities": {"add": ["SYS_PTRACE"]}}, "portMappings": [{"containerPort": 80, "protocol": "http"}]});
        let mut out = Vec::new();
        check(&v, "ContainerDefinition", "", &mut out);
        let got: Vec<(String, String)> = out.into_iter().map(|p| (p.path, p.message)).collect();
        assert!(
            got.contains(&(
                "memory".into(),
                "expected a whole number, got a string".into()
            )),
            "{got:?}"
        );
        assert!(
            got.contains(&(
                "privilegd".into(),
                "unknown field `privilegd` (did you mean `privileged`?)".into()
            )),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|(p, m)| p == "portMappings[0].protocol" && m.contains("`tcp`")),
            "{got:?}"
        );
        assert_eq!(got.len(), 3, "{got:?}");
    }

    #[test]
    fn task_sizes_in_units() {
        assert_eq!(cpu_units("1 vcpu"), Some(1024));
        assert_eq!(cpu_units(".25 vCPU"), Some(256));
        assert_eq!(cpu_units("512"), Some(512));
        assert_eq!(memory_mib("2 GB"), Some(2048));
        assert_eq!(memory_mib(".5 gb"), Some(512));
        assert_eq!(memory_mib("lots"), None);
    }

    #[test]
    fn projection_keeps_only_input_members() {
        let live = json!({"family": "f", "revision": 3, "status": "ACTIVE", "containerDefinitions": [{"name": "a", "image": "i"}]});
        assert_eq!(
            project(&live, "RegisterTaskDefinitionRequest"),
            json!({"family": "f", "containerDefinitions": [{"name": "a", "image": "i"}]})
        );
    }
}
