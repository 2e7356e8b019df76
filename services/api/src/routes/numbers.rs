//! The `/v1/numbers` API: create (idempotent with a key), keyset-paginated list, get, delete,
//! statistics.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::body::{JsonObject, Strings, deny_unknown_fields, required_i64};
use crate::coalesce::Coalescer;
use crate::error::{ApiError, ErrorBody};
use crate::store::{self, Created};

/// Default page size.
pub const DEFAULT_LIMIT: u64 = 100;
/// Largest page size.
pub const MAX_LIMIT: u64 = 1000;
/// Longest accepted `Idempotency-Key`.
pub const MAX_KEY_LEN: usize = 255;

/// Routes under `/v1/numbers`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/numbers", get(list).post(create))
        .route("/v1/numbers/stats", get(stats))
        .route("/v1/numbers/{id}", get(get_one).delete(delete_one))
}

/// A stored number.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NumberOut {
    /// Identifier.
    pub id: i64,
    /// The stored integer.
    pub value: i64,
    /// When it was stored (RFC 3339, UTC).
    #[serde(serialize_with = "rfc3339_micros")]
    pub created_at: DateTime<Utc>,
}

/// `2026-11-29T12:30:14.347368Z`: formatted once into a string (chrono's own `Serialize`
/// streams it character by character through the JSON escaper, which shows up in profiles).
fn rfc3339_micros<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

impl From<store::Number> for NumberOut {
    fn from(n: store::Number) -> Self {
        Self {
            id: n.id,
            value: n.value,
            created_at: n.created_at,
        }
    }
}

/// Body of `POST /v1/numbers`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct NewNumber {
    /// A 64-bit signed integer (a JSON number, not a string).
    pub value: i64,
}

/// One page of numbers, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    /// The numbers on this page.
    pub items: Vec<NumberOut>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Aggregates over every stored number.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsOut {
    /// How many numbers are stored.
    pub count: i64,
    /// Exact sum (may exceed 64 bits; a JSON integer).
    #[schema(value_type = i64)]
    pub sum: i128,
    /// Smallest stored number; null when none.
    pub min: Option<i64>,
    /// Largest stored number; null when none.
    pub max: Option<i64>,
    /// Arithmetic mean; null when none.
    pub mean: Option<f64>,
}

/// Store a number.
#[utoipa::path(post, path = "/v1/numbers", tag = "numbers",
    request_body = NewNumber,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key: the same key returns the first result")),
    responses(
        (status = 201, description = "Stored (or replayed for a known Idempotency-Key)", body = NumberOut),
        (status = 400, description = "Malformed JSON or header", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "Invalid value or unknown field", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    deny_unknown_fields(&body, &["value"])?;
    let value = required_i64(&body, "value", Strings::Refuse)?;
    match store::create(&state.db, state.inserter.as_ref(), value, key).await? {
        Created::New(n) => Ok((StatusCode::CREATED, Json(NumberOut::from(n))).into_response()),
        Created::Replayed(n) => Ok((
            StatusCode::CREATED,
            [("idempotent-replayed", "true")],
            Json(NumberOut::from(n)),
        )
            .into_response()),
        Created::KeyReused { first } => Err(ApiError::IdempotencyKeyReused { first }),
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = |message: &str| ApiError::BadRequest {
        code: "invalid_header",
        field: "Idempotency-Key".into(),
        message: message.into(),
    };
    let key = raw
        .to_str()
        .map_err(|_| bad("Idempotency-Key must be visible ASCII"))?;
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad(
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(key))
}

/// List numbers, newest first, with keyset pagination.
#[utoipa::path(get, path = "/v1/numbers", tag = "numbers",
    params(
        ("limit" = Option<u64>, Query, description = "Page size, 1..=1000, default 100"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
    ),
    responses(
        (status = 200, body = Page),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut limit = DEFAULT_LIMIT;
    let mut before = None;
    for (name, value) in url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "limit" => limit = parse_limit(&value)?,
            "cursor" => before = Some(decode_cursor(&value)?),
            _ => {}
        }
    }
    let body = match &state.pages {
        Some(pages) => pages
            .get((limit, before))
            .await
            .unwrap_or_else(|| Err(DbErr::Custom("page read abandoned".into())))?,
        None => page_json(&state.db, limit, before).await?,
    };
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

/// Page reads shared by identical concurrent requests: key `(limit, before)`, value the JSON
/// body (encoded once per query) or the database error every waiter answers with.
pub type Pages = Coalescer<(u64, Option<i64>), Result<Bytes, DbErr>>;

/// The page coalescer over `db` (see [`crate::coalesce`] for why sharing is safe).
pub fn pages(db: DatabaseConnection) -> Pages {
    Coalescer::new(move |&(limit, before): &(u64, Option<i64>)| {
        let db = db.clone();
        async move { page_json(&db, limit, before).await }
    })
}

/// One page as its JSON body.
async fn page_json(
    db: &DatabaseConnection,
    limit: u64,
    before: Option<i64>,
) -> Result<Bytes, DbErr> {
    let (rows, more) = store::page(db, limit, before).await?;
    let next_cursor = if more {
        rows.last().map(|n| encode_cursor(n.id))
    } else {
        None
    };
    let page = Page {
        items: rows.into_iter().map(NumberOut::from).collect(),
        next_cursor,
    };
    serde_json::to_vec(&page)
        .map(Bytes::from)
        .map_err(|e| DbErr::Custom(format!("cannot encode a page: {e}")))
}

fn parse_limit(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| ApiError::BadRequest {
            code: "invalid_limit",
            field: "limit".into(),
            message: format!("`limit` must be an integer from 1 to {MAX_LIMIT}, got {raw:?}"),
        })
}

/// The opaque cursor for "numbers older than `id`".
pub fn encode_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("n1:{id}"))
}

fn decode_cursor(raw: &str) -> Result<i64, ApiError> {
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            text.strip_prefix("n1:")
                .and_then(|id| id.parse::<i64>().ok())
        })
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::BadRequest {
            code: "invalid_cursor",
            field: "cursor".into(),
            message: "`cursor` is not a cursor this API returned".into(),
        })
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::BadRequest {
            code: "invalid_id",
            field: "id".into(),
            message: format!("id must be a positive integer, got {raw:?}"),
        })
}

/// Get one number.
#[utoipa::path(get, path = "/v1/numbers/{id}", tag = "numbers",
    params(("id" = i64, Path, description = "Number id")),
    responses(
        (status = 200, body = NumberOut),
        (status = 400, description = "Bad id", body = ErrorBody),
        (status = 404, description = "No such number", body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<NumberOut>, ApiError> {
    let id = parse_id(&id)?;
    store::get(&state.db, id)
        .await?
        .map(|n| Json(n.into()))
        .ok_or_else(|| ApiError::NotFound(format!("no number with id {id}")))
}

/// Delete one number.
#[utoipa::path(delete, path = "/v1/numbers/{id}", tag = "numbers",
    params(("id" = i64, Path, description = "Number id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad id", body = ErrorBody),
        (status = 404, description = "No such number", body = ErrorBody),
    ))]
pub async fn delete_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    if store::delete(&state.db, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no number with id {id}")))
    }
}

/// Count, exact sum, min, max and mean of every stored number.
#[utoipa::path(get, path = "/v1/numbers/stats", tag = "numbers",
    responses((status = 200, body = StatsOut), (status = 503, description = "Database unavailable", body = ErrorBody)))]
pub async fn stats(State(state): State<AppState>) -> Result<Json<StatsOut>, ApiError> {
    let s = store::stats(&state.db).await?;
    let mean = (s.count > 0).then(|| s.sum as f64 / s.count as f64);
    Ok(Json(StatsOut {
        count: s.count,
        sum: s.sum,
        min: s.min,
        max: s.max,
        mean,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_forgeries_are_refused() {
        assert_eq!(decode_cursor(&encode_cursor(42)).ok(), Some(42));
        for bad in [
            "",
            "42",
            "!!!",
            &URL_SAFE_NO_PAD.encode("n1:-1"),
            &URL_SAFE_NO_PAD.encode("x:1"),
        ] {
            assert_eq!(
                decode_cursor(bad).expect_err(bad).field(),
                Some("cursor"),
                "{bad}"
            );
        }
    }

    #[test]
    fn limits_outside_one_to_a_thousand_are_refused() {
        assert_eq!(parse_limit("1").ok(), Some(1));
        assert_eq!(parse_limit("1000").ok(), Some(1000));
        for bad in ["0", "1001", "-1", "ten", ""] {
            assert!(parse_limit(bad).is_err(), "{bad}");
        }
    }
}
