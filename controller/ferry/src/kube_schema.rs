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
            json_schemas.push((format!("{kind}_v1alpha1.json"), schema.unwrap_or_default()));
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
