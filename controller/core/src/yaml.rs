//! Multi-document YAML to JSON values, remembering the line of every node so that any later
//! error (type, unknown field, validation rule) can say `file:line`.
//!
//! Anchors and aliases are expanded here under a node budget, so a "billion laughs" document
//! fails fast instead of exhausting memory. Scalars follow the YAML 1.2 core schema.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Most nodes one document may expand to (aliases included).
pub const MAX_NODES: usize = 100_000;
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

/// Parse every document of `text`. Empty documents (e.g. a trailing `---`) are skipped.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| YamlError {
        line: e.marker().line(),
        message: e.info().to_owned(),
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder
        .docs
        .into_iter()
        .filter(|d| !d.value.is_null())
        .collect())
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
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    docs: Vec<Document>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Value>,
    lines: BTreeMap<String, usize>,
    root: Option<Value>,
    nodes: usize,
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
                self.nodes = 0;
                self.root = None;
                self.start_line = line;
            }
            Event::DocumentEnd => {
                self.docs.push(Document {
                    value: self.root.take().unwrap_or(Value::Null),
                    lines: std::mem::take(&mut self.lines),
                    start_line: self.start_line,
                });
            }
            Event::Scalar(text, style, anchor, tag) => {
                if let Some(Frame::Map {
                    key: key @ None,
                    map,
                    ..
                }) = self.stack.last_mut()
                {
                    if map.contains_key(&text) {
                        return Err(format!("duplicate key `{text}`"));
                    }
                    *key = Some(text);
                    return Ok(());
                }
                self.count(1)?;
                let path = self.child_path()?;
                self.lines.insert(path, line);
                let is_str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let value = if style == TScalarStyle::Plain && !is_str_tag {
                    resolve_plain(&text)
                } else {
                    Value::String(text)
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                self.attach(value);
            }
            Event::SequenceStart(anchor, _) => {
                self.open(line)?;
                let path = self.child_path()?;
                self.lines.insert(path.clone(), line);
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    path,
                    anchor,
                });
            }
            Event::MappingStart(anchor, _) => {
                self.open(line)?;
                let path = self.child_path()?;
                self.lines.insert(path.clone(), line);
                self.stack.push(Frame::Map {
                    map: Map::new(),
                    path,
                    key: None,
                    anchor,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, anchor, .. }) => (Value::Array(items), anchor),
                    Some(Frame::Map { map, anchor, .. }) => (Value::Object(map), anchor),
                    None => return Err("unbalanced collection".into()),
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                self.attach(value);
            }
            Event::Alias(id) => {
                if let Some(Frame::Map { key: None, .. }) = self.stack.last() {
                    return Err("an alias cannot be a mapping key".into());
                }
                let value = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or("alias to an unknown anchor")?;
                self.count(count_nodes(&value))?;
                let path = self.child_path()?;
                self.lines.insert(path, line);
                self.attach(value);
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn open(&mut self, _line: usize) -> Result<(), String> {
        if let Some(Frame::Map { key: None, .. }) = self.stack.last() {
            return Err("mapping keys must be plain strings".into());
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        self.count(1)
    }

    fn count(&mut self, n: usize) -> Result<(), String> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(format!(
                "document expands to more than {MAX_NODES} nodes (aliases included); refusing it"
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

fn count_nodes(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(count_nodes).sum::<usize>(),
        _ => 1,
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
}
