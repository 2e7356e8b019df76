//! The OpenAPI document, assembled from the handlers' `#[utoipa::path]` annotations.

use utoipa::OpenApi;

use crate::error::{ErrorBody, ErrorDetail};
use crate::routes::{compat, health, numbers};

/// The numbers API's OpenAPI description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "numbers-api",
        description = "Store integers, page through them, statistics."
    ),
    paths(
        numbers::create,
        numbers::list,
        numbers::get_one,
        numbers::delete_one,
        numbers::stats,
        compat::greeting,
        compat::all_values,
        compat::store_value,
        health::healthz,
        health::readyz,
        health::metrics,
    ),
    components(schemas(
        numbers::NumberOut,
        numbers::NewNumber,
        numbers::Page,
        numbers::StatsOut,
        compat::Rows,
        compat::Row,
        ErrorBody,
        ErrorDetail,
    ))
)]
pub struct ApiDoc;
