//! The original numbers app's API, kept byte-compatible for its React client (served behind
//! the proxy, which strips `/api`): `GET /values/all`, `POST /values`, `GET /`.

use axum::Json;
use axum::Router;
use axum::extract::FromRequest;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::AppState;
use crate::body::{JsonObject, Strings, deny_unknown_fields, required_i64};
use crate::error::ApiError;
use crate::store;

/// The original routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(greeting))
        .route("/values/all", get(all_values))
        .route("/values", post(store_value))
}

/// `{"rows": [{"number": 7}, ...]}`, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rows {
    /// Every stored number.
    pub rows: Vec<Row>,
}

/// One row of the original API.
#[derive(Debug, Serialize, ToSchema)]
pub struct Row {
    /// The stored integer.
    pub number: i64,
}

/// A short greeting (the original answered `GET /` with plain text).
#[utoipa::path(get, path = "/", tag = "compat", responses((status = 200, body = String, content_type = "text/plain")))]
pub async fn greeting() -> &'static str {
    "Hi from the numbers API. Try GET /v1/numbers or /openapi.json\n"
}

/// Every stored number, in the original shape.
#[utoipa::path(get, path = "/values/all", tag = "compat", responses((status = 200, body = Rows)))]
pub async fn all_values(State(state): State<AppState>) -> Response {
    match store::all(&state.db).await {
        Ok(rows) => Json(Rows {
            rows: rows.into_iter().map(|n| Row { number: n.value }).collect(),
        })
        .into_response(),
        Err(err) => compat_error(ApiError::from(err)),
    }
}

/// Store `{"value": 7}` or `{"value": "7"}`; `{"working": true}` once committed.
#[utoipa::path(post, path = "/values", tag = "compat",
    responses((status = 200, description = "`{\"working\": true}`"), (status = 422, description = "`{\"working\": false, \"error\": ...}`")))]
pub async fn store_value(State(state): State<AppState>, req: Request) -> Response {
    let result = async {
        let JsonObject(body) = JsonObject::from_request(req, &state).await?;
        deny_unknown_fields(&body, &["value"])?;
        let value = required_i64(&body, "value", Strings::Accept)?;
        store::create(&state.db, state.inserter.as_ref(), value, None).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match result {
        Ok(()) => Json(json!({ "working": true })).into_response(),
        Err(err) => compat_error(err),
    }
}

/// The original error shape, with the same status the `/v1` API would use.
fn compat_error(err: ApiError) -> Response {
    let status = err.status();
    if status.is_server_error() {
        // Log the cause; tell the client only what it can act on.
        let message = if status == StatusCode::SERVICE_UNAVAILABLE {
            "database unavailable"
        } else {
            "internal error"
        };
        err.log();
        return (status, Json(json!({ "working": false, "error": message }))).into_response();
    }
    (
        status,
        Json(json!({ "working": false, "error": err.to_string() })),
    )
        .into_response()
}
