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
            let crd = crd.unwrap_or_default();
            let kind = crd["spec"]["names"]["kind"]
                .as_str()
                .unwrap_or(kind)
                .to_lowercase();
            crds.push(crd);
            let mut schema = schema.unwrap_or_default();
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
