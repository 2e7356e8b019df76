//! Loading: an environment folder (and the base folders it names) → a validated
//! [`DesiredState`], in two stages like ripgrep's arguments: raw documents (YAML → JSON with
//! lines, overlay: patches, `${values}`) → typed resources → validation rules.
//!
//! Every problem becomes a [`Diagnostic`] with `file:line` and field path, and all of them are
//! reported together. Reading files is the only I/O; nothing is written.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::kinds::{API_VERSION, EcrRepositorySpec, EcsServiceSpec, EnvironmentSpec};
use crate::yaml::{self, Document};

/// Largest manifest or values file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// One problem in the manifests, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    /// File, relative to the manifests root.
    pub file: PathBuf,
    /// Line (1-based); 0 when the problem is the file itself.
    pub line: usize,
    /// Field path inside the document (`spec.taskDefinition.containers[0].image`).
    pub field: Option<String>,
    /// What is wrong, and how to fix it where that is known.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in one load, sorted by file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Where each field of a resource came from (patches move fields to the environment's file).
/// File names are shared (`Arc`): a stack of 1000 services has tens of thousands of fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origins {
    file: Arc<Path>,
    lines: BTreeMap<String, (Arc<Path>, usize)>,
}

impl Default for Origins {
    fn default() -> Self {
        Self {
            file: Arc::from(Path::new("")),
            lines: BTreeMap::new(),
        }
    }
}

impl Origins {
    fn from_document(file: &Path, doc: &Document) -> Self {
        let file: Arc<Path> = Arc::from(file);
        Self {
            lines: doc
                .lines
                .iter()
                .map(|(p, l)| (p.clone(), (file.clone(), *l)))
                .collect(),
            file,
        }
    }

    /// Keep only the resource's file (its line, and every field's, is forgotten).
    fn forget_lines(&mut self) {
        self.lines.clear();
    }

    /// File and line of `path`, or of its nearest ancestor.
    pub fn locate(&self, path: &str) -> (PathBuf, usize) {
        let (file, line) = self.find(path);
        (file.to_path_buf(), line)
    }

    fn find(&self, path: &str) -> (Arc<Path>, usize) {
        let mut p = path;
        loop {
            if let Some((file, line)) = self.lines.get(p) {
                return (file.clone(), *line);
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => {
                    return self
                        .lines
                        .get("")
                        .cloned()
                        .unwrap_or_else(|| (self.file.clone(), 1));
                }
            }
        }
    }

    /// A diagnostic at `path`.
    pub fn diagnostic(&self, path: &str, message: impl Into<String>) -> Diagnostic {
        let (file, line) = self.locate(path);
        Diagnostic {
            file,
            line,
            field: (!path.is_empty()).then(|| path.to_owned()),
            message: message.into(),
        }
    }
}

/// A typed resource with its identity and provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<T> {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// The spec, after patches and values.
    pub spec: T,
    /// Where each field came from.
    pub origins: Origins,
}

/// Everything an environment wants to exist, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredState {
    /// The environment's name (its folder).
    pub env: String,
    /// The Environment resource.
    pub environment: Loaded<EnvironmentSpec>,
    /// Services by name.
    pub services: BTreeMap<String, Loaded<EcsServiceSpec>>,
    /// Repositories by name.
    pub repositories: BTreeMap<String, Loaded<EcrRepositorySpec>>,
}

impl DesiredState {
    /// Drop the field-to-line maps (only validation needs them): a long-running controller
    /// keeps the state of every environment, and at 1000 services the maps are most of it.
    /// Each resource keeps its file.
    pub fn forget_origins(&mut self) {
        self.environment.origins.forget_lines();
        for s in self.services.values_mut() {
            s.origins.forget_lines();
        }
        for r in self.repositories.values_mut() {
            r.origins.forget_lines();
        }
    }
}

/// A parsed, not yet typed, document.
#[derive(Debug, Clone)]
struct RawDoc {
    kind: String,
    name: String,
    value: Value,
    origins: Origins,
}

/// Kinds a document may have.
const KINDS: &[&str] = &["Environment", "EcsService", "EcrRepository"];

/// Names of the environments under `root`: folders holding a document of kind `Environment`.
pub fn discover_environments(root: &Path) -> Result<Vec<String>, Diagnostics> {
    let root = &root
        .canonicalize()
        .map_err(|e| single(root, format!("cannot open the manifests folder: {e}")))?;
    let mut envs = Vec::new();
    let entries = std::fs::read_dir(root)
        .map_err(|e| single(root, format!("cannot read the manifests folder: {e}")))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut diags = Vec::new();
        let docs = read_folder(root, &dir, false, &mut diags);
        if docs.iter().any(|d| d.kind == "Environment")
            && let Some(name) = dir.file_name().and_then(|n| n.to_str())
        {
            envs.push(name.to_owned());
        }
    }
    Ok(envs)
}

fn single(file: &Path, message: String) -> Diagnostics {
    Diagnostics(vec![Diagnostic {
        file: file.to_path_buf(),
        line: 0,
        field: None,
        message,
    }])
}

/// Load and validate environment `env` from the manifests folder `root`.
pub fn load_environment(root: &Path, env: &str) -> Result<DesiredState, Diagnostics> {
    let root = root
        .canonicalize()
        .map_err(|e| single(root, format!("cannot open the manifests folder: {e}")))?;
    let env_dir = root.join(env);
    if !env_dir.is_dir() || env.contains(['/', '\\']) || env.starts_with('.') {
        return Err(single(
            Path::new(env),
            format!("no environment folder `{env}` in the manifests"),
        ));
    }
    let mut diags = Vec::new();

    // Stage 1: the environment's own documents.
    let own = read_folder(&root, &env_dir, false, &mut diags);
    let (env_docs, mut resource_docs): (Vec<RawDoc>, Vec<RawDoc>) =
        own.into_iter().partition(|d| d.kind == "Environment");
    let env_doc = match env_docs.as_slice() {
        [one] => one.clone(),
        [] => {
            diags.push(Diagnostic {
                file: PathBuf::from(env),
                line: 0,
                field: None,
                message: "no document of kind Environment in this folder".into(),
            });
            return Err(finish(diags));
        }
        [first, rest @ ..] => {
            for extra in rest {
                diags.push(extra.origins.diagnostic(
                    "",
                    format!(
                        "a second Environment (the first is in {})",
                        first.origins.file.display()
                    ),
                ));
            }
            first.clone()
        }
    };
    if env_doc.name != env {
        diags.push(env_doc.origins.diagnostic(
            "metadata.name",
            format!(
                "the Environment in folder `{env}` must be named `{env}`, not `{}`",
                env_doc.name
            ),
        ));
    }

    // Values first: the Environment itself may use them (cluster, network...).
    let values = read_values(&root, &env_dir, &env_doc, &mut diags);
    let mut env_value = env_doc.value.clone();
    if let Some(spec) = env_value.get_mut("spec").and_then(Value::as_object_mut) {
        let kept = spec.remove("values");
        let mut spec_value = Value::Object(std::mem::take(spec));
        substitute(
            &mut spec_value,
            "spec",
            &values,
            &env_doc.origins,
            &mut diags,
        );
        if let Value::Object(mut m) = spec_value {
            if let Some(v) = kept {
                m.insert("values".into(), v);
            }
            *spec = m;
        }
    }
    let environment = typed::<EnvironmentSpec>(&env_value, &env_doc, &mut diags);

    // Stage 2: resources from the folders the Environment names.
    if let Some(env_spec) = &environment {
        let mut seen_files = BTreeSet::new();
        for (i, rel) in env_spec.spec.resources.iter().enumerate() {
            let field = format!("spec.resources[{i}]");
            let Some(target) = inside_root(&root, &env_dir, rel) else {
                diags.push(env_doc.origins.diagnostic(&field, format!(
                    "`{rel}` is outside the manifests folder (or does not exist); resources must stay inside it"
                )));
                continue;
            };
            if !seen_files.insert(target.clone()) {
                continue;
            }
            if target.is_dir() {
                resource_docs.extend(read_folder(&root, &target, true, &mut diags));
            } else {
                resource_docs.extend(read_file(&root, &target, &mut diags));
            }
        }
        for doc in &resource_docs {
            if doc.kind == "Environment" {
                diags.push(doc.origins.diagnostic(
                    "kind",
                    "an Environment cannot be a resource of another environment",
                ));
            }
        }
        resource_docs.retain(|d| d.kind != "Environment");

        apply_patches(env_spec, &env_doc, &mut resource_docs, &mut diags);
    }

    // Stage 3: values into resources, then types.
    let mut services = BTreeMap::new();
    let mut repositories = BTreeMap::new();
    for mut doc in resource_docs {
        let mut value = std::mem::take(&mut doc.value);
        substitute(&mut value, "", &values, &doc.origins, &mut diags);
        let duplicate = |first: &Origins, doc: &RawDoc| {
            doc.origins.diagnostic(
                "metadata.name",
                format!(
                    "duplicate {} `{}` (also in {}:{})",
                    doc.kind,
                    doc.name,
                    first.file.display(),
                    first.locate("metadata.name").1
                ),
            )
        };
        match doc.kind.as_str() {
            "EcsService" => {
                if let Some(first) = services
                    .get(&doc.name)
                    .map(|s: &Loaded<EcsServiceSpec>| s.origins.clone())
                {
                    diags.push(duplicate(&first, &doc));
                } else if let Some(loaded) = typed::<EcsServiceSpec>(&value, &doc, &mut diags) {
                    services.insert(doc.name.clone(), loaded);
                }
            }
            "EcrRepository" => {
                if let Some(first) = repositories
                    .get(&doc.name)
                    .map(|r: &Loaded<EcrRepositorySpec>| r.origins.clone())
                {
                    diags.push(duplicate(&first, &doc));
                } else if let Some(loaded) = typed::<EcrRepositorySpec>(&value, &doc, &mut diags) {
                    repositories.insert(doc.name.clone(), loaded);
                }
            }
            _ => {}
        }
    }

    let Some(environment) = environment else {
        return Err(finish(diags));
    };
    let state = DesiredState {
        env: env.to_owned(),
        environment,
        services,
        repositories,
    };
    diags.extend(crate::validate::validate(&state));
    if diags.is_empty() {
        Ok(state)
    } else {
        Err(finish(diags))
    }
}

fn finish(mut diags: Vec<Diagnostic>) -> Diagnostics {
    diags.sort();
    diags.dedup();
    Diagnostics(diags)
}

/// `rel` (relative to `base`) resolved, if it exists and stays inside `root` (symlinks followed).
fn inside_root(root: &Path, base: &Path, rel: &str) -> Option<PathBuf> {
    if Path::new(rel).is_absolute() {
        return None;
    }
    let target = base.join(rel).canonicalize().ok()?;
    target.starts_with(root).then_some(target)
}

fn relative(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root)
        .map_or_else(|_| path.to_path_buf(), Path::to_path_buf)
}

/// Documents of every `*.yaml`/`*.yml` file in `dir` (and below, when `recursive`), sorted by path.
fn read_folder(
    root: &Path,
    dir: &Path,
    recursive: bool,
    diags: &mut Vec<Diagnostic>,
) -> Vec<RawDoc> {
    let mut files = Vec::new();
    collect_files(dir, recursive, &mut files);
    files.sort();
    files
        .iter()
        .flat_map(|f| read_file(root, f, diags))
        .collect()
}

fn collect_files(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            if recursive {
                collect_files(&path, recursive, out);
            }
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

fn read_file(root: &Path, path: &Path, diags: &mut Vec<Diagnostic>) -> Vec<RawDoc> {
    let rel = relative(root, path);
    let file_diag = |message: String| Diagnostic {
        file: rel.clone(),
        line: 0,
        field: None,
        message,
    };
    match path.canonicalize() {
        Ok(real) if real.starts_with(root) => {}
        _ => {
            diags.push(file_diag(
                "links outside the manifests folder; refusing to read it".into(),
            ));
            return Vec::new();
        }
    }
    match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_FILE_BYTES => {
            diags.push(file_diag(format!(
                "larger than {MAX_FILE_BYTES} bytes; refusing to read it"
            )));
            return Vec::new();
        }
        Err(e) => {
            diags.push(file_diag(format!("cannot read: {e}")));
            return Vec::new();
        }
        Ok(_) => {}
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            diags.push(file_diag(format!("cannot read: {e}")));
            return Vec::new();
        }
    };
    let docs = match yaml::parse_documents(&text) {
        Ok(d) => d,
        Err(e) => {
            diags.push(Diagnostic {
                file: rel,
                line: e.line,
                field: None,
                message: format!("invalid YAML: {}", e.message),
            });
            return Vec::new();
        }
    };
    docs.into_iter()
        .filter_map(|doc| header(&rel, doc, diags))
        .collect()
}

/// Check `apiVersion`, `kind`, `metadata` of a document and keep it with its identity.
fn header(file: &Path, doc: Document, diags: &mut Vec<Diagnostic>) -> Option<RawDoc> {
    let origins = Origins::from_document(file, &doc);
    let mut ok = true;
    let mut fail = |path: &str, message: String| {
        diags.push(origins.diagnostic(path, message));
        ok = false;
    };
    let Some(object) = doc.value.as_object() else {
        fail(
            "",
            "a manifest document must be a mapping with apiVersion, kind, metadata, spec".into(),
        );
        return None;
    };
    for key in object.keys() {
        if !["apiVersion", "kind", "metadata", "spec"].contains(&key.as_str()) {
            fail(
                key,
                format!("unknown field `{key}`; expected apiVersion, kind, metadata, spec"),
            );
        }
    }
    match object.get("apiVersion").and_then(Value::as_str) {
        Some(API_VERSION) => {}
        Some(other) => fail(
            "apiVersion",
            format!("unsupported apiVersion `{other}`; expected `{API_VERSION}`"),
        ),
        None => fail(
            "apiVersion",
            format!("missing apiVersion; expected `{API_VERSION}`"),
        ),
    }
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if !KINDS.contains(&kind.as_str()) {
        fail(
            "kind",
            format!(
                "unknown kind `{kind}`; expected one of {}",
                KINDS.join(", ")
            ),
        );
    }
    let metadata = object.get("metadata").and_then(Value::as_object);
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if name.is_empty() {
        fail("metadata.name", "missing metadata.name".into());
    }
    if let Some(meta) = metadata {
        for key in meta.keys() {
            if !["name", "namespace", "labels", "annotations"].contains(&key.as_str()) {
                fail(
                    &format!("metadata.{key}"),
                    format!("unknown field `{key}`; expected name, labels, annotations"),
                );
            }
        }
    }
    if object.get("spec").is_none_or(|s| !s.is_object()) {
        fail("spec", "missing spec (a mapping)".into());
    }
    ok.then_some(RawDoc {
        kind,
        name,
        value: doc.value,
        origins,
    })
}

/// Deserialize a document into `Loaded<T>`; type errors become diagnostics at their field.
fn typed<T: DeserializeOwned>(
    value: &Value,
    doc: &RawDoc,
    diags: &mut Vec<Diagnostic>,
) -> Option<Loaded<T>> {
    let spec = value.get("spec").cloned().unwrap_or(Value::Null);
    let annotations = value
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    match serde_path_to_error::deserialize::<_, T>(spec) {
        Ok(spec) => Some(Loaded {
            name: doc.name.clone(),
            annotations,
            spec,
            origins: doc.origins.clone(),
        }),
        Err(err) => {
            let inner = err.inner().to_string();
            let mut path = match err.path().to_string().as_str() {
                "." | "?" => "spec".to_owned(),
                p => format!("spec.{p}"),
            };
            // serde reports an unknown field at its parent; name the field itself.
            if let Some(field) = inner
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next())
                && !path.ends_with(&format!(".{field}"))
            {
                path = format!("{path}.{field}");
            }
            diags.push(doc.origins.diagnostic(&path, inner));
            None
        }
    }
}

/// Values from `spec.values` (inline wins over `fromFile`).
fn read_values(
    root: &Path,
    env_dir: &Path,
    env_doc: &RawDoc,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Value> {
    let mut values = BTreeMap::new();
    let Some(spec_values) = env_doc.value.pointer("/spec/values") else {
        return values;
    };
    if let Some(rel) = spec_values.get("fromFile").and_then(Value::as_str) {
        let field = "spec.values.fromFile";
        match inside_root(root, env_dir, rel) {
            None => diags.push(env_doc.origins.diagnostic(field, format!(
                "`{rel}` is outside the manifests folder or does not exist (write `terraform output -json > {rel}`)"
            ))),
            Some(path) => match read_json(&path) {
                Err(message) => diags.push(env_doc.origins.diagnostic(field, format!("`{rel}`: {message}"))),
                Ok(Value::Object(map)) => {
                    for (name, entry) in map {
                        // `terraform output -json`: {"name": {"value": ..., "type": ..., "sensitive": bool}}
                        let is_output = entry.get("value").is_some() && entry.get("type").is_some();
                        if is_output && entry.get("sensitive").and_then(Value::as_bool) == Some(true) {
                            values.insert(name, Value::Null);
                            continue;
                        }
                        let v = if is_output { entry["value"].clone() } else { entry };
                        values.insert(name, v);
                    }
                }
                Ok(_) => diags.push(env_doc.origins.diagnostic(field, format!("`{rel}` must hold a JSON object"))),
            },
        }
    }
    if let Some(inline) = spec_values.get("inline").and_then(Value::as_object) {
        for (k, v) in inline {
            values.insert(k.clone(), v.clone());
        }
    }
    values
}

fn read_json(path: &Path) -> Result<Value, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("invalid JSON: {e}"))
}

/// Replace `${name}` in every string under `value` (`$${` is a literal `${`). A string that is
/// exactly `${name}` takes the value's own type (a list of subnets stays a list).
fn substitute(
    value: &mut Value,
    path: &str,
    values: &BTreeMap<String, Value>,
    origins: &Origins,
    diags: &mut Vec<Diagnostic>,
) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute(item, &format!("{path}[{i}]"), values, origins, diags);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                substitute(v, &child, values, origins, diags);
            }
        }
        Value::String(s) if s.contains("${") => match interpolate(s, values) {
            Ok(new) => *value = new,
            Err(message) => diags.push(origins.diagnostic(path, message)),
        },
        _ => {}
    }
}

fn interpolate(text: &str, values: &BTreeMap<String, Value>) -> Result<Value, String> {
    let lookup = |name: &str| -> Result<&Value, String> {
        match values.get(name) {
            Some(Value::Null) => Err(format!(
                "value `{name}` is sensitive or null and cannot be substituted"
            )),
            Some(v) => Ok(v),
            None => Err(format!(
                "no value for `${{{name}}}`: define it in the Environment's spec.values.inline or its fromFile"
            )),
        }
    };
    if let Some(name) = text.strip_prefix("${").and_then(|r| r.strip_suffix('}'))
        && is_name(name)
    {
        return lookup(name).cloned();
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
            let name = &after[..end];
            if !is_name(name) {
                return Err(format!(
                    "`${{{name}}}` is not a value name (letters, digits, _ and -)"
                ));
            }
            match lookup(name)? {
                Value::String(s) => out.push_str(s),
                Value::Number(n) => out.push_str(&n.to_string()),
                Value::Bool(b) => out.push_str(&b.to_string()),
                _ => {
                    return Err(format!(
                        "value `{name}` is a list or map; use it as the whole field: \"${{{name}}}\""
                    ));
                }
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Apply the Environment's JSON merge patches to the resource documents they target.
fn apply_patches(
    env: &Loaded<EnvironmentSpec>,
    env_doc: &RawDoc,
    docs: &mut [RawDoc],
    diags: &mut Vec<Diagnostic>,
) {
    for (i, patch) in env.spec.patches.iter().enumerate() {
        let field = format!("spec.patches[{i}]");
        let Some(doc) = docs
            .iter_mut()
            .find(|d| d.kind == patch.target.kind && d.name == patch.target.name)
        else {
            diags.push(env_doc.origins.diagnostic(
                &format!("{field}.target"),
                format!(
                    "no {} named `{}` among this environment's resources",
                    patch.target.kind, patch.target.name
                ),
            ));
            continue;
        };
        if patch.merge.pointer("/kind").is_some()
            || patch.merge.pointer("/metadata/name").is_some()
            || patch.merge.pointer("/apiVersion").is_some()
        {
            diags.push(env_doc.origins.diagnostic(
                &format!("{field}.merge"),
                "a patch cannot change apiVersion, kind or metadata.name",
            ));
            continue;
        }
        json_patch::merge(&mut doc.value, &patch.merge);
        // Patched fields now come from the environment's file.
        let mut leaves = Vec::new();
        leaf_paths(&patch.merge, "", &mut leaves);
        for leaf in leaves {
            let (file, line) = env_doc.origins.find(&format!("{field}.merge.{leaf}"));
            doc.origins.lines.retain(|p, _| {
                !(p == &leaf
                    || p.starts_with(&format!("{leaf}."))
                    || p.starts_with(&format!("{leaf}[")))
            });
            doc.origins.lines.insert(leaf, (file, line));
        }
    }
}

fn leaf_paths(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaf_paths(v, &child, out);
            }
        }
        _ => out.push(path.to_owned()),
    }
}

/// Whether `rel` stays below its base without `..` (used for local working folders).
pub fn is_plain_relative(rel: &str) -> bool {
    Path::new(rel)
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}
