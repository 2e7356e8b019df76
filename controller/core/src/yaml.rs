//! Multi-document YAML to JSON values, remembering the line of every node so that any later
//! error (type, unknown field, validation rule) can say `file:line`.
//!
//! Anchors and aliases are expanded here under a budget per file (nodes and bytes over every
//! document of the file), so a "billion laughs" file, split across documents or not, fails
//! fast instead of exhausting memory. Scalars follow the YAML 1.2 core schema; the core
//! schema's own tags (`!!str`, `!!int`…) are honoured and every other tag (`!Ref`,
//! `!!python/…`, `!!binary`) is refused rather than dropped. Input is bytes: a leading
//! byte-order mark is accepted, invalid UTF-8 and raw control characters are refused at their
//! line.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Most nodes one file may expand to, over all its documents (aliases included).
pub const MAX_NODES: usize = 100_000;
/// Most bytes one file may expand to (scalars, keys and field paths, aliases included).
pub const MAX_BYTES: usize = 16 * 1024 * 1024;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;

/// One parsed YAML document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The document as JSON.
    pub value: Value,
    /// Line (1-based) of each node, by path (`spec.containers[0].image`; the root is `""`).
    pub lines: BTreeMap<String, usize>,
    /// Line where the document starts.
    pub start_line: usize,
    /// Nodes the document expanded to (aliases included).
    pub nodes: usize,
    /// Bytes of scalars, keys and field paths the document expanded to.
    pub bytes: usize,
}

impl Document {
    /// The line of `path`, or of its nearest ancestor that has one.
    pub fn line_of(&self, path: &str) -> usize {
        let mut p = path;
        loop {
            if let Some(line) = self.lines.get(p) {
                return *line;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return self.lines.get("").copied().unwrap_or(self.start_line),
            }
        }
    }
}

/// A YAML syntax or limit error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct YamlError {
    /// Line (1-based).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parse every document of a file's bytes: a leading byte-order mark is skipped, invalid
/// UTF-8 is an error at the line of the first bad byte.
pub fn parse_bytes(bytes: &[u8]) -> Result<Vec<Document>, YamlError> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = 1 + good.iter().filter(|b| **b == b'\n').count();
        let column = 1 + good.iter().rev().take_while(|b| **b != b'\n').count();
        let bad = bytes.get(e.valid_up_to()).copied().unwrap_or(0);
        YamlError {
            line,
            message: format!(
                "not valid UTF-8 (byte 0x{bad:02x} at column {column}); manifests must be UTF-8 text"
            ),
        }
    })?;
    parse_documents(text)
}

/// Parse every document of `text`. Empty documents (e.g. a trailing `---`) are skipped.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, YamlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    check_characters(text)?;
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    // An error found at the end of the stream is reported on the last line of the file.
    let last_line = text.lines().count().max(1);
    parser.load(&mut builder, true).map_err(|e| {
        let line = e.marker().line().clamp(1, last_line);
        let info = e.info();
        // A flow collection or quoted string left open is noticed lines later, where the
        // parser gives up: point at where it was opened, and say where the parser stopped.
        match unclosed_opener(text, line) {
            Some((at, what)) => YamlError {
                line: at,
                message: format!(
                    "{what} opened here is never closed (the parser stopped at line {line}: {info})"
                ),
            },
            None => YamlError {
                line,
                message: info.to_owned(),
            },
        }
    })?;
    if let Some(mut err) = builder.error {
        err.line = err.line.clamp(1, last_line);
        return Err(err);
    }
    Ok(builder
        .docs
        .into_iter()
        .filter(|d| !d.value.is_null())
        .collect())
}

/// The innermost flow collection (`[`, `{`) or quoted string opened before line `before`
/// (1-based) and never closed in the whole text, as (line it was opened on, what it is). A
/// light scan, not a parser: it knows comments, quotes and where a value may start, which is
/// enough to find the opener the parser only notices lines later.
fn unclosed_opener(text: &str, before: usize) -> Option<(usize, &'static str)> {
    // (line, opener, closed) of every opener seen; `open` indexes the ones still open.
    let mut seen: Vec<(usize, char, bool)> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        // Where a value may start: at the line's first character, after `- `, `: `, `? `,
        // and in a flow collection after `[`, `{`, `,`.
        let mut value_start = true;
        let mut previous = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            let top = open.last().map(|i| seen[*i].1);
            match top {
                Some('"') => {
                    if c == '\\' {
                        chars.next();
                    } else if c == '"' {
                        seen[open.pop().unwrap_or_default()].2 = true;
                    }
                    previous = c;
                    continue;
                }
                Some('\'') => {
                    if c == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            seen[open.pop().unwrap_or_default()].2 = true;
                        }
                    }
                    previous = c;
                    continue;
                }
                _ => {}
            }
            match c {
                '#' if previous.is_whitespace() => break,
                '"' | '\'' | '[' | '{' if value_start => {
                    open.push(seen.len());
                    seen.push((number, c, false));
                }
                // Only the matching bracket closes (`${x}` in a sequence closes nothing).
                ']' | '}' if top == Some(if c == ']' { '[' } else { '{' }) => {
                    seen[open.pop().unwrap_or_default()].2 = true;
                }
                _ => {}
            }
            let next_is_space = chars.peek().is_none_or(|n| n.is_whitespace());
            let now_in_flow = matches!(open.last().map(|i| seen[*i].1), Some('[' | '{'));
            value_start = match c {
                ' ' | '\t' => value_start,
                '-' | ':' | '?' => next_is_space,
                '[' | '{' | ',' => now_in_flow,
                _ => false,
            };
            previous = c;
        }
    }
    open.iter()
        .rev()
        .map(|i| seen[*i])
        .find(|(line, _, closed)| !closed && *line < before)
        .map(|(line, c, _)| {
            let what = match c {
                '[' => "the `[` sequence",
                '{' => "the `{` mapping",
                '"' => "the double-quoted string",
                _ => "the single-quoted string",
            };
            (line, what)
        })
}

/// YAML streams hold printable characters only (tab and line breaks aside): a raw escape or
/// NUL byte is refused at its line, so nothing can reach a terminal through a plain scalar.
fn check_characters(text: &str) -> Result<(), YamlError> {
    let bad = |c: char| {
        (c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{85}'))
            || matches!(c, '\u{fffe}' | '\u{ffff}')
    };
    let Some(at) = text.find(bad) else {
        return Ok(());
    };
    let line = 1 + text[..at].matches('\n').count();
    let c = text[at..].chars().next().unwrap_or_default();
    Err(YamlError {
        line,
        message: format!(
            "control character U+{:04X} is not allowed in YAML (write it as an escape in a double-quoted string)",
            u32::from(c)
        ),
    })
}

/// The core schema's tags, as yaml-rust2 resolves `!!x` (an honest `%TAG` cannot change it).
const CORE_TAG_HANDLE: &str = "tag:yaml.org,2002:";

fn tag_name(tag: &Tag) -> String {
    if tag.handle == CORE_TAG_HANDLE {
        format!("!!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

fn refuse_tag(tag: &Tag) -> String {
    let name = tag_name(tag);
    let shown = if name.len() <= 64 && crate::printable::may_show(&name) {
        format!("`{name}`")
    } else {
        "this".to_owned()
    };
    format!(
        "the tag {shown} is not supported: manifests are plain YAML (no language, custom or binary tags)"
    )
}

/// A scalar under an explicit tag, checked against what the tag promises.
fn tagged_scalar(text: String, tag: &Tag) -> Result<Value, String> {
    if tag.handle != CORE_TAG_HANDLE {
        return Err(refuse_tag(tag));
    }
    let resolved = || resolve_plain(&text);
    let ok = match tag.suffix.as_str() {
        "str" => return Ok(Value::String(text)),
        "int" => resolved().is_i64() || resolved().is_u64(),
        "float" => resolved().is_number(),
        "bool" => resolved().is_boolean(),
        "null" => resolved().is_null(),
        _ => return Err(refuse_tag(tag)),
    };
    if ok {
        Ok(resolved())
    } else {
        Err(format!("the value is not a valid `!!{}`", tag.suffix))
    }
}

fn collection_tag(tag: Option<&Tag>, expected: &str) -> Result<(), String> {
    match tag {
        None => Ok(()),
        Some(t) if t.handle == CORE_TAG_HANDLE && t.suffix == expected => Ok(()),
        Some(t) => Err(refuse_tag(t)),
    }
}

enum Frame {
    Seq {
        items: Vec<Value>,
        path: String,
        anchor: usize,
    },
    Map {
        map: Map<String, Value>,
        path: String,
        key: Option<String>,
        /// Line of the pending key: a scalar value's line is its key's (a block scalar's
        /// text starts below it).
        key_line: usize,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    docs: Vec<Document>,
    stack: Vec<Frame>,
    /// Anchored values with the nodes and bytes each expands to.
    anchors: HashMap<usize, (Value, usize, usize)>,
    lines: BTreeMap<String, usize>,
    root: Option<Value>,
    /// Nodes and bytes of the whole file so far.
    nodes: usize,
    bytes: usize,
    /// Nodes and bytes at the start of the current document.
    doc_nodes: usize,
    doc_bytes: usize,
    /// Nodes and bytes at the start of each open collection (what an anchor on it costs).
    open_at: Vec<(usize, usize)>,
    start_line: usize,
    error: Option<YamlError>,
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        if let Err(message) = self.handle(event, mark.line()) {
            self.error = Some(YamlError {
                line: mark.line(),
                message,
            });
        }
    }
}

impl Builder {
    fn handle(&mut self, event: Event, line: usize) -> Result<(), String> {
        match event {
            Event::DocumentStart => {
                self.lines.clear();
                self.anchors.clear();
                self.doc_nodes = self.nodes;
                self.doc_bytes = self.bytes;
                self.root = None;
                self.start_line = line;
            }
            Event::DocumentEnd => {
                self.docs.push(Document {
                    value: self.root.take().unwrap_or(Value::Null),
                    lines: std::mem::take(&mut self.lines),
                    start_line: self.start_line,
                    nodes: self.nodes - self.doc_nodes,
                    bytes: self.bytes - self.doc_bytes,
                });
            }
            Event::Scalar(text, style, anchor, tag) => {
                if let Some(Frame::Map {
                    key: key @ None,
                    map,
                    key_line,
                    ..
                }) = self.stack.last_mut()
                {
                    *key_line = line;
                    if map.contains_key(&text) {
                        return Err(format!("duplicate key {}", crate::printable::quote(&text)));
                    }
                    if let Some(t) = &tag
                        && !(t.handle == CORE_TAG_HANDLE && t.suffix == "str")
                    {
                        return Err(refuse_tag(t));
                    }
                    let len = text.len();
                    *key = Some(text);
                    self.count(0, len)?;
                    return Ok(());
                }
                let path = self.child_path()?;
                self.count(1, text.len() + path.len())?;
                let line = self.value_line(line);
                self.lines.insert(path, line);
                let value = match &tag {
                    Some(t) => tagged_scalar(text, t)?,
                    None if style == TScalarStyle::Plain => resolve_plain(&text),
                    None => Value::String(text),
                };
                if anchor > 0 {
                    let bytes = scalar_bytes(&value);
                    self.anchors.insert(anchor, (value.clone(), 1, bytes));
                }
                self.attach(value);
            }
            Event::SequenceStart(anchor, tag) => {
                collection_tag(tag.as_ref(), "seq")?;
                let path = self.open()?;
                self.lines.insert(path.clone(), line);
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    path,
                    anchor,
                });
            }
            Event::MappingStart(anchor, tag) => {
                collection_tag(tag.as_ref(), "map")?;
                let path = self.open()?;
                self.lines.insert(path.clone(), line);
                self.stack.push(Frame::Map {
                    map: Map::new(),
                    path,
                    key: None,
                    key_line: line,
                    anchor,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, anchor, .. }) => (Value::Array(items), anchor),
                    Some(Frame::Map { map, anchor, .. }) => (Value::Object(map), anchor),
                    None => return Err("unbalanced collection".into()),
                };
                let (nodes_at, bytes_at) = self.open_at.pop().unwrap_or((self.nodes, self.bytes));
                if anchor > 0 {
                    self.anchors.insert(
                        anchor,
                        (value.clone(), self.nodes - nodes_at, self.bytes - bytes_at),
                    );
                }
                self.attach(value);
            }
            Event::Alias(id) => {
                if let Some(Frame::Map { key: None, .. }) = self.stack.last() {
                    return Err("an alias cannot be a mapping key".into());
                }
                let (nodes, bytes) = self
                    .anchors
                    .get(&id)
                    .map(|(_, n, b)| (*n, *b))
                    .ok_or("alias to an unknown anchor")?;
                let path = self.child_path()?;
                // The budget is checked before the copy is made.
                self.count(nodes, bytes + path.len())?;
                let value = self
                    .anchors
                    .get(&id)
                    .map(|(v, _, _)| v.clone())
                    .unwrap_or_default();
                let line = self.value_line(line);
                self.lines.insert(path, line);
                self.attach(value);
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
        Ok(())
    }

    /// The line to record for a scalar or alias value found at `line`.
    fn value_line(&self, line: usize) -> usize {
        match self.stack.last() {
            Some(Frame::Map {
                key: Some(_),
                key_line,
                ..
            }) => *key_line,
            _ => line,
        }
    }

    /// Start a collection: its path, counted.
    fn open(&mut self) -> Result<String, String> {
        if let Some(Frame::Map { key: None, .. }) = self.stack.last() {
            return Err("mapping keys must be plain strings".into());
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        let path = self.child_path()?;
        self.open_at.push((self.nodes, self.bytes));
        self.count(1, path.len())?;
        Ok(path)
    }

    fn count(&mut self, nodes: usize, bytes: usize) -> Result<(), String> {
        self.nodes = self.nodes.saturating_add(nodes);
        self.bytes = self.bytes.saturating_add(bytes);
        if self.nodes > MAX_NODES {
            return Err(format!(
                "the file expands to more than {MAX_NODES} nodes (aliases included, over all its documents); refusing it"
            ));
        }
        if self.bytes > MAX_BYTES {
            return Err(format!(
                "the file expands to more than {} MiB (aliases included, over all its documents); refusing it",
                MAX_BYTES / (1024 * 1024)
            ));
        }
        Ok(())
    }

    fn child_path(&self) -> Result<String, String> {
        Ok(match self.stack.last() {
            None => String::new(),
            Some(Frame::Seq { items, path, .. }) => format!("{path}[{}]", items.len()),
            Some(Frame::Map {
                key: Some(k), path, ..
            }) if path.is_empty() => k.clone(),
            Some(Frame::Map {
                key: Some(k), path, ..
            }) => format!("{path}.{k}"),
            Some(Frame::Map { key: None, .. }) => return Err("mapping key expected".into()),
        })
    }

    fn attach(&mut self, value: Value) {
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, .. }) => {
                if let Some(k) = key.take() {
                    map.insert(k, value);
                }
            }
        }
    }
}

fn scalar_bytes(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        _ => 8,
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return Value::Number(i.into());
        }
        if let Ok(u) = text.trim_start_matches('+').parse::<u64>() {
            return Value::Number(u.into());
        }
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Value::Number(i.into());
    }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Value::Number(i.into());
    }
    let looks_float = text.bytes().any(|b| b.is_ascii_digit())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && text.bytes().filter(|b| *b == b'.').count() <= 1;
    if looks_float
        && let Ok(f) = text.parse::<f64>()
        && let Some(n) = Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_unclosed_flow_or_string_is_reported_where_it_was_opened() {
        let cases = [
            // (text, line reported, words in the message)
            ("a: 1\nb: [x, y\nc: 2\nd: 3\n", 2, "`[` sequence"),
            ("a: 1\nb: [${x}\nc: [d]\ne: 3\n", 2, "`[` sequence"),
            ("a: 1\nb:\n  c: {x: 1\n  d: 2\ne: 3\n", 3, "`{` mapping"),
            // Brackets inside quoted strings open nothing.
            (
                "a: \"x [ \\\" y\"\nb: 'it''s [' \nc: [d, e\nf: 1\n",
                3,
                "`[` sequence",
            ),
            // A `[` inside a plain scalar or after a comment opens nothing.
            ("a: x[1] # [\nb: [c, d\ne: f\n", 2, "`[` sequence"),
            (
                "a: [\n  x,\n  {y: [1, 2], z: 3},\n  w\nq: 1\n",
                1,
                "`[` sequence",
            ),
        ];
        for (text, line, words) in cases {
            let err = parse_documents(text).expect_err(text);
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.message.contains(words), "{text:?}: {err}");
            assert!(err.message.contains("the parser stopped at line"), "{err}");
        }
        // A closed collection followed by an unrelated flow error keeps the parser's line.
        let err = parse_documents("a: [1, 2]\nb: {c: 1}}\n").expect_err("stray }");
        assert_eq!(err.line, 2, "{err}");
    }

    #[test]
    fn documents_values_and_lines() {
        let docs = parse_documents("a: 1\nb:\n  - x\n  - \"2\"\n---\nc: true\nd: ~\ne: 1.5\n")
            .expect("parses");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value, json!({"a": 1, "b": ["x", "2"]}));
        assert_eq!(docs[0].lines["b[1]"], 4);
        assert_eq!(docs[0].line_of("b[1].missing"), 4);
        assert_eq!(docs[1].value, json!({"c": true, "d": null, "e": 1.5}));
        assert_eq!(docs[1].lines["e"], 8);
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let docs = parse_documents("a: '007'\nb: \"true\"\nc: 007x\n").expect("parses");
        assert_eq!(docs[0].value, json!({"a": "007", "b": "true", "c": "007x"}));
    }

    #[test]
    fn aliases_expand_and_duplicate_keys_fail() {
        let docs = parse_documents("base: &b {x: 1}\ncopy: *b\n").expect("parses");
        assert_eq!(docs[0].value["copy"], json!({"x": 1}));
        let err = parse_documents("a: 1\na: 2\n").expect_err("duplicate");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("duplicate key"), "{err}");
    }

    #[test]
    fn billion_laughs_is_refused_quickly() {
        let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 9].join(", ")));
        }
        let err = parse_documents(&text).expect_err("must refuse");
        assert!(err.message.contains("more than"), "{err}");
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let err = parse_documents("a: 1\nb: [unclosed\nc: 3\n").expect_err("syntax error");
        assert!(err.line >= 2, "{err:?}");
    }

    #[test]
    fn a_byte_order_mark_is_accepted_and_bad_utf8_has_its_line() {
        let docs = parse_bytes("\u{feff}a: 1\n".as_bytes()).expect("BOM accepted");
        assert_eq!(docs[0].value, json!({"a": 1}));
        let err = parse_bytes(b"a: 1\nb: 2\nc: \xff\n").expect_err("bad byte");
        assert_eq!(err.line, 3);
        assert!(err.message.contains("0xff"), "{err}");
    }

    #[test]
    fn raw_control_characters_are_refused_at_their_line() {
        let err = parse_documents("a: 1\nb: x\u{1b}[2J\n").expect_err("escape byte");
        assert_eq!(err.line, 2);
        let docs = parse_documents("a: \"tab\\there\"\n").expect("escapes in quotes are fine");
        assert_eq!(docs[0].value, json!({"a": "tab\there"}));
    }

    #[test]
    fn only_core_schema_tags_are_accepted() {
        let docs =
            parse_documents("a: !!str 5\nb: !!int \"7\"\nc: !!map {x: 1}\n").expect("core tags");
        assert_eq!(docs[0].value, json!({"a": "5", "b": 7, "c": {"x": 1}}));
        for text in [
            "a: !Ref Thing\n",
            "a: !!python/object:os.system [ls]\n",
            "a: !!binary aGVsbG8=\n",
            "a: !!int twelve\n",
            "a: !custom {x: 1}\n",
            "a: !!set {x}\n",
            "!!python/name:os.system key: 1\n",
        ] {
            let err = parse_documents(text).expect_err(text);
            assert_eq!(err.line, 1, "{text}: {err}");
        }
    }

    #[test]
    fn the_node_budget_spans_every_document_of_a_file() {
        // Each document alone is under the budget; together they are not.
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..4 {
            doc.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                vec![format!("*a{}", i - 1); 10].join(", ")
            ));
        }
        assert!(parse_documents(&doc).is_ok());
        let text = vec![doc; 200].join("---\n");
        let err = parse_documents(&text).expect_err("budget over documents");
        assert!(err.message.contains("over all its documents"), "{err}");
    }

    #[test]
    fn long_keys_and_big_aliased_strings_hit_the_byte_budget() {
        let big = "x".repeat(600_000);
        let text = format!("a: &a \"{big}\"\nb: [{}]\n", vec!["*a"; 40].join(", "));
        let err = parse_documents(&text).expect_err("bytes budget");
        assert!(err.message.contains("MiB"), "{err}");
    }
}
