//! Request routing: which endpoint a path is, and the per-request pipeline.
//!
//! [`handle`] is the whole per-request pipeline: classify the path, skip
//! counting for admin/stats endpoints, otherwise count the request, honour an
//! active stall, run the handler and count the produced status. Handlers never
//! panic; bad input gets a 400/404/405/413 JSON body.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, CONTENT_LENGTH};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::json;

use crate::auth::form_pairs;
use crate::handlers::{
    delay, echo, error, item, json_bytes, json_value, login, method_not_allowed, protected,
    redirect, root, status,
};
use crate::state::AppState;

/// The body type of every response.
pub(crate) type Body = Full<Bytes>;

const ATTRIBUTION: HeaderName = HeaderName::from_static(crate::ATTRIBUTION_HEADER);
const GET_HEAD: &str = "GET, HEAD";

/// The routes the target counts, by label (see [`Route::label`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `/`
    Root,
    /// `/delay/{ms}`
    Delay,
    /// `/status/{code}`
    Status,
    /// `/json`
    Json,
    /// `/items/{id}`
    Item,
    /// `/echo`
    Echo,
    /// `/login`
    Login,
    /// `/account`
    Account,
    /// `/orders`
    Orders,
    /// `/redirect/{n}`
    Redirect,
    /// Any other path (answered 404), label `(unmatched)`.
    Unmatched,
}

impl Route {
    /// Every route, in a fixed order.
    pub const ALL: [Route; 11] = [
        Route::Root,
        Route::Delay,
        Route::Status,
        Route::Json,
        Route::Item,
        Route::Echo,
        Route::Login,
        Route::Account,
        Route::Orders,
        Route::Redirect,
        Route::Unmatched,
    ];

    /// Position in [`Route::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The key used in [`StatsSnapshot::by_route`](crate::StatsSnapshot::by_route).
    pub fn label(self) -> &'static str {
        match self {
            Route::Root => "/",
            Route::Delay => "/delay/{ms}",
            Route::Status => "/status/{code}",
            Route::Json => "/json",
            Route::Item => "/items/{id}",
            Route::Echo => "/echo",
            Route::Login => "/login",
            Route::Account => "/account",
            Route::Orders => "/orders",
            Route::Redirect => "/redirect/{n}",
            Route::Unmatched => "(unmatched)",
        }
    }

    /// The single path a parameterless route matches, if it is one.
    pub fn fixed_path(self) -> Option<&'static str> {
        match self {
            Route::Root
            | Route::Json
            | Route::Echo
            | Route::Login
            | Route::Account
            | Route::Orders => Some(self.label()),
            _ => None,
        }
    }
}

/// Uncounted endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admin {
    Stats,
    StatsReset,
    Stall,
}

/// What a path routes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Counted(Route),
    Admin(Admin),
}

fn classify(path: &str) -> Endpoint {
    let route = match path {
        "/" => Route::Root,
        "/json" => Route::Json,
        "/echo" => Route::Echo,
        "/login" => Route::Login,
        "/account" => Route::Account,
        "/orders" => Route::Orders,
        "/stats" => return Endpoint::Admin(Admin::Stats),
        "/stats/reset" => return Endpoint::Admin(Admin::StatsReset),
        "/admin/stall" => return Endpoint::Admin(Admin::Stall),
        _ => {
            let with_param = [
                ("/delay/", Route::Delay),
                ("/status/", Route::Status),
                ("/items/", Route::Item),
                ("/redirect/", Route::Redirect),
            ];
            with_param
                .into_iter()
                .find(|(prefix, _)| param(path, prefix).is_some())
                .map_or(Route::Unmatched, |(_, route)| route)
        }
    };
    Endpoint::Counted(route)
}

/// The single non-empty segment after `prefix`, if `path` is `prefix{segment}`.
pub(crate) fn param<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    path.strip_prefix(prefix)
        .filter(|rest| !rest.is_empty() && !rest.contains('/'))
}

/// Answers one request: counting, stall, dispatch.
pub(crate) async fn handle(state: Arc<AppState>, req: Request<Incoming>) -> Response<Body> {
    if req.method() == Method::HEAD {
        without_body(respond(state, req).await)
    } else {
        respond(state, req).await
    }
}

/// Drops the body of a response to HEAD (HTTP/2 must not send it), keeping
/// the Content-Length a GET would have had.
fn without_body(mut response: Response<Body>) -> Response<Body> {
    let len = hyper::body::Body::size_hint(response.body())
        .exact()
        .unwrap_or(0);
    if len > 0 && !response.headers().contains_key(CONTENT_LENGTH) {
        response
            .headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    *response.body_mut() = Full::new(Bytes::new());
    response
}

async fn respond(state: Arc<AppState>, req: Request<Incoming>) -> Response<Body> {
    let route = match classify(req.uri().path()) {
        Endpoint::Admin(admin) => return handle_admin(&state, admin, &req),
        Endpoint::Counted(route) => route,
    };
    let stats = &state.stats;
    stats.record_request(
        req.method(),
        req.uri().path(),
        route,
        req.headers().get(&ATTRIBUTION),
    );
    let _in_flight = stats.in_flight_guard();
    state.stall.wait().await;
    let response = dispatch(&state, route, req).await;
    stats.record_status(response.status());
    response
}

async fn dispatch(state: &AppState, route: Route, req: Request<Incoming>) -> Response<Body> {
    let method = req.method();
    let get_or_head = method == Method::GET || method == Method::HEAD;
    match route {
        Route::Root if get_or_head => root(),
        Route::Json if get_or_head => json_bytes(StatusCode::OK, state.json_doc.clone()),
        Route::Item if get_or_head => item(req.uri().path()),
        Route::Account | Route::Orders if get_or_head => protected(state, route, &req),
        Route::Root | Route::Json | Route::Item | Route::Account | Route::Orders => {
            method_not_allowed(GET_HEAD)
        }
        Route::Login if method == Method::POST => login(state, req).await,
        Route::Login => method_not_allowed("POST"),
        Route::Delay => delay(req.uri().path()).await,
        Route::Status => status(req.uri().path()),
        Route::Redirect => redirect(req.uri().path(), req.uri().query()),
        Route::Echo => echo(req).await,
        Route::Unmatched => error(StatusCode::NOT_FOUND, "not found"),
    }
}

fn handle_admin(state: &AppState, admin: Admin, req: &Request<Incoming>) -> Response<Body> {
    let method = req.method();
    match admin {
        Admin::Stats if method == Method::GET || method == Method::HEAD => {
            match serde_json::to_vec(&state.stats.snapshot()) {
                Ok(body) => json_bytes(StatusCode::OK, body.into()),
                Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "cannot serialise stats"),
            }
        }
        Admin::Stats => method_not_allowed(GET_HEAD),
        Admin::StatsReset if method == Method::POST => {
            state.stats.reset();
            json_value(StatusCode::OK, &json!({ "reset": true }))
        }
        Admin::Stall if method == Method::POST => {
            let ms = form_pairs(req.uri().query().unwrap_or(""))
                .find(|(key, _)| key == "ms")
                .and_then(|(_, value)| value.trim().parse::<u64>().ok());
            match ms {
                Some(ms) => {
                    let applied = state.stall.start(Duration::from_millis(ms));
                    json_value(StatusCode::OK, &json!({ "stall_ms": applied.as_millis() }))
                }
                None => error(
                    StatusCode::BAD_REQUEST,
                    "query parameter ms=<milliseconds> required",
                ),
            }
        }
        Admin::StatsReset | Admin::Stall => method_not_allowed("POST"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_paths() {
        let counted = |route| Endpoint::Counted(route);
        let cases = [
            ("/", counted(Route::Root)),
            ("/json", counted(Route::Json)),
            ("/json/", counted(Route::Unmatched)),
            ("/delay/10", counted(Route::Delay)),
            ("/delay/abc", counted(Route::Delay)),
            ("/delay/", counted(Route::Unmatched)),
            ("/delay/1/2", counted(Route::Unmatched)),
            ("/items/7", counted(Route::Item)),
            ("/status/418", counted(Route::Status)),
            ("/redirect/3", counted(Route::Redirect)),
            ("/stats", Endpoint::Admin(Admin::Stats)),
            ("/stats/reset", Endpoint::Admin(Admin::StatsReset)),
            ("/admin/stall", Endpoint::Admin(Admin::Stall)),
            ("/admin/other", counted(Route::Unmatched)),
            ("", counted(Route::Unmatched)),
            ("*", counted(Route::Unmatched)),
        ];
        for (path, expected) in cases {
            assert_eq!(classify(path), expected, "{path:?}");
        }
    }

    #[test]
    fn route_table_is_consistent() {
        for (i, route) in Route::ALL.into_iter().enumerate() {
            assert_eq!(route.index(), i);
            if let Some(path) = route.fixed_path() {
                assert_eq!(classify(path), Endpoint::Counted(route));
            }
        }
    }
}
