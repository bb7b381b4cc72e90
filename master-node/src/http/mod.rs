//! The REST API v1 (axum), served by every master: reads from the local replica (or after a
//! read barrier with `?consistent=true`), writes committed through the leader wherever they
//! enter. Every error is `application/problem+json` ([`Problem`]).
//!
//! Each resource module registers its routes through `utoipa-axum`, so the router and the
//! OpenAPI document (`openapi`) come from the same annotated handlers. The stack around them
//! (outermost first): request ids (`x-request-id`, set when absent and echoed), tracing, on
//! `/api/v1` a bound on requests in flight (beyond it a 503 at once), then per group of routes a
//! deadline — none for the live stream and the task logs, which last as long as the job, and
//! for uploads a deadline between body frames instead — and gzip for reports.

mod access;
mod authorize;
mod browser;
mod cluster;
mod extract;
mod files;
mod jobs;
mod join_tokens;
mod metrics;
mod openapi;
mod paging;
mod problem;
mod projects;
mod results;
mod serve;
mod session;
mod tls;
mod ui;
mod workers;

use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

pub use problem::Problem;
pub(crate) use serve::serve;
pub(crate) use tls::RestTls;
pub use tls::RestTlsFiles;

use crate::app::App;
use crate::error::Error;

/// API requests handled at once; more are refused at once with a 503 (`Retry-After: 1`)
/// rather than queued. Probes and metrics are not counted.
const MAX_IN_FLIGHT: usize = 512;
/// The deadline of a request, up to its response's headers. The longest legitimate one is a
/// membership change (a learner catching up, bounded at 120 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(150);
/// Longest pause between two frames of an upload's body.
const BODY_FRAME_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest JSON body (uploads stream their bodies and have their own limit).
pub(crate) const JSON_BODY_LIMIT: usize = 2 << 20;
/// The request-id header.
const REQUEST_ID: &str = "x-request-id";

/// A deadline whose expiry is a problem+json 503.
fn deadline<S>(router: OpenApiRouter<S>, timeout: Duration) -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(
                move |e: tower::BoxError| async move {
                    Problem::from(Error::Unavailable(format!(
                        "the request did not complete within {}: {e}",
                        humantime::format_duration(timeout)
                    )))
                },
            ))
            .timeout(timeout),
    )
}

/// A bound on requests in flight: beyond it, a problem+json 503 at once (load shedding).
fn bounded<S>(router: OpenApiRouter<S>) -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                Problem::from(Error::Unavailable(format!(
                    "this master is handling {MAX_IN_FLIGHT} requests already; retry"
                )))
            }))
            .load_shed()
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                MAX_IN_FLIGHT,
            )),
    )
}

/// Every route with its documentation: `(router, OpenAPI document)`, the document's paths as
/// axum matches them (`{*path}`): see `openapi::finish`.
fn api() -> (Router<Arc<App>>, utoipa::openapi::OpenApi) {
    let reports = results::report_routes().layer(CompressionLayer::new());
    let v1 = OpenApiRouter::new()
        .merge(deadline(cluster::routes(), REQUEST_TIMEOUT))
        .merge(deadline(projects::routes(), REQUEST_TIMEOUT))
        .merge(files::routes().layer(RequestBodyTimeoutLayer::new(BODY_FRAME_TIMEOUT)))
        .merge(deadline(jobs::routes(), REQUEST_TIMEOUT))
        .merge(deadline(reports, REQUEST_TIMEOUT))
        .merge(results::live_routes())
        .merge(deadline(workers::routes(), REQUEST_TIMEOUT))
        .merge(deadline(join_tokens::routes(), REQUEST_TIMEOUT))
        .merge(deadline(access::routes(), REQUEST_TIMEOUT))
        .merge(deadline(session::routes(), REQUEST_TIMEOUT))
        .merge(openapi::routes());
    let (router, document) = OpenApiRouter::with_openapi(openapi::document_info())
        .merge(deadline(cluster::probes(), REQUEST_TIMEOUT))
        .merge(deadline(metrics::routes(), REQUEST_TIMEOUT))
        .merge(deadline(ui::routes(), REQUEST_TIMEOUT).layer(CompressionLayer::new()))
        .nest(broadside_api::PREFIX, bounded(v1))
        .split_for_parts();
    (router, document)
}

/// The router of the whole API over `app`.
pub(crate) fn router(app: Arc<App>) -> Router {
    let (router, document) = api();
    let rules = authorize::Rules::from_document(&document).unwrap_or_else(|(rules, missing)| {
        tracing::error!(?missing, "operations without an access rule are refused");
        rules
    });
    let document = Arc::new(openapi::finish(document));
    let config = &app.node.config;
    let loopback_only =
        config.listen_http.ip().is_loopback() && config.listen_raft.ip().is_loopback();
    let hosts = Arc::new(browser::HostNames::of(&config.auth, loopback_only));
    let cors = browser::cors(&config.auth);
    let router = router
        .layer(axum::middleware::from_fn(extract::digest_keyed_request))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            authorize::authorize,
        ))
        .layer(axum::Extension(Arc::new(rules)))
        .layer(axum::Extension(document))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .fallback(|| async { Problem::from(Error::NotFound("no such endpoint".into())) })
        .layer(axum::middleware::from_fn_with_state(
            hosts,
            browser::check_host,
        ));
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(
                    axum::http::HeaderName::from_static(REQUEST_ID),
                    MakeRequestUuid,
                ))
                .layer(TraceLayer::new_for_http())
                .layer(PropagateRequestIdLayer::new(
                    axum::http::HeaderName::from_static(REQUEST_ID),
                ))
                .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                    MAX_IN_FLIGHT,
                )),
        )
        .with_state(app)
}
