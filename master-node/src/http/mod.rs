//! The REST API v1 (axum), served by every master: reads from the local replica (or after a
//! read barrier with `?consistent=true`), writes committed through the leader wherever they
//! enter. Every error is `application/problem+json`.

mod cluster;
mod files;
mod jobs;
mod metrics;
mod openapi;
mod problem;
mod projects;
mod results;
mod workers;

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use broadside_raft_store::{Page, PageRequest, RequestId, MAX_PAGE};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use problem::{Details, LeaderView, Problem};

use broadside_rpc::raft::LeaderState;

use crate::node::Node;
use crate::results::ReportCache;
use crate::scheduler::driver::Scheduler;

/// What every handler can reach: the node and its scheduler.
#[derive(Clone)]
pub struct AppState {
    node: Arc<Node>,
    scheduler: Arc<Scheduler>,
    reports: Arc<ReportCache>,
    /// Cancelled when the master stops: long-lived responses (live streams) end.
    stop: CancellationToken,
}

impl FromRef<AppState> for CancellationToken {
    fn from_ref(state: &AppState) -> Self {
        state.stop.clone()
    }
}

impl FromRef<AppState> for Arc<ReportCache> {
    fn from_ref(state: &AppState) -> Self {
        state.reports.clone()
    }
}

impl FromRef<AppState> for Arc<Node> {
    fn from_ref(state: &AppState) -> Self {
        state.node.clone()
    }
}

impl FromRef<AppState> for Arc<Scheduler> {
    fn from_ref(state: &AppState) -> Self {
        state.scheduler.clone()
    }
}

/// The router of the whole API; `stop` ends its long-lived responses.
pub fn router(scheduler: Arc<Scheduler>, stop: CancellationToken) -> Router {
    let state = AppState {
        node: scheduler.node.clone(),
        scheduler,
        reports: Arc::default(),
        stop,
    };
    Router::new()
        .route("/healthz", get(cluster::healthz))
        .route("/readyz", get(cluster::readyz))
        .route("/metrics", get(metrics::metrics))
        .nest(
            "/api/v1",
            Router::new()
                .route("/openapi.json", get(openapi::document))
                .merge(cluster::routes())
                .merge(projects::routes())
                .merge(files::routes())
                .merge(jobs::routes())
                .merge(results::routes())
                .merge(workers::routes()),
        )
        .fallback(|| async { Problem::not_found("no such endpoint") })
        .with_state(state)
}

/// Serves the API on `listener` until `stop`.
pub(crate) async fn serve(
    listener: TcpListener,
    scheduler: Arc<Scheduler>,
    stop: CancellationToken,
) {
    let app = router(scheduler, stop.clone());
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
    {
        tracing::error!(error = %e, "REST server failed");
    }
}

/// The body of a JSON request, or a 400 saying what was wrong with it.
pub(crate) fn json_body<T>(
    body: Result<axum::Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, Problem> {
    body.map(|axum::Json(v)| v)
        .map_err(|e| Problem::bad_request(format!("request body: {}", e.body_text())))
}

/// Commits `command` through the leader with `request_id`; a state-machine refusal becomes
/// the matching problem.
pub(crate) async fn commit(
    node: &Node,
    request_id: RequestId,
    command: broadside_raft_store::Command,
) -> Result<broadside_raft_store::Response, Problem> {
    let request = broadside_raft_store::Request::new(request_id, crate::node::now_ms(), command);
    match node.write(request).await? {
        broadside_raft_store::Response::Rejected { code, message } => {
            Err(Problem::rejected(code, message))
        }
        ok => Ok(ok),
    }
}

/// `?consistent=true`: read after a linearizable barrier.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ReadOptions {
    #[serde(default)]
    consistent: bool,
}

/// Reads the query options and, when asked, waits for the read barrier.
pub(crate) struct Consistent;

impl FromRequestParts<AppState> for Consistent {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let node = &state.node;
        let Query(options) = Query::<ReadOptions>::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::bad_request(e.body_text()))?;
        if options.consistent {
            node.read_barrier().await.map_err(Problem::from)?;
        }
        Ok(Consistent)
    }
}

/// `?limit=N&after=CURSOR`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageQuery {
    #[serde(default)]
    pub(crate) limit: Option<usize>,
    #[serde(default)]
    pub(crate) after: Option<String>,
}

impl PageQuery {
    pub(crate) fn request(&self) -> Result<PageRequest, Problem> {
        let limit = self.limit.unwrap_or(0);
        if limit > MAX_PAGE {
            return Err(Problem::bad_request(format!(
                "limit {limit} exceeds the maximum page of {MAX_PAGE}"
            )));
        }
        let after = match &self.after {
            None => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                Problem::bad_request(format!("cursor {c:?} is not one this API returned"))
            })?),
        };
        Ok(PageRequest { after, limit })
    }
}

/// One page of a list, with the cursor of the next one.
#[derive(Debug, Serialize)]
pub(crate) struct PageView<T> {
    items: Vec<T>,
    next: Option<String>,
}

impl<T> PageView<T> {
    pub(crate) fn from_page<U>(page: Page<U>, f: impl FnMut(U) -> T) -> Self {
        PageView {
            items: page.items.into_iter().map(f).collect(),
            next: page.next.map(|k| encode_cursor(&k)),
        }
    }
}

fn encode_cursor(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || s.len() > 4096 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Header carrying a client's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The request id of a write: derived from the client's `Idempotency-Key` (the same on every
/// master, so a retry through another master is recognised) or fresh.
pub(crate) fn request_id(headers: &HeaderMap, scope: &str) -> Result<RequestId, Problem> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(Node::new_request_id());
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            Problem::bad_request("Idempotency-Key must be 1 to 255 visible ASCII characters")
        })?;
    let mut hasher = sha2::Sha256::new();
    hasher.update(scope.as_bytes());
    hasher.update([0]);
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    Ok(RequestId(u128::from_be_bytes(id)))
}

/// The leader's in-memory view (heartbeat ages, paused pools): this node's own when it leads,
/// asked from the leader otherwise, empty when no leader answers within a second.
pub(crate) async fn leader_state(node: &Node, scheduler: &Scheduler) -> LeaderState {
    if scheduler.ensure_leader().is_ok() {
        return scheduler.leader_state();
    }
    let Some(addr) = node.leader_hint().raft_addr else {
        return LeaderState::default();
    };
    match node
        .peers
        .call(
            &addr,
            std::time::Duration::from_secs(1),
            |c, ctx| async move { c.leader_view(ctx).await },
        )
        .await
    {
        Ok(Ok(state)) => state,
        _ => LeaderState::default(),
    }
}

/// `Query<T>` whose rejection (a malformed query string) is a problem+json 400.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|e| Problem::bad_request(e.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let key = vec![0u8, 1, 0xfe, 0xff];
        assert_eq!(decode_cursor(&encode_cursor(&key)), Some(key));
        assert_eq!(decode_cursor("abc"), None);
        assert_eq!(decode_cursor("zz"), None);
    }

    #[test]
    fn idempotency_keys_map_to_stable_request_ids() {
        let mut headers = HeaderMap::new();
        headers.insert(IDEMPOTENCY_KEY, "retry-me-1".parse().unwrap());
        let a = request_id(&headers, "POST /projects").unwrap();
        assert_eq!(a, request_id(&headers, "POST /projects").unwrap());
        assert_ne!(a, request_id(&headers, "POST /jobs").unwrap());
        headers.insert(IDEMPOTENCY_KEY, "has space".parse().unwrap());
        assert!(request_id(&headers, "x").is_err());
        assert_ne!(
            request_id(&HeaderMap::new(), "x").unwrap(),
            request_id(&HeaderMap::new(), "x").unwrap()
        );
    }
}
