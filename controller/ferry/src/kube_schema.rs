//! CRDs and JSON Schemas of the manifest kinds, for editors, `kubectl apply --dry-run` users
//! and kubeconform (`<kind>_<version>.json`, lower-case, as openapi2jsonschema names them).

use std::path::{Path, PathBuf};

use anyhow::Context;
use kube::CustomResourceExt;
use schemars::JsonSchema;

/// The generated documents.
pub(crate) struct Schemas {
    /// One CRD per kind.
    pub(crate) crds: Vec<serde_json::Value>,
    /// (file name, JSON Schema of the whole object) per kind.
    pub(crate) json_schemas: Vec<(String, serde_json::Value)>,
}

impl Schemas {
    /// Build for three kinds.
    pub(crate) fn build<A, B, C>() -> Self
    where
        A: CustomResourceExt + JsonSchema,
        B: CustomResourceExt + JsonSchema,
        C: CustomResourceExt + JsonSchema,
    {
        let mut crds = Vec::new();
        let mut json_schemas = Vec::new();
        for (crd, schema, kind) in [
            (
                serde_json::to_value(A::crd()),
                serde_json::to_value(schemars::schema_for!(A)),
                A::crd_name(),
            ),
            (
                serde_json::to_value(B::crd()),
                serde_json::to_value(schemars::schema_for!(B)),
                B::crd_name(),
            ),
            (
                serde_json::to_value(C::crd()),
                serde_json::to_value(schemars::schema_for!(C)),
                C::crd_name(),
            ),
        ] {
            // Serializing derived types to JSON values cannot fail.
            let mut crd = crd.unwrap_or_default();
            let kind = crd["spec"]["names"]["kind"]
                .as_str()
                .unwrap_or(kind)
                .to_lowercase();
            let mut schema = schema.unwrap_or_default();
            crd_with_ecs_fields(&mut crd, &schema);
            crds.push(crd);
            with_ecs_fields(&mut schema);
            json_schemas.push((format!("{kind}_v1alpha1.json"), schema));
        }
        Self { crds, json_schemas }
    }

    /// All CRDs as one multi-document YAML stream.
    pub(crate) fn crds_yaml(&self) -> anyhow::Result<String> {
        let mut out = String::new();
        for crd in &self.crds {
            out.push_str("---\n");
            out.push_str(&serde_yaml_ng::to_string(crd).context("cannot encode a CRD")?);
        }
        Ok(out)
    }

    /// Write `<kind>.crd.yaml` and `<kind>_v1alpha1.json` files into `dir`.
    pub(crate) fn write_to(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut written = Vec::new();
        for (crd, (schema_name, schema)) in self.crds.iter().zip(&self.json_schemas) {
            let kind = schema_name.trim_end_matches("_v1alpha1.json");
            let crd_path = dir.join(format!("{kind}.crd.yaml"));
            std::fs::write(&crd_path, serde_yaml_ng::to_string(crd)?)
                .with_context(|| format!("cannot write {}", crd_path.display()))?;
            let schema_path = dir.join(schema_name);
            std::fs::write(&schema_path, serde_json::to_string_pretty(schema)? + "\n")
                .with_context(|| format!("cannot write {}", schema_path.display()))?;
            written.push(crd_path);
            written.push(schema_path);
        }
        Ok(written)
    }
}

/// Ferry's types that take ECS's other members by ECS's name, and the ECS shape of each.
const ECS_SHAPES: &[(&str, &[&str])] = &[
    (
        "EcsServiceSpec",
        &["CreateServiceRequest", "UpdateServiceRequest"],
    ),
    ("TaskDefinitionSpec", &["RegisterTaskDefinitionRequest"]),
    ("ContainerSpec", &["ContainerDefinition"]),
    ("PortMapping", &["PortMapping"]),
    ("LogConfiguration", &["LogConfiguration"]),
    ("Volume", &["Volume"]),
];

/// Members Ferry sets itself (or writes its own way) that the schema does not offer.
const FERRY_OWN: &[&str] = &[
    "cluster",
    "serviceName",
    "service",
    "clientToken",
    "networkConfiguration",
    "deploymentConfiguration",
    "forceNewDeployment",
    "tags",
    "serviceConnectConfiguration",
];

/// Add every ECS member the kinds accept beyond their typed fields (from the ECS API model),
/// so editors and kubeconform know them and still refuse a misspelled one.
fn with_ecs_fields(schema: &mut serde_json::Value) {
    let mut ecs_defs = serde_json::Map::new();
    let Some(defs) = schema.get_mut("$defs").and_then(|d| d.as_object_mut()) else {
        return;
    };
    for (ferry, shapes) in ECS_SHAPES {
        let Some(def) = defs.get_mut(*ferry).and_then(|d| d.as_object_mut()) else {
            continue;
        };
        let props = def
            .entry("properties")
            .or_insert_with(|| serde_json::json!({}));
        let Some(props) = props.as_object_mut() else {
            continue;
        };
        for shape in *shapes {
            for (name, member) in ferry_core::ecs_model::members(shape) {
                if props.contains_key(name) || FERRY_OWN.contains(&name) {
                    continue;
                }
                let mut s = ferry_core::ecs_model::json_schema(&member.shape, &mut ecs_defs);
                if let Some(o) = s.as_object_mut()
                    && !member.doc.is_empty()
                    && !o.contains_key("$ref")
                {
                    o.insert("description".into(), member.doc.clone().into());
                }
                props.insert(name.to_owned(), s);
            }
        }
        def.insert("additionalProperties".into(), false.into());
    }
    defs.extend(ecs_defs);
}

/// The same ECS members in a CRD's structural schema (Kubernetes takes no `$ref`: each shape
/// is written inline). The nodes of Ferry's types are found by their typed properties (as in
/// `schema`'s `$defs`), wherever the type is used (a service, a pre-deploy task...). Unknown
/// fields stay as Kubernetes treats them (pruned), so no `additionalProperties` is added.
fn crd_with_ecs_fields(crd: &mut serde_json::Value, schema: &serde_json::Value) {
    let Some(defs) = schema.get("$defs").and_then(|d| d.as_object()) else {
        return;
    };
    // (typed property names, ECS properties inlined) per Ferry type.
    let mut ecs_defs = serde_json::Map::new();
    let mut wanted = Vec::new();
    for (ferry, shapes) in ECS_SHAPES {
        let Some(typed) = defs
            .get(*ferry)
            .and_then(|d| d.get("properties"))
            .and_then(|p| p.as_object())
        else {
            continue;
        };
        let keys: std::collections::BTreeSet<String> = typed.keys().cloned().collect();
        let mut extra = serde_json::Map::new();
        for shape in *shapes {
            for (name, member) in ferry_core::ecs_model::members(shape) {
                if keys.contains(name) || FERRY_OWN.contains(&name) || extra.contains_key(name) {
                    continue;
                }
                let mut s = ferry_core::ecs_model::json_schema(&member.shape, &mut ecs_defs);
                if let Some(o) = s.as_object_mut()
                    && !member.doc.is_empty()
                    && !o.contains_key("$ref")
                {
                    o.insert("description".into(), member.doc.clone().into());
                }
                extra.insert(name.to_owned(), s);
            }
        }
        let extra: serde_json::Map<String, serde_json::Value> = extra
            .into_iter()
            .map(|(k, v)| (k, structural(&v, &ecs_defs, 0)))
            .collect();
        wanted.push((keys, extra));
    }
    let Some(versions) = crd
        .pointer_mut("/spec/versions")
        .and_then(|v| v.as_array_mut())
    else {
        return;
    };
    for v in versions {
        if let Some(root) = v.pointer_mut("/schema/openAPIV3Schema") {
            add_where_typed(root, &wanted);
        }
    }
}

/// Add `extra` properties to every object node whose typed properties are `keys`.
fn add_where_typed(
    node: &mut serde_json::Value,
    wanted: &[(
        std::collections::BTreeSet<String>,
        serde_json::Map<String, serde_json::Value>,
    )],
) {
    let Some(o) = node.as_object_mut() else {
        return;
    };
    if let Some(props) = o.get_mut("properties").and_then(|p| p.as_object_mut()) {
        let keys: std::collections::BTreeSet<String> = props.keys().cloned().collect();
        for child in props.values_mut() {
            add_where_typed(child, wanted);
        }
        if let Some((_, extra)) = wanted.iter().find(|(k, _)| *k == keys) {
            for (name, s) in extra {
                props.entry(name.clone()).or_insert_with(|| s.clone());
            }
            // A flattened map made the node open; the members are now listed.
            if o.get("x-kubernetes-preserve-unknown-fields") == Some(&true.into()) {
                o.remove("x-kubernetes-preserve-unknown-fields");
            }
            o.remove("additionalProperties");
        }
        return;
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = o.get_mut(key) {
            add_where_typed(child, wanted);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(list) = o.get_mut(key).and_then(|l| l.as_array_mut()) {
            for child in list {
                add_where_typed(child, wanted);
            }
        }
    }
}

/// `schema` with every `$ref` into `defs` written inline and no `additionalProperties: false`
/// beside `properties` (both as Kubernetes' structural schemas want). ECS's shapes do not
/// nest themselves; a depth bound keeps a future one from looping.
fn structural(
    schema: &serde_json::Value,
    defs: &serde_json::Map<String, serde_json::Value>,
    depth: usize,
) -> serde_json::Value {
    use serde_json::Value;
    match schema {
        Value::Object(o) => {
            if let Some(target) = o
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
            {
                return match defs.get(target) {
                    Some(def) if depth < 16 => structural(def, defs, depth + 1),
                    _ => {
                        serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
                    }
                };
            }
            let mut out = serde_json::Map::new();
            for (k, v) in o {
                match k.as_str() {
                    "additionalProperties" if v == &Value::Bool(false) => {}
                    // A map of names to names: the keys are data, not schemas.
                    "properties" => {
                        let props = v.as_object().into_iter().flatten();
                        out.insert(
                            k.clone(),
                            Value::Object(
                                props
                                    .map(|(n, p)| (n.clone(), structural(p, defs, depth)))
                                    .collect(),
                            ),
                        );
                    }
                    _ => {
                        out.insert(k.clone(), structural(v, defs, depth));
                    }
                }
            }
            // Kubernetes wants a type on every node: ECS's free-form documents have none.
            if !out.contains_key("type") {
                out.insert("type".into(), "object".into());
                out.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| structural(v, defs, depth)).collect()),
        other => other.clone(),
    }
}
