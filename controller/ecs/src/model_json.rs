//! The traits behind the generated conversions: ECS's JSON (camelCase, as `--cli-input-json` takes
//! it) to and from the SDK's types. Scalars, lists, maps and timestamps are here; every ECS
//! structure, union and enum has a generated impl.

use std::collections::HashMap;

use aws_sdk_ecs::primitives::DateTime;
use ferry_core::ecs_model::{join, kind_of as kind};
use serde_json::{Map, Number, Value};

/// A JSON value that does not fit the ECS shape it is read as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Where (`containerDefinitions[0].memory`).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl JsonError {
    /// An error at `path`.
    pub fn new(path: &str, message: impl Into<String>) -> Self {
        Self {
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for JsonError {}

/// SDK value → ECS JSON.
pub trait ToJson {
    /// The JSON ECS would show for this value.
    fn to_json(&self) -> Value;
}

/// ECS JSON → SDK value.
pub trait FromJson: Sized {
    /// Read `v` (found at `path`).
    fn from_json(v: &Value, path: &str) -> Result<Self, JsonError>;
}

/// A struct field put into a JSON object: `None` is left out; a primitive is always written.
pub trait Field {
    /// Insert `self` as `key` (or nothing).
    fn put(&self, m: &mut Map<String, Value>, key: &str);
}

impl<T: ToJson> Field for Option<T> {
    fn put(&self, m: &mut Map<String, Value>, key: &str) {
        if let Some(v) = self {
            m.insert(key.to_owned(), v.to_json());
        }
    }
}

impl<T: ToJson> Field for T {
    fn put(&self, m: &mut Map<String, Value>, key: &str) {
        m.insert(key.to_owned(), self.to_json());
    }
}

/// A builder's `build()`, which returns the value or (with required members) a `Result`.
pub trait Built<T> {
    /// The built value, or the missing member as a [`JsonError`].
    fn built(self, path: &str) -> Result<T, JsonError>;
}

impl<T: FromJson> Built<T> for T {
    fn built(self, _: &str) -> Result<T, JsonError> {
        Ok(self)
    }
}

impl<T> Built<T> for Result<T, aws_sdk_ecs::error::BuildError> {
    fn built(self, path: &str) -> Result<T, JsonError> {
        self.map_err(|e| JsonError::new(path, e.to_string()))
    }
}

/// `v` as an object.
pub fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, JsonError> {
    v.as_object()
        .ok_or_else(|| JsonError::new(path, format!("expected an object, got {}", kind(v))))
}

/// Refuse members not in `known` (ECS would reject the request).
pub fn only(m: &Map<String, Value>, known: &[&str], path: &str) -> Result<(), JsonError> {
    match m.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(JsonError::new(
            &join(path, k),
            "unknown field (not in the ECS API)",
        )),
        None => Ok(()),
    }
}

/// Member `key` of `m`, read as `T` (absent or null: `None`).
pub fn get<T: FromJson>(
    m: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<T>, JsonError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => T::from_json(v, &join(path, key)).map(Some),
    }
}

impl ToJson for String {
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
}
impl FromJson for String {
    fn from_json(v: &Value, path: &str) -> Result<Self, JsonError> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| JsonError::new(path, format!("expected a string, got {}", kind(v))))
    }
}

impl ToJson for bool {
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
}
impl FromJson for bool {
    fn from_json(v: &Value, path: &str) -> Result<Self, JsonError> {
        v.as_bool()
            .ok_or_else(|| JsonError::new(path, format!("expected a boolean, got {}", kind(v))))
    }
}

impl ToJson for i32 {
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
}
impl FromJson for i32 {
    fn from_json(v: &Value, path: &str) -> Result<Self, JsonError> {
        v.as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| JsonError::new(path, format!("expected an integer, got {}", kind(v))))
    }
}

impl ToJson for i64 {
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
}
impl FromJson for i64 {
    fn from_json(v: &Value, path: &str) -> Result<Self, JsonError> {
        v.as_i64()
            .ok_or_else(|| JsonError::new(path, format!("expected an integer, got {}", kind(v))))
    }
}

impl ToJson for f64 {
    fn to_json(&self) -> Value {
        Number::from_f64(*self).map_or(Value::Null, Value::Number)
    }
}
impl FromJson for f64 {
    fn from_json(v: &Value, path: &str) -> Result<Self, JsonError> {
        v.as_f64()
            .ok_or_else(|| JsonError::new(path, format!("expected a number, got {}", kind(v))))
    }
}

impl ToJson for DateTime {
    fn to_json(&self) -> Value {
        Number::from_f64(self.as_secs_f64()).map_or(Value::Null, Value::Number)
    }
}
impl FromJson for DateTime {
    fn from_json(v: &Value, path: &str) -> Result<Self, JsonError> {
        f64::from_json(v, path).map(DateTime::from_secs_f64)
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(ToJson::to_json).collect())
    }
}
impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(v: &Value, path: &str) -> Result<Self, JsonError> {
        let items = v
            .as_array()
            .ok_or_else(|| JsonError::new(path, format!("expected a list, got {}", kind(v))))?;
        items
            .iter()
            .enumerate()
            .map(|(i, x)| T::from_json(x, &format!("{path}[{i}]")))
            .collect()
    }
}

impl<T: ToJson> ToJson for HashMap<String, T> {
    fn to_json(&self) -> Value {
        let mut keys: Vec<&String> = self.keys().collect();
        keys.sort();
        Value::Object(
            keys.into_iter()
                .map(|k| (k.clone(), self[k].to_json()))
                .collect(),
        )
    }
}
impl<T: FromJson> FromJson for HashMap<String, T> {
    fn from_json(v: &Value, path: &str) -> Result<Self, JsonError> {
        object(v, path)?
            .iter()
            .map(|(k, x)| Ok((k.clone(), T::from_json(x, &join(path, k))?)))
            .collect()
    }
}

/// Free-form JSON (`document` shapes such as lifecycle hook details).
impl ToJson for aws_smithy_types::Document {
    fn to_json(&self) -> Value {
        use aws_smithy_types::Document as D;
        use aws_smithy_types::Number as N;
        match self {
            D::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), m[k].to_json()))
                        .collect(),
                )
            }
            D::Array(a) => Value::Array(a.iter().map(ToJson::to_json).collect()),
            D::Number(N::PosInt(n)) => Value::from(*n),
            D::Number(N::NegInt(n)) => Value::from(*n),
            D::Number(N::Float(f)) => f.to_json(),
            D::String(s) => Value::String(s.clone()),
            D::Bool(b) => Value::Bool(*b),
            D::Null => Value::Null,
        }
    }
}
impl FromJson for aws_smithy_types::Document {
    fn from_json(v: &Value, path: &str) -> Result<Self, JsonError> {
        use aws_smithy_types::Document as D;
        use aws_smithy_types::Number as N;
        Ok(match v {
            Value::Null => D::Null,
            Value::Bool(b) => D::Bool(*b),
            Value::Number(n) => D::Number(match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => N::PosInt(u),
                (None, Some(i)) => N::NegInt(i),
                _ => N::Float(n.as_f64().unwrap_or_default()),
            }),
            Value::String(s) => D::String(s.clone()),
            Value::Array(a) => D::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, x)| Self::from_json(x, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => D::Object(
                m.iter()
                    .map(|(k, x)| Ok((k.clone(), Self::from_json(x, &join(path, k))?)))
                    .collect::<Result<_, JsonError>>()?,
            ),
        })
    }
}
