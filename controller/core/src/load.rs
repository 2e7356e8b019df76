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
use crate::printable::{escape, quote, redact};
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

/// One line, always: control characters escaped and credentials masked in every part, since
/// file names, field paths and messages all carry text a manifest author chose.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let safe = |text: &str| escape(&redact(text)).into_owned();
        write!(f, "{}", safe(&self.file.to_string_lossy()))?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {}", safe(field))?;
        }
        write!(f, ": {}", safe(&self.message))
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
    /// Field paths whose value came from a `${…}` substitution (never quoted in messages).
    substituted: BTreeSet<String>,
}

impl Default for Origins {
    fn default() -> Self {
        Self {
            file: Arc::from(Path::new("")),
            lines: BTreeMap::new(),
            substituted: BTreeSet::new(),
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
            substituted: BTreeSet::new(),
        }
    }

    /// Keep only the resource's file (its line, and every field's, is forgotten).
    fn forget_lines(&mut self) {
        self.lines.clear();
        self.substituted.clear();
    }

    /// Whether the value at `path` (or a field holding it) came from a `${…}` substitution.
    pub fn is_substituted(&self, path: &str) -> bool {
        self.substituted.iter().any(|s| is_within(path, s))
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

    /// The same origins seen from another place: every field under `from` appears under `to`
    /// as well (so that a part of a resource can be checked with the rules of a whole one,
    /// keeping its real lines).
    pub fn rebased(&self, from: &str, to: &str) -> Self {
        let mut out = self.clone();
        for (path, at) in &self.lines {
            if let Some(rest) = path.strip_prefix(from)
                && (rest.is_empty() || rest.starts_with(['.', '[']))
            {
                out.lines.insert(format!("{to}{rest}"), at.clone());
            }
        }
        for path in &self.substituted {
            if let Some(rest) = path.strip_prefix(from)
                && (rest.is_empty() || rest.starts_with(['.', '[']))
            {
                out.substituted.insert(format!("{to}{rest}"));
            }
        }
        out
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

/// Most nodes one environment may load and expand to: every file it reads plus every `${…}`
/// substitution (a value referenced N times counts N times).
pub const MAX_ENV_NODES: usize = 1_000_000;
/// Most bytes (scalars, keys, field paths) one environment may load and expand to.
pub const MAX_ENV_BYTES: usize = 64 * 1024 * 1024;
/// Most manifest files one load reads.
pub const MAX_FILES: usize = 20_000;
/// Deepest folder nesting walked below a resources folder.
pub const MAX_FOLDER_DEPTH: usize = 32;

/// Resources whose documents failed before validation: rules that refer to them are skipped,
/// so one root error does not come with a cascade of follow-on errors.
#[derive(Debug, Default, Clone)]
pub struct Broken {
    /// Some file could not be read or parsed: anything may be missing.
    pub all: bool,
    /// `(kind, name)` of documents that were read but failed their header or types.
    pub names: BTreeSet<(String, String)>,
}

impl Broken {
    /// Whether a resource of `kind` named `name` may be missing because of an earlier error.
    pub fn covers(&self, kind: &str, name: &str) -> bool {
        self.all || self.names.contains(&(kind.to_owned(), name.to_owned()))
    }

    /// Whether any resource of `kind` failed.
    pub fn any(&self, kind: &str) -> bool {
        self.all || self.names.iter().any(|(k, _)| k == kind)
    }
}

/// What one load has read, spent and found wrong so far.
struct Reader<'a> {
    root: &'a Path,
    diags: Vec<Diagnostic>,
    broken: Broken,
    nodes: usize,
    bytes: usize,
    files: usize,
    /// Set once a budget is exceeded: nothing more is read or expanded.
    exhausted: bool,
    /// Canonical folders already walked, with the path they were first reached by.
    walked: BTreeMap<PathBuf, PathBuf>,
    /// Keep parsed documents (false while only discovering environments).
    keep: bool,
    /// `(file, kind)` of every valid document, when documents are not kept.
    found: Vec<(PathBuf, String)>,
}

impl<'a> Reader<'a> {
    fn new(root: &'a Path) -> Self {
        Self {
            root,
            diags: Vec::new(),
            broken: Broken::default(),
            nodes: 0,
            bytes: 0,
            files: 0,
            exhausted: false,
            walked: BTreeMap::new(),
            keep: true,
            found: Vec::new(),
        }
    }

    fn file_error(&mut self, path: &Path, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            file: relative(self.root, path),
            line: 0,
            field: None,
            message: message.into(),
        });
    }

    /// Spend from the environment's budget; false (with one error at `file`) once exceeded.
    fn spend(&mut self, nodes: usize, bytes: usize, at: impl FnOnce() -> Diagnostic) -> bool {
        if self.exhausted {
            return false;
        }
        self.nodes = self.nodes.saturating_add(nodes);
        self.bytes = self.bytes.saturating_add(bytes);
        if self.nodes <= MAX_ENV_NODES && self.bytes <= MAX_ENV_BYTES {
            return true;
        }
        self.exhausted = true;
        self.broken.all = true;
        let mut d = at();
        let limit = if self.nodes > MAX_ENV_NODES {
            format!("{MAX_ENV_NODES} nodes")
        } else {
            format!("{} MiB", MAX_ENV_BYTES / (1024 * 1024))
        };
        d.message = format!(
            "{}: the environment would hold more than {limit} (files read plus `${{…}}` values expanded); refusing it",
            d.message
        );
        self.diags.push(d);
        false
    }

    /// Documents of every `*.yaml`/`*.yml` file in `dir` (and below, when `recursive`), sorted
    /// by path.
    fn read_folder(&mut self, dir: &Path, recursive: bool) -> Vec<RawDoc> {
        let mut files = Vec::new();
        if recursive {
            let Ok(canonical) = dir.canonicalize() else {
                self.file_error(dir, "cannot open this folder");
                return Vec::new();
            };
            if self.walked.contains_key(&canonical) {
                return Vec::new();
            }
            self.walked
                .insert(canonical.clone(), relative(self.root, dir));
            self.walk(dir, recursive, &mut vec![canonical], &mut files);
        } else {
            self.walk(dir, recursive, &mut Vec::new(), &mut files);
        }
        files.sort();
        let mut docs = Vec::new();
        for f in &files {
            docs.extend(self.read_file(f));
        }
        docs
    }

    /// Collect manifest files below `dir` without ever opening anything but folders: links are
    /// resolved with `stat`, loops and folders reached twice are refused, and FIFOs, sockets
    /// and devices are refused by their type.
    fn walk(
        &mut self,
        dir: &Path,
        recursive: bool,
        ancestors: &mut Vec<PathBuf>,
        out: &mut Vec<PathBuf>,
    ) {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                self.file_error(dir, format!("cannot read this folder: {e}"));
                return;
            }
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            if self.exhausted {
                return;
            }
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let Ok(own_type) = entry.file_type() else {
                self.file_error(&path, "cannot read its type");
                continue;
            };
            let file_type = if own_type.is_symlink() {
                match std::fs::metadata(&path) {
                    Ok(m) => m.file_type(),
                    Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                        self.file_error(&path, "a symbolic link that loops; refusing it");
                        continue;
                    }
                    Err(e) => {
                        self.file_error(&path, format!("a broken symbolic link: {e}"));
                        continue;
                    }
                }
            } else {
                own_type
            };
            if file_type.is_dir() {
                if recursive {
                    self.enter(&path, ancestors, out);
                }
            } else if file_type.is_file() {
                if is_manifest_name(&path) {
                    self.files += 1;
                    if self.files > MAX_FILES {
                        self.exhausted = true;
                        self.broken.all = true;
                        self.file_error(
                            &path,
                            format!("more than {MAX_FILES} manifest files; refusing the rest"),
                        );
                        return;
                    }
                    out.push(path);
                }
            } else {
                self.file_error(&path, special_file_message(file_type));
            }
        }
    }

    /// Walk into a sub-folder (possibly reached through a link) unless that loops, leaves the
    /// manifests folder or reads a folder a second time.
    fn enter(&mut self, path: &Path, ancestors: &mut Vec<PathBuf>, out: &mut Vec<PathBuf>) {
        let Ok(canonical) = path.canonicalize() else {
            self.file_error(path, "cannot open this folder");
            return;
        };
        if !canonical.starts_with(self.root) {
            self.file_error(
                path,
                "links outside the manifests folder; refusing to follow it",
            );
            return;
        }
        if ancestors.iter().any(|a| a.starts_with(&canonical)) {
            let target = relative(self.root, &canonical);
            let target = if target.as_os_str().is_empty() {
                "the manifests folder".to_owned()
            } else {
                format!("`{}`", target.display())
            };
            self.file_error(
                path,
                format!(
                    "links back to {target}, a folder that contains it (a loop); refusing to follow it"
                ),
            );
            return;
        }
        if let Some(first) = self.walked.get(&canonical) {
            let first = first.clone();
            self.file_error(
                path,
                format!(
                    "is the same folder as `{}`, already read; a folder is read once",
                    first.display()
                ),
            );
            return;
        }
        if ancestors.len() >= MAX_FOLDER_DEPTH {
            self.file_error(
                path,
                format!("folders nested deeper than {MAX_FOLDER_DEPTH} levels; refusing it"),
            );
            return;
        }
        self.walked
            .insert(canonical.clone(), relative(self.root, path));
        ancestors.push(canonical);
        self.walk(path, true, ancestors, out);
        ancestors.pop();
    }

    fn read_file(&mut self, path: &Path) -> Vec<RawDoc> {
        if self.exhausted {
            return Vec::new();
        }
        let rel = relative(self.root, path);
        match path.canonicalize() {
            Ok(real) if real.starts_with(self.root) => {}
            _ => {
                self.broken.all = true;
                self.file_error(
                    path,
                    "links outside the manifests folder; refusing to read it",
                );
                return Vec::new();
            }
        }
        let bytes = match read_regular(path) {
            Ok(b) => b,
            Err(message) => {
                self.broken.all = true;
                self.file_error(path, message);
                return Vec::new();
            }
        };
        let docs = match yaml::parse_bytes(&bytes) {
            Ok(d) => d,
            Err(e) => {
                self.broken.all = true;
                self.diags.push(Diagnostic {
                    file: rel,
                    line: e.line,
                    field: None,
                    message: format!("invalid YAML: {}", e.message),
                });
                return Vec::new();
            }
        };
        if !self.keep {
            for doc in docs {
                if let Some(raw) = header(&rel, doc, &mut self.diags, &mut self.broken) {
                    self.found.push((rel.clone(), raw.kind));
                }
            }
            return Vec::new();
        }
        let nodes = docs.iter().map(|d| d.nodes).sum();
        let size = docs.iter().map(|d| d.bytes).sum();
        let first_line = docs.first().map_or(1, |d| d.start_line.max(1));
        if !self.spend(nodes, size, || Diagnostic {
            file: rel.clone(),
            line: first_line,
            field: None,
            message: "this file".into(),
        }) {
            return Vec::new();
        }
        docs.into_iter()
            .filter_map(|doc| header(&rel, doc, &mut self.diags, &mut self.broken))
            .collect()
    }
}

/// Whether a file is read as a manifest (`*.yaml`, `*.yml`, in any case).
fn is_manifest_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

fn special_file_message(file_type: std::fs::FileType) -> String {
    use std::os::unix::fs::FileTypeExt;
    let what = if file_type.is_fifo() {
        "a named pipe (FIFO)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_char_device() {
        "a character device"
    } else {
        "not a regular file"
    };
    format!("{what}; manifests are regular files, so it is refused without being opened")
}

/// The bytes of a regular file of at most [`MAX_FILE_BYTES`]: its type is checked with `stat`
/// before it is opened (a FIFO or device is never opened), and again on the open handle, which
/// is opened non-blocking so a file swapped for a FIFO in between cannot block the read.
fn read_regular(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err(if meta.is_dir() {
            "a folder where a file was expected".into()
        } else {
            special_file_message(meta.file_type())
        });
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "larger than {MAX_FILE_BYTES} bytes; refusing to read it"
        ));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| format!("cannot read: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err(special_file_message(meta.file_type()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "larger than {MAX_FILE_BYTES} bytes; refusing to read it"
        ));
    }
    Ok(bytes)
}

/// What a manifests folder holds: its environments, and every problem found in any of its
/// files (a file that does not parse, a document with a bad header, a FIFO, a link loop…),
/// so that nothing is silently skipped, even where no environment reads it.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Folders directly under the root that hold a document of kind `Environment`.
    pub environments: Vec<String>,
    /// Problems in any file under the root, sorted.
    pub problems: Vec<Diagnostic>,
}

/// Walk the whole manifests folder: environments and problems (see [`Discovery`]).
pub fn discover(root: &Path) -> Result<Discovery, Diagnostics> {
    let root = &root
        .canonicalize()
        .map_err(|e| single(root, format!("cannot open the manifests folder: {e}")))?;
    if !root.is_dir() {
        return Err(single(root, "the manifests folder is not a folder".into()));
    }
    let mut reader = Reader::new(root);
    reader.keep = false;
    reader.read_folder(root, true);
    let mut environments = BTreeSet::new();
    for (file, kind) in &reader.found {
        let mut parts = file.components();
        if kind == "Environment"
            && let (Some(Component::Normal(folder)), Some(_), None) =
                (parts.next(), parts.next(), parts.next())
        {
            environments.insert(folder.to_string_lossy().into_owned());
        }
    }
    let mut problems = reader.diags;
    problems.sort();
    problems.dedup();
    Ok(Discovery {
        environments: environments.into_iter().collect(),
        problems,
    })
}

/// Names of the environments under `root`: folders holding a document of kind `Environment`.
pub fn discover_environments(root: &Path) -> Result<Vec<String>, Diagnostics> {
    discover(root).map(|d| d.environments)
}

fn single(file: &Path, message: String) -> Diagnostics {
    Diagnostics(vec![Diagnostic {
        file: file.to_path_buf(),
        line: 0,
        field: None,
        message,
    }])
}

/// Whether `name` can name an environment: it goes into task families (`{env}-{service}`),
/// the `ferry.dev/environment` tag and folder names, so letters, digits, `-` and `_`, starting
/// with a letter or digit, short enough to leave room for a service name.
pub fn is_environment_name(name: &str) -> bool {
    (1..=MAX_ENVIRONMENT_NAME).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Longest environment name: `{env}-x` must fit ECS's 255 characters of a task family.
pub const MAX_ENVIRONMENT_NAME: usize = 253;

/// An environment as read and typed, before the rules of `validate`: its state, the
/// documents that already failed (their rules would only repeat the error), and the errors.
pub type ReadEnvironment = (DesiredState, Broken, Vec<Diagnostic>);

/// Read environment `env` from the manifests folder `root`: files, overlays, patches, values
/// and types. The rules come after (`validate::load_environment` does both).
pub fn read_environment(root: &Path, env: &str) -> Result<ReadEnvironment, Diagnostics> {
    let root = root
        .canonicalize()
        .map_err(|e| single(root, format!("cannot open the manifests folder: {e}")))?;
    let env_dir = root.join(env);
    if env.is_empty() || env.contains(['/', '\\']) || env.starts_with('.') || !env_dir.is_dir() {
        return Err(single(
            Path::new(env),
            format!("no environment folder {} in the manifests", quote(env)),
        ));
    }
    let mut r = Reader::new(&root);

    // Stage 1: the environment's own documents.
    let own = r.read_folder(&env_dir, false);
    let (env_docs, mut resource_docs): (Vec<RawDoc>, Vec<RawDoc>) =
        own.into_iter().partition(|d| d.kind == "Environment");
    let env_doc = match env_docs.as_slice() {
        [one] => one.clone(),
        [] => {
            // A broken file in the folder is the reason; do not add a second error for it.
            let own_folder_failed = r.diags.iter().any(|d| d.file.starts_with(env));
            if !own_folder_failed {
                r.diags.push(Diagnostic {
                    file: PathBuf::from(env),
                    line: 0,
                    field: None,
                    message: "no document of kind Environment in this folder".into(),
                });
            }
            return Err(finish(r.diags));
        }
        [first, rest @ ..] => {
            for extra in rest {
                r.diags.push(extra.origins.diagnostic(
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
        r.diags.push(env_doc.origins.diagnostic(
            "metadata.name",
            format!(
                "the Environment in folder {} must be named the same, not {}",
                quote(env),
                quote(&env_doc.name)
            ),
        ));
    } else if !is_environment_name(env) {
        r.diags.push(env_doc.origins.diagnostic(
            "metadata.name",
            format!(
                "environment name {} must be 1-{MAX_ENVIRONMENT_NAME} letters, digits, - or _, starting with a letter or digit (it is part of task family names and tags)",
                quote(env)
            ),
        ));
    }

    // Values first: the Environment itself may use them (cluster, network...).
    let values = read_values(&mut r, &env_dir, &env_doc);
    let mut env_value = env_doc.value.clone();
    let mut env_origins = env_doc.origins.clone();
    if let Some(spec) = env_value.get_mut("spec").and_then(Value::as_object_mut) {
        // `values` is never substituted; patches' `merge` is substituted once, inside the
        // resource it is merged into (stage 3), never here as well.
        let kept_values = spec.remove("values");
        let mut merges = Vec::new();
        if let Some(Value::Array(patches)) = spec.get_mut("patches") {
            for patch in patches.iter_mut() {
                merges.push(patch.as_object_mut().and_then(|p| p.remove("merge")));
            }
        }
        let mut spec_value = Value::Object(std::mem::take(spec));
        let mut sub = Substitution::new(&values, &mut env_origins);
        sub.run(&mut spec_value, "spec", &mut r);
        if let Value::Object(mut m) = spec_value {
            if let Some(v) = kept_values {
                m.insert("values".into(), v);
            }
            if let Some(Value::Array(patches)) = m.get_mut("patches") {
                for (patch, merge) in patches.iter_mut().zip(merges) {
                    if let (Some(p), Some(merge)) = (patch.as_object_mut(), merge) {
                        p.insert("merge".into(), merge);
                    }
                }
            }
            *spec = m;
        }
    }
    let env_raw = RawDoc {
        origins: env_origins,
        ..env_doc.clone()
    };
    let environment = typed::<EnvironmentSpec>(&env_value, &env_raw, &mut r.diags);

    // Stage 2: resources from the folders the Environment names.
    if let Some(env_spec) = &environment {
        let mut seen_files = BTreeSet::new();
        for (i, rel) in env_spec.spec.resources.iter().enumerate() {
            let field = format!("spec.resources[{i}]");
            let Some(target) = inside_root(&root, &env_dir, rel) else {
                r.broken.all = true;
                r.diags.push(env_doc.origins.diagnostic(&field, format!(
                    "{} is outside the manifests folder (or does not exist); resources must stay inside it",
                    quote(rel)
                )));
                continue;
            };
            if !seen_files.insert(target.clone()) {
                continue;
            }
            if target.is_dir() {
                let docs = r.read_folder(&target, true);
                resource_docs.extend(docs);
            } else {
                let docs = r.read_file(&target);
                resource_docs.extend(docs);
            }
        }
        for doc in &resource_docs {
            if doc.kind == "Environment" {
                r.diags.push(doc.origins.diagnostic(
                    "kind",
                    "an Environment cannot be a resource of another environment",
                ));
            }
        }
        resource_docs.retain(|d| d.kind != "Environment");

        apply_patches(env_spec, &env_doc, &mut resource_docs, &mut r);
    }

    // Stage 3: values into resources (one pass, patches included), then types.
    let mut services = BTreeMap::new();
    let mut repositories = BTreeMap::new();
    for mut doc in resource_docs {
        let mut value = std::mem::take(&mut doc.value);
        let mut sub = Substitution::new(&values, &mut doc.origins);
        sub.run(&mut value, "", &mut r);
        let failed = sub.failed;
        if r.exhausted {
            // Over budget: that one error is the answer; typing half-expanded documents
            // would only add noise.
            return Err(finish(r.diags));
        }
        let duplicate = |first: &Origins, doc: &RawDoc| {
            doc.origins.diagnostic(
                "metadata.name",
                format!(
                    "duplicate {} {} (also in {}:{})",
                    doc.kind,
                    quote(&doc.name),
                    first.file.display(),
                    first.locate("metadata.name").1
                ),
            )
        };
        let mut diags = Vec::new();
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
        // A field whose `${…}` failed is already reported; its type error would only repeat it.
        diags.retain(|d| {
            !failed
                .iter()
                .any(|f| d.field.as_deref().is_some_and(|field| is_within(field, f)))
        });
        if !failed.is_empty() || !diags.is_empty() {
            r.broken.names.insert((doc.kind.clone(), doc.name.clone()));
        }
        r.diags.extend(diags);
    }

    let Some(environment) = environment else {
        return Err(finish(r.diags));
    };
    let state = DesiredState {
        env: env.to_owned(),
        environment,
        services,
        repositories,
    };
    Ok((state, r.broken, r.diags))
}

/// Whether field path `path` is `ancestor` or below it.
pub fn is_within(path: &str, ancestor: &str) -> bool {
    path == ancestor
        || path
            .strip_prefix(ancestor)
            .is_some_and(|rest| rest.starts_with(['.', '[']))
}

/// The errors of a load, sorted and deduplicated, as one value.
pub fn finish(mut diags: Vec<Diagnostic>) -> Diagnostics {
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
/// Check `apiVersion`, `kind`, `metadata` of a document and keep it with its identity.
/// A document that fails here is remembered in `broken` (when its kind and name are readable).
fn header(
    file: &Path,
    doc: Document,
    diags: &mut Vec<Diagnostic>,
    broken: &mut Broken,
) -> Option<RawDoc> {
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
                format!(
                    "unknown field {}; expected apiVersion, kind, metadata, spec",
                    quote(key)
                ),
            );
        }
    }
    match object.get("apiVersion").and_then(Value::as_str) {
        Some(API_VERSION) => {}
        Some(other) => fail(
            "apiVersion",
            format!(
                "unsupported apiVersion {}; expected `{API_VERSION}`",
                quote(other)
            ),
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
                "unknown kind {}; expected one of {}",
                quote(&kind),
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
                    format!(
                        "unknown field {}; expected name, labels, annotations",
                        quote(key)
                    ),
                );
            }
        }
    }
    if object.get("spec").is_none_or(|s| !s.is_object()) {
        fail("spec", "missing spec (a mapping)".into());
    }
    if !ok && !kind.is_empty() && !name.is_empty() {
        broken.names.insert((kind.clone(), name.clone()));
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
            // serde reports an unknown or missing field at its parent; name the field itself
            // (a field a patch removed then points at the patch).
            if let Some(field) = inner
                .strip_prefix("unknown field `")
                .or_else(|| inner.strip_prefix("missing field `"))
                .and_then(|r| r.split('`').next())
                && !path.ends_with(&format!(".{field}"))
            {
                path = format!("{path}.{field}");
            }
            let message = type_message(&inner, doc.origins.is_substituted(&path));
            diags.push(doc.origins.diagnostic(&path, message));
            None
        }
    }
}

/// A serde type error without the value it was given (which may be a credential or a
/// substituted `${…}` value): the user has the file and line.
fn type_message(inner: &str, substituted: bool) -> String {
    static STRING: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(invalid (?:type|value|length): )string "(?:[^"\\]|\\.)*""#).ok()
    });
    static QUOTED: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(unknown variant |invalid value: [a-z ]+ )`([^`]*)`").ok()
    });
    let mut out = match STRING.as_ref() {
        Some(re) => re.replace_all(inner, "${1}a string").into_owned(),
        None => inner.to_owned(),
    };
    if let Some(re) = QUOTED.as_ref() {
        out = re
            .replace_all(&out, |c: &regex::Captures<'_>| {
                let value = c.get(2).map_or("", |m| m.as_str());
                let prefix = c.get(1).map_or("", |m| m.as_str());
                if substituted {
                    format!("{prefix}{}", crate::printable::HIDDEN)
                } else {
                    format!("{prefix}{}", quote(value))
                }
            })
            .into_owned();
    }
    out
}

/// Values from `spec.values` (inline wins over `fromFile`).
fn read_values(r: &mut Reader<'_>, env_dir: &Path, env_doc: &RawDoc) -> BTreeMap<String, Value> {
    let mut values = BTreeMap::new();
    let Some(spec_values) = env_doc.value.pointer("/spec/values") else {
        return values;
    };
    if let Some(rel) = spec_values.get("fromFile").and_then(Value::as_str) {
        let field = "spec.values.fromFile";
        let shown = quote(rel);
        match inside_root(r.root, env_dir, rel) {
            None => r.diags.push(env_doc.origins.diagnostic(field, format!(
                "{shown} is outside the manifests folder or does not exist (write `terraform output -json > FILE`)"
            ))),
            Some(path) => match read_regular(&path).and_then(|bytes| {
                serde_json::from_slice::<Value>(&bytes).map_err(|e| format!("invalid JSON: {e}"))
            }) {
                Err(message) => r.diags.push(env_doc.origins.diagnostic(field, format!("{shown}: {message}"))),
                Ok(Value::Object(map)) => {
                    let (nodes, bytes) = size_of(&Value::Object(map.clone()));
                    if !r.spend(nodes, bytes, || env_doc.origins.diagnostic(field, shown.clone())) {
                        return values;
                    }
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
                Ok(_) => r.diags.push(env_doc.origins.diagnostic(field, format!("{shown} must hold a JSON object"))),
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

/// Nodes and bytes of a JSON value, counted as the YAML reader counts them.
fn size_of(value: &Value) -> (usize, usize) {
    match value {
        Value::Array(items) => items.iter().fold((1, 0), |(n, b), v| {
            let (vn, vb) = size_of(v);
            (n + vn, b + vb)
        }),
        Value::Object(map) => map.iter().fold((1, 0), |(n, b), (k, v)| {
            let (vn, vb) = size_of(v);
            (n + vn, b + vb + k.len())
        }),
        Value::String(s) => (1, s.len()),
        _ => (1, 8),
    }
}

/// One substitution pass over one document: `${name}` replaced in every string (`$${` is a
/// literal `${`). A string that is exactly `${name}` takes the value's own type (a list of
/// subnets stays a list). What it expands is charged to the environment's budget.
struct Substitution<'v, 'o> {
    values: &'v BTreeMap<String, Value>,
    origins: &'o mut Origins,
    /// Field paths whose substitution failed (already reported).
    failed: Vec<String>,
}

impl<'v, 'o> Substitution<'v, 'o> {
    fn new(values: &'v BTreeMap<String, Value>, origins: &'o mut Origins) -> Self {
        Self {
            values,
            origins,
            failed: Vec::new(),
        }
    }

    fn run(&mut self, value: &mut Value, path: &str, r: &mut Reader<'_>) {
        if r.exhausted {
            return;
        }
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.run(item, &format!("{path}[{i}]"), r);
                }
            }
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    let child = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    self.run(v, &child, r);
                }
            }
            Value::String(s) if s.contains("${") => {
                match interpolate(s, self.values, MAX_ENV_BYTES.saturating_sub(r.bytes)) {
                    Ok(new) => {
                        let (nodes, bytes) = size_of(&new);
                        let origins = &*self.origins;
                        if r.spend(nodes, bytes, || {
                            origins.diagnostic(path, "substituting here")
                        }) {
                            *value = new;
                            self.origins.substituted.insert(path.to_owned());
                        } else {
                            self.failed.push(path.to_owned());
                        }
                    }
                    Err(message) => {
                        r.diags.push(self.origins.diagnostic(path, message));
                        self.failed.push(path.to_owned());
                    }
                }
            }
            _ => {}
        }
    }
}

/// `text` with its `${…}` replaced; a string growing past `max_len` bytes is refused before
/// it is built.
fn interpolate(
    text: &str,
    values: &BTreeMap<String, Value>,
    max_len: usize,
) -> Result<Value, String> {
    let lookup = |name: &str| -> Result<&Value, String> {
        match values.get(name) {
            Some(Value::Null) => Err(format!(
                "value {} is sensitive or null and cannot be substituted",
                reference(name)
            )),
            Some(v) => Ok(v),
            None => Err(format!(
                "no value for {}: define it in the Environment's spec.values.inline or its fromFile",
                reference(name)
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
                .ok_or("unclosed `${` (write `$${` for a literal `${`)")?;
            let name = &after[..end];
            if !is_name(name) {
                return Err(format!(
                    "{} is not a value name (letters, digits, _ and -); write `$${{` for a literal `${{`",
                    quote(name)
                ));
            }
            let piece = match lookup(name)? {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(format!(
                        "value {} is a list or map; use it as the whole field",
                        reference(name)
                    ));
                }
            };
            if out.len() + piece.len() > max_len {
                return Err(format!(
                    "substituting values here would make the environment larger than {} MiB; refusing it",
                    MAX_ENV_BYTES / (1024 * 1024)
                ));
            }
            out.push_str(&piece);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

/// `` `${name}` `` for a message, unless the name itself looks like a credential.
fn reference(name: &str) -> String {
    if crate::printable::secret_kind(name).is_none() && is_name(name) {
        format!("`${{{name}}}`")
    } else {
        crate::printable::HIDDEN.to_owned()
    }
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Apply the Environment's JSON merge patches to the resource documents they target. Fields a
/// patch writes (and everything below them) now come from the patch's lines.
fn apply_patches(
    env: &Loaded<EnvironmentSpec>,
    env_doc: &RawDoc,
    docs: &mut [RawDoc],
    r: &mut Reader<'_>,
) {
    for (i, patch) in env.spec.patches.iter().enumerate() {
        let field = format!("spec.patches[{i}]");
        let merge_field = format!("{field}.merge");
        if !patch.merge.is_object() {
            r.diags.push(env_doc.origins.diagnostic(
                &merge_field,
                "a patch's merge must be a mapping (a JSON merge patch of the resource document, e.g. {spec: {desiredCount: 1}})",
            ));
            continue;
        }
        let Some(doc) = docs
            .iter_mut()
            .find(|d| d.kind == patch.target.kind && d.name == patch.target.name)
        else {
            if !r.broken.covers(&patch.target.kind, &patch.target.name) {
                r.diags.push(env_doc.origins.diagnostic(
                    &format!("{field}.target"),
                    format!(
                        "no {} named {} among this environment's resources",
                        patch.target.kind,
                        quote(&patch.target.name)
                    ),
                ));
            }
            continue;
        };
        let metadata = patch.merge.get("metadata");
        if patch.merge.get("kind").is_some()
            || patch.merge.get("apiVersion").is_some()
            || metadata.is_some_and(|m| !m.is_object() || m.get("name").is_some())
        {
            r.diags.push(env_doc.origins.diagnostic(
                &merge_field,
                "a patch cannot change apiVersion, kind or metadata.name",
            ));
            continue;
        }
        json_patch::merge(&mut doc.value, &patch.merge);
        let mut leaves = Vec::new();
        leaf_paths(&patch.merge, "", &mut leaves);
        leaves.retain(|leaf| !leaf.is_empty());
        for leaf in &leaves {
            doc.origins.lines.retain(|p, _| !is_within(p, leaf));
        }
        let prefix = format!("{merge_field}.");
        for (p, origin) in env_doc.origins.lines.range(prefix.clone()..) {
            let Some(own) = p.strip_prefix(&prefix) else {
                break;
            };
            doc.origins.lines.insert(own.to_owned(), origin.clone());
        }
        for leaf in leaves {
            let origin = env_doc.origins.find(&format!("{merge_field}.{leaf}"));
            doc.origins.lines.entry(leaf).or_insert(origin);
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

/// Whether `rel` stays below its base: relative, without `..` (local working folders and
/// commands stay inside the repository).
pub fn is_plain_relative(rel: &str) -> bool {
    !rel.is_empty()
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}
