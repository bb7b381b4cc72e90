//! The web UI (`broadside-ui`), served by every master at `/`: the page, never cached, and its
//! assets under `/assets/<version>/`, cached for ever (the version is their content hash).
//! Both are public — they hold no data; everything the UI shows comes from the API with the
//! signed-in session — and carry a Content-Security-Policy that lets the page run only its
//! own scripts and styles and talk only to this master.

use std::sync::Arc;

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use broadside_ui::Ui;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::ApiPath;
use super::Problem;
use crate::app::App;
use crate::error::Error;

/// What the page may load and where it may connect: only this master.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'self'";

pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(page))
        .routes(routes!(asset))
}

/// Headers every UI response carries.
fn hardened(content_type: &'static str, cache: &'static str) -> [(HeaderName, HeaderValue); 6] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ]
}

/// The web UI
///
/// The page of the web UI (it loads its assets from `/assets/{version}/…` and talks to this
/// master's API with a session cookie, `POST /api/v1/session`).
#[utoipa::path(get, path = "/", tag = "ui",
    extensions(("x-broadside-access" = json!("public"))),
    responses((status = 200, content_type = "text/html", body = String)))]
async fn page() -> Response {
    let ui = Ui::embedded();
    (
        hardened("text/html; charset=utf-8", "no-cache"),
        ui.index().to_owned(),
    )
        .into_response()
}

/// A UI asset
///
/// A script, style sheet or image of the web UI, by the version of the UI that names it
/// (another version is a 404: reload the page).
#[utoipa::path(get, path = "/assets/{version}/{*path}", tag = "ui",
    extensions(("x-broadside-access" = json!("public"))),
    params(
        ("version" = String, Path, description = "The UI's version (content hash)"),
        ("path" = String, Path, description = "The asset's path"),
    ),
    responses(
        (status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, body = broadside_api::Problem),
    ))]
async fn asset(
    ApiPath((version, path)): ApiPath<(String, String)>,
) -> std::result::Result<Response, Problem> {
    let ui = Ui::embedded();
    let found = (version == ui.version())
        .then(|| ui.asset(&path))
        .flatten()
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no UI asset {path:?} in version {version:?} (this master serves {})",
                ui.version()
            ))
        })?;
    Ok((
        hardened(found.content_type, "public, max-age=31536000, immutable"),
        found.bytes,
    )
        .into_response())
}
