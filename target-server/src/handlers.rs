//! The endpoint handlers and JSON response helpers. Every handler validates
//! its input and answers bad input with a JSON error instead of panicking.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::json;

use crate::auth::{login_username, LoginError};
use crate::routes::{param, Body, Route};
use crate::state::{AppState, MAX_WAIT};

/// Body of `GET /`.
const ROOT_BODY: &[u8] = b"broadside target: ok\n";
/// Longest echoed body, in bytes.
const ECHO_KEEP: usize = 1024 * 1024;
/// Bytes of an over-long `/echo` body read (and discarded) before giving up.
const ECHO_DRAIN: u64 = 64 * 1024 * 1024;
/// Largest accepted `/login` body.
const LOGIN_MAX: usize = 64 * 1024;
/// Items listed by `GET /json`.
const JSON_DOC_ITEMS: u64 = 10;

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// `GET /`: a fixed body, no allocation and no extra headers (hyper adds
/// `content-length` and `date` itself).
pub(crate) fn root() -> Response<Body> {
    Response::new(Full::new(Bytes::from_static(ROOT_BODY)))
}

/// Parses a plain decimal number (digits only: no sign, no spaces).
fn number<T: std::str::FromStr>(raw: &str) -> Option<T> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// Deterministic price of an item, between 1.00 and 99.99.
fn item_price(id: u64) -> f64 {
    let cents = id.wrapping_mul(2_654_435_761) % 9_900 + 100;
    cents as f64 / 100.0
}

/// One item as JSON.
fn item_json(id: u64) -> serde_json::Value {
    json!({ "id": id, "name": format!("item-{id}"), "price": item_price(id) })
}

/// Renders the body of `GET /json` (done once per target).
pub(crate) fn render_json_doc() -> Bytes {
    let items: Vec<_> = (1..=JSON_DOC_ITEMS).map(item_json).collect();
    let doc = json!({ "items": items, "total": JSON_DOC_ITEMS, "next": "/items/1" });
    Bytes::from(doc.to_string())
}

/// `GET /items/{id}`: the item, or 404 JSON for a non-numeric id.
pub(crate) fn item(path: &str) -> Response<Body> {
    let raw = param(path, "/items/").unwrap_or("");
    match number::<u64>(raw) {
        Some(id) => json_value(StatusCode::OK, &item_json(id)),
        None => json_value(
            StatusCode::NOT_FOUND,
            &json!({ "error": "item not found", "status": 404, "id": raw }),
        ),
    }
}

/// `/delay/{ms}`: waits (capped at [`MAX_WAIT`]), then 200 JSON.
pub(crate) async fn delay(path: &str) -> Response<Body> {
    let Some(ms) = param(path, "/delay/").and_then(number::<u64>) else {
        return error(
            StatusCode::BAD_REQUEST,
            "delay must be a whole number of milliseconds",
        );
    };
    let wait = Duration::from_millis(ms).min(MAX_WAIT);
    tokio::time::sleep(wait).await;
    json_value(StatusCode::OK, &json!({ "delayed_ms": wait.as_millis() }))
}

/// `/status/{code}`: answers with that (non-informational) status.
pub(crate) fn status(path: &str) -> Response<Body> {
    let code = param(path, "/status/")
        .and_then(number::<u16>)
        .and_then(|code| StatusCode::from_u16(code).ok())
        .filter(|code| !code.is_informational());
    let Some(code) = code else {
        return error(
            StatusCode::BAD_REQUEST,
            "status must be a code from 200 to 999",
        );
    };
    if matches!(code.as_u16(), 204 | 205 | 304) {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = code;
        return response;
    }
    json_value(code, &json!({ "status": code.as_u16() }))
}

/// `/redirect/{n}`: 302 to `/redirect/{n-1}`, or for 0 to `/` — or to the URL in `?to=`
/// (percent-encoded), so that tests can send a client to another origin.
pub(crate) fn redirect(path: &str, query: Option<&str>) -> Response<Body> {
    let Some(n) = param(path, "/redirect/").and_then(number::<u64>) else {
        return error(
            StatusCode::BAD_REQUEST,
            "redirect count must be a whole number",
        );
    };
    let to = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("to="))
        .map(|v| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        });
    let location = match (n.checked_sub(1), to) {
        (Some(next), Some(_)) => format!("/redirect/{next}?{}", query.unwrap_or_default()),
        (Some(next), None) => format!("/redirect/{next}"),
        (None, Some(to)) => to,
        (None, None) => "/".to_owned(),
    };
    let mut response = json_value(StatusCode::FOUND, &json!({ "location": location }));
    if let Ok(value) = HeaderValue::try_from(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// A request body read up to a limit.
struct ReadBody {
    /// The first bytes, at most the `keep` limit.
    data: Vec<u8>,
    /// Bytes received in total (including discarded ones).
    total: u64,
    /// Whether more was sent than kept.
    truncated: bool,
}

/// Reads `body`, keeping at most `keep` bytes and reading at most `drain`
/// bytes before giving up. `None` if the client broke the body off.
async fn read_body(mut body: Incoming, keep: usize, drain: u64) -> Option<ReadBody> {
    let mut read = ReadBody {
        data: Vec::new(),
        total: 0,
        truncated: false,
    };
    while let Some(frame) = body.frame().await {
        let Ok(chunk) = frame.ok()?.into_data() else {
            continue; // trailers
        };
        read.total = read.total.saturating_add(chunk.len() as u64);
        let room = keep.saturating_sub(read.data.len());
        if chunk.len() > room {
            read.truncated = true;
        }
        read.data.extend_from_slice(&chunk[..room.min(chunk.len())]);
        if read.total >= drain {
            break;
        }
    }
    Some(read)
}

/// `/echo`: method, path, query, version, headers and body (capped) as JSON.
pub(crate) async fn echo(req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let Some(body) = read_body(body, ECHO_KEEP, ECHO_DRAIN).await else {
        return error(StatusCode::BAD_REQUEST, "request body was cut off");
    };
    let mut headers = serde_json::Map::new();
    for (name, value) in &parts.headers {
        let text = String::from_utf8_lossy(value.as_bytes());
        let merged = match headers.remove(name.as_str()) {
            Some(serde_json::Value::String(previous)) => format!("{previous}, {text}"),
            _ => text.into_owned(),
        };
        headers.insert(name.as_str().to_owned(), merged.into());
    }
    let doc = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query().unwrap_or(""),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body": String::from_utf8_lossy(&body.data),
        "body_bytes": body.total,
        "truncated": body.truncated,
    });
    json_value(StatusCode::OK, &doc)
}

/// `POST /login`: a bearer token for any non-empty username.
pub(crate) async fn login(state: &AppState, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let Some(body) = read_body(body, LOGIN_MAX, LOGIN_MAX as u64 + 1).await else {
        return error(StatusCode::BAD_REQUEST, "request body was cut off");
    };
    if body.truncated {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "login body too large");
    }
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    match login_username(content_type, &body.data) {
        Ok(username) => {
            let token = state.auth.issue(&username);
            json_value(
                StatusCode::OK,
                &json!({ "token": token, "token_type": "Bearer", "username": username }),
            )
        }
        Err(LoginError::MissingUsername) => unauthorized("username required"),
        Err(LoginError::Malformed) => error(StatusCode::BAD_REQUEST, "malformed login body"),
        Err(LoginError::UsernameTooLong) => error(StatusCode::BAD_REQUEST, "username too long"),
    }
}

/// `GET /account` and `GET /orders`: need a token issued by `/login`.
pub(crate) fn protected(state: &AppState, route: Route, req: &Request<Incoming>) -> Response<Body> {
    let Some(username) = state.auth.verify_header(req.headers().get(AUTHORIZATION)) else {
        return unauthorized("valid bearer token required");
    };
    let doc = if route == Route::Account {
        json!({ "username": username, "plan": "load-test", "balance": 100.0 })
    } else {
        let orders: Vec<_> = (1..=3u64)
            .map(|id| json!({ "id": id, "item_id": id, "quantity": id, "price": item_price(id) }))
            .collect();
        json!({ "username": username, "orders": orders, "total": 3 })
    };
    json_value(StatusCode::OK, &doc)
}

/// A JSON response from already serialised bytes.
pub(crate) fn json_bytes(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, JSON);
    response
}

/// A JSON response.
pub(crate) fn json_value(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    json_bytes(status, Bytes::from(value.to_string()))
}

/// `{"error": message, "status": code}`.
pub(crate) fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_value(
        status,
        &json!({ "error": message, "status": status.as_u16() }),
    )
}

/// 401 with `WWW-Authenticate: Bearer`.
fn unauthorized(message: &str) -> Response<Body> {
    let mut response = error(StatusCode::UNAUTHORIZED, message);
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// 405 with an `Allow` header.
pub(crate) fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_doc_is_valid() {
        let doc: serde_json::Value =
            serde_json::from_slice(&render_json_doc()).expect("valid JSON");
        assert_eq!(doc["total"], 10);
        assert_eq!(doc["items"].as_array().map(Vec::len), Some(10));
        assert_eq!(doc["items"][0]["id"], 1);
        assert_eq!(doc["next"], "/items/1");
        for id in [0, 1, u64::MAX] {
            let price = item_price(id);
            assert!((1.0..100.0).contains(&price), "{price}");
        }
    }
}
