//! Every error the API answers with, mapped to a response in one place.
//!
//! 4xx responses say what was wrong and where (`field`); 5xx responses say nothing about the
//! cause, which is logged instead. The shape is `{"error": {"code", "message", "field"}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sea_orm::DbErr;
use serde::Serialize;
use utoipa::ToSchema;

/// An error answered to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not syntactically valid JSON.
    #[error("request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The body is not `application/json`.
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    /// The body is larger than the limit.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A field is missing, of the wrong type, out of range or unknown.
    #[error("{message}")]
    InvalidField {
        /// Machine-readable reason (`invalid_value`, `out_of_range`, `unknown_field`, ...).
        code: &'static str,
        /// The field, query parameter or header at fault.
        field: String,
        /// What was wrong, for a human.
        message: String,
    },
    /// A query parameter, path segment or header is malformed.
    #[error("{message}")]
    BadRequest {
        /// Machine-readable reason.
        code: &'static str,
        /// The parameter at fault.
        field: String,
        /// What was wrong, for a human.
        message: String,
    },
    /// No such resource.
    #[error("{0}")]
    NotFound(String),
    /// An `Idempotency-Key` was reused for a different request.
    #[error("Idempotency-Key was already used for value {first}")]
    IdempotencyKeyReused {
        /// The value the key was first used with.
        first: i64,
    },
    /// The database cannot be reached; the client may retry.
    #[error("the database is unavailable")]
    DatabaseUnavailable(#[source] DbErr),
    /// A bug or an unexpected database failure.
    #[error("internal error")]
    Internal(#[source] DbErr),
}

/// The JSON error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code, e.g. `invalid_value`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The field, parameter or header at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// A field error with code `invalid_value`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::InvalidField {
            code: "invalid_value",
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_) | Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidField { .. } | Self::IdempotencyKeyReused { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Machine-readable code.
    pub fn code(&self) -> &str {
        match self {
            Self::MalformedJson(_) => "malformed_json",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::InvalidField { code, .. } | Self::BadRequest { code, .. } => code,
            Self::NotFound(_) => "not_found",
            Self::IdempotencyKeyReused { .. } => "idempotency_key_reused",
            Self::DatabaseUnavailable(_) => "database_unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The field at fault, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidField { field, .. } | Self::BadRequest { field, .. } => Some(field),
            Self::IdempotencyKeyReused { .. } => Some("Idempotency-Key"),
            _ => None,
        }
    }

    /// Log server-side failures (with their cause) once, where they are turned into responses.
    pub fn log(&self) {
        match self {
            Self::DatabaseUnavailable(e) => tracing::warn!(error = %e, "database unavailable"),
            Self::Internal(e) => tracing::error!(error = %e, "internal error"),
            _ => {}
        }
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        if crate::db::is_unavailable(&err) {
            Self::DatabaseUnavailable(err)
        } else {
            Self::Internal(err)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
                field: self.field().map(str::to_owned),
            },
        };
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, Self::DatabaseUnavailable(_)) {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}
