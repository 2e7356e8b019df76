//! Request input, validated in two stages: raw bytes → a JSON object (content type, size,
//! syntax, no ambiguity: a key named twice in one object, at any depth, is refused), then the
//! object → typed values with errors that name the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::RefCell;

use crate::error::ApiError;

/// Largest request body accepted, in bytes. A number fits in far less.
pub const BODY_LIMIT: usize = 4 * 1024;

/// A request body that is a JSON object, checked for content type, size and syntax.
#[derive(Debug)]
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !is_json_content_type(content_type) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > BODY_LIMIT as u64) {
            return Err(ApiError::PayloadTooLarge { limit: BODY_LIMIT });
        }
        let bytes: Bytes = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
            .await
            .map_err(|_| ApiError::PayloadTooLarge { limit: BODY_LIMIT })?;
        parse_object(&bytes).map(JsonObject)
    }
}

fn is_json_content_type(raw: &str) -> bool {
    let essence = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parse bytes as a JSON object. An object that names a key twice (at any depth) is ambiguous
/// (parsers disagree on which value wins) and is refused with the key's path.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = Strict {
        path: String::new(),
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    if let Some(path) = duplicate.into_inner() {
        return Err(ApiError::BadRequest {
            code: "duplicate_key",
            message: format!(
                "the key `{path}` appears more than once in one object; a JSON body must name each key once"
            ),
            field: path,
        });
    }
    match parsed {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::MalformedJson(format!(
            "expected a JSON object, got {}",
            json_kind(&other)
        ))),
        Err(e) => Err(ApiError::MalformedJson(e.to_string())),
    }
}

/// Builds a [`Value`] like serde_json does, but stops at the first key an object names twice,
/// recording its path (`meta.tags[0].k`).
struct Strict<'a> {
    path: String,
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict {
            path: format!("{}[{}]", self.path, items.len()),
            duplicate: self.duplicate,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if object.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(path);
                return Err(serde::de::Error::custom("duplicate key"));
            }
            let value = map.next_value_seed(Strict {
                path,
                duplicate: self.duplicate,
            })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Refuse any key of `object` not in `allowed`.
pub fn deny_unknown_fields(object: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(ApiError::InvalidField {
            code: "unknown_field",
            field: unknown.clone(),
            message: format!(
                "unknown field `{unknown}`; expected only {}",
                allowed
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
        None => Ok(()),
    }
}

/// Whether a string holding digits may be accepted as an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strings {
    /// Only JSON numbers (the `/v1` API).
    Refuse,
    /// Also strings of digits (the original client posts its text field as is).
    Accept,
}

/// Read the required 64-bit integer `field` of `object`.
pub fn required_i64(
    object: &Map<String, Value>,
    field: &str,
    strings: Strings,
) -> Result<i64, ApiError> {
    let out_of_range = || ApiError::InvalidField {
        code: "out_of_range",
        field: field.to_owned(),
        message: format!("`{field}` must be between {} and {}", i64::MIN, i64::MAX),
    };
    let not_integer =
        |got: &str| ApiError::invalid(field, format!("`{field}` must be an integer, got {got}"));
    match object.get(field) {
        None | Some(Value::Null) => Err(ApiError::InvalidField {
            code: "missing_field",
            field: field.to_owned(),
            message: format!("`{field}` is required"),
        }),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(i)
            } else if n.is_u64() {
                Err(out_of_range())
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.is_finite() && f.fract() == 0.0 && f.abs() >= 9.2e18 {
                    Err(out_of_range())
                } else {
                    Err(not_integer(&n.to_string()))
                }
            }
        }
        Some(Value::String(s)) if strings == Strings::Accept => {
            let trimmed = s.trim();
            if trimmed.is_empty() {
                return Err(ApiError::InvalidField {
                    code: "missing_field",
                    field: field.to_owned(),
                    message: format!("`{field}` is empty"),
                });
            }
            trimmed.parse::<i64>().map_err(|e| match e.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                    out_of_range()
                }
                _ => not_integer(&format!("{s:?}")),
            })
        }
        Some(other) => Err(not_integer(json_kind(other))),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn value(v: Value, strings: Strings) -> Result<i64, ApiError> {
        let obj = json!({ "value": v });
        required_i64(obj.as_object().expect("object"), "value", strings)
    }

    fn code(r: Result<i64, ApiError>) -> String {
        r.expect_err("must be refused").code().to_owned()
    }

    #[test]
    fn integers_across_the_whole_i64_range_are_accepted() {
        assert_eq!(value(json!(7), Strings::Refuse).ok(), Some(7));
        assert_eq!(value(json!(i64::MIN), Strings::Refuse).ok(), Some(i64::MIN));
        assert_eq!(value(json!(i64::MAX), Strings::Refuse).ok(), Some(i64::MAX));
    }

    #[test]
    fn strings_are_integers_only_for_the_original_client() {
        assert_eq!(value(json!(" 42 "), Strings::Accept).ok(), Some(42));
        assert_eq!(value(json!("-3"), Strings::Accept).ok(), Some(-3));
        assert_eq!(code(value(json!("42"), Strings::Refuse)), "invalid_value");
        assert_eq!(code(value(json!("4x"), Strings::Accept)), "invalid_value");
        assert_eq!(code(value(json!(""), Strings::Accept)), "missing_field");
        assert_eq!(
            code(value(json!("9223372036854775808"), Strings::Accept)),
            "out_of_range"
        );
    }

    #[test]
    fn fractions_huge_numbers_and_other_types_are_refused_with_a_reason() {
        assert_eq!(code(value(json!(1.5), Strings::Refuse)), "invalid_value");
        assert_eq!(
            code(value(json!(u64::MAX), Strings::Refuse)),
            "out_of_range"
        );
        assert_eq!(code(value(json!(1e30), Strings::Refuse)), "out_of_range");
        assert_eq!(code(value(json!(true), Strings::Refuse)), "invalid_value");
        assert_eq!(code(value(json!([1]), Strings::Refuse)), "invalid_value");
        assert_eq!(code(value(Value::Null, Strings::Refuse)), "missing_field");
    }

    #[test]
    fn unknown_fields_are_named() {
        let obj = json!({"value": 1, "extra": 2});
        let err = deny_unknown_fields(obj.as_object().expect("object"), &["value"])
            .expect_err("unknown field refused");
        assert_eq!(err.field(), Some("extra"));
    }

    #[test]
    fn only_json_objects_parse() {
        assert!(parse_object(b"{\"value\": 1}").is_ok());
        assert_eq!(
            parse_object(b"[1]").expect_err("array").code(),
            "malformed_json"
        );
        assert_eq!(
            parse_object(b"{\"value\": ").expect_err("eof").code(),
            "malformed_json"
        );
    }

    #[test]
    fn a_key_named_twice_at_any_depth_is_refused_with_its_path() {
        for (body, path) in [
            (r#"{"value": 1, "value": 2}"#, "value"),
            (
                r#"{"value": 1, "meta": {"a": 1, "b": {"c": 1, "c": 2}}}"#,
                "meta.b.c",
            ),
            (
                r#"{"value": 1, "list": [{}, {"k": 1, "k": 1}]}"#,
                "list[1].k",
            ),
        ] {
            let err = parse_object(body.as_bytes()).expect_err(body);
            assert_eq!(err.code(), "duplicate_key", "{body}");
            assert_eq!(err.field(), Some(path), "{body}");
        }
        let ok = parse_object(br#"{"value": 1, "a": {"value": 2}, "b": [{"value": 3}]}"#)
            .expect("the same key in different objects is fine");
        assert_eq!(ok["value"], 1);
        assert_eq!(
            parse_object(b"{\"value\": 1} x")
                .expect_err("trailing")
                .code(),
            "malformed_json"
        );
    }

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/JSON; charset=utf-8"));
        assert!(is_json_content_type("application/merge-patch+json"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type(""));
    }
}
