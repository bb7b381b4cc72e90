//! Every endpoint's success and failure paths over HTTP/1.1.

use std::time::Instant;

use broadside_target::StatsSnapshot;
use http::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::{get_once, request, send_once, spawn_target, within, H1};

#[tokio::test]
async fn root_is_small_text_and_get_only() {
    let target = spawn_target().await;
    let mut conn = H1::connect(target.addr).await;
    let reply = conn.get("/").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "broadside target: ok\n");
    assert_eq!(reply.header("content-length"), "21");
    // Keep-alive: a second request on the same connection.
    assert_eq!(conn.get("/?x=1").await.status, StatusCode::OK);

    let head = conn.send(request(Method::HEAD, "/", &[], "")).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), "21");

    let post = conn.send(request(Method::POST, "/", &[], "x")).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.header("allow"), "GET, HEAD");
    assert_eq!(post.json()["status"], 405);
}

#[tokio::test]
async fn delay_waits_and_rejects_bad_values() {
    let target = spawn_target().await;
    let mut conn = H1::connect(target.addr).await;
    let started = Instant::now();
    let reply = conn.get("/delay/120").await;
    assert!(started.elapsed().as_millis() >= 120);
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["delayed_ms"], 120);

    assert_eq!(conn.get("/delay/0").await.status, StatusCode::OK);
    for bad in [
        "/delay/abc",
        "/delay/-1",
        "/delay/+1",
        "/delay/1.5",
        "/delay/99999999999999999999",
    ] {
        let reply = conn.get(bad).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(reply.json()["error"].is_string());
    }
    assert_eq!(conn.get("/delay/").await.status, StatusCode::NOT_FOUND);
    assert_eq!(conn.get("/delay/1/2").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn status_returns_the_code() {
    let target = spawn_target().await;
    let mut conn = H1::connect(target.addr).await;
    for code in [200u16, 201, 302, 404, 418, 500, 503, 599, 999] {
        let reply = conn.get(&format!("/status/{code}")).await;
        assert_eq!(reply.status.as_u16(), code);
        assert_eq!(reply.json()["status"], code);
    }
    let post = conn
        .send(request(Method::POST, "/status/201", &[], "{}"))
        .await;
    assert_eq!(post.status, StatusCode::CREATED);
    let empty = conn.get("/status/204").await;
    assert_eq!(empty.status, StatusCode::NO_CONTENT);
    assert!(empty.body.is_empty());
    for bad in [
        "/status/abc",
        "/status/99",
        "/status/100",
        "/status/1000",
        "/status/70000",
    ] {
        let reply = conn.get(bad).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(reply.json()["status"], 400);
    }
}

#[tokio::test]
async fn json_items_can_be_followed() {
    let target = spawn_target().await;
    let mut conn = H1::connect(target.addr).await;
    let reply = conn.get("/json").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), "application/json");
    let doc = reply.json();
    let items = doc["items"].as_array().expect("items array");
    assert_eq!(items.len(), 10);
    assert_eq!(doc["total"], 10);
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item["id"], i as u64 + 1);
        assert_eq!(item["name"], format!("item-{}", i + 1));
        assert!(item["price"].is_f64());
    }

    let next = doc["next"].as_str().expect("next link");
    let first = conn.get(next).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.json(), items[0], "the item agrees with the listing");

    let big = conn.get("/items/123456789").await.json();
    assert_eq!(big["id"], 123_456_789u64);
    assert_eq!(big["name"], "item-123456789");

    for bad in [
        "/items/abc",
        "/items/-1",
        "/items/+1",
        "/items/18446744073709551616",
    ] {
        let reply = conn.get(bad).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(reply.json()["status"], 404);
    }
    let post = conn.send(request(Method::POST, "/json", &[], "")).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn echo_reflects_the_request() {
    let target = spawn_target().await;
    let mut conn = H1::connect(target.addr).await;
    let headers = [("x-test", "one"), ("content-type", "text/plain")];
    let reply = conn
        .send(request(Method::PUT, "/echo?a=1&b=two", &headers, "hello ✓"))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = reply.json();
    assert_eq!(doc["method"], "PUT");
    assert_eq!(doc["path"], "/echo");
    assert_eq!(doc["query"], "a=1&b=two");
    assert_eq!(doc["version"], "HTTP/1.1");
    assert_eq!(doc["headers"]["x-test"], "one");
    assert_eq!(doc["headers"]["content-type"], "text/plain");
    assert_eq!(doc["body"], "hello ✓");
    assert_eq!(doc["truncated"], false);

    let invalid_utf8 = conn
        .send(request(Method::POST, "/echo", &[], vec![b'a', 0xff, b'b']))
        .await;
    assert_eq!(invalid_utf8.json()["body"], "a\u{fffd}b");

    let repeated = [("x-dup", "1"), ("x-dup", "2")];
    let reply = conn
        .send(request(Method::GET, "/echo", &repeated, ""))
        .await;
    assert_eq!(reply.json()["headers"]["x-dup"], "1, 2");
}

#[tokio::test]
async fn echo_caps_the_body_at_one_mebibyte() {
    let target = spawn_target().await;
    let body = vec![b'x'; 1024 * 1024 + 10];
    let reply = send_once(target.addr, request(Method::POST, "/echo", &[], body)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = reply.json();
    assert_eq!(doc["truncated"], true);
    assert_eq!(doc["body_bytes"], 1024 * 1024 + 10);
    assert_eq!(doc["body"].as_str().map(str::len), Some(1024 * 1024));
}

#[tokio::test]
async fn redirects_count_down_to_root() {
    let target = spawn_target().await;
    let mut conn = H1::connect(target.addr).await;
    let mut path = "/redirect/3".to_owned();
    let mut hops = 0;
    loop {
        let reply = conn.get(&path).await;
        if reply.status == StatusCode::FOUND {
            path = reply.header("location");
            hops += 1;
            assert!(hops <= 4, "too many hops");
        } else {
            assert_eq!(reply.status, StatusCode::OK);
            break;
        }
    }
    assert_eq!(hops, 4, "3 → 2 → 1 → 0 → /");
    assert_eq!(path, "/");
    assert_eq!(conn.get("/redirect/0").await.header("location"), "/");
    assert_eq!(
        conn.get("/redirect/x").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn unknown_and_odd_paths_get_json_errors() {
    let target = spawn_target().await;
    let mut conn = H1::connect(target.addr).await;
    let long = format!("/{}", "a".repeat(4000));
    for path in [
        "/nope",
        "/json/",
        "/%FF%00",
        "//",
        "/items/",
        "/admin/x",
        long.as_str(),
    ] {
        let reply = conn.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.json()["error"], "not found");
    }
    let options = conn.send(request(Method::OPTIONS, "/nope", &[], "")).await;
    assert_eq!(options.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn admin_endpoints_validate_input() {
    let target = spawn_target().await;
    let mut conn = H1::connect(target.addr).await;
    let stats = conn.get("/stats").await;
    assert_eq!(stats.status, StatusCode::OK);
    let snapshot: StatsSnapshot = serde_json::from_slice(&stats.body).expect("snapshot JSON");
    assert_eq!(snapshot.total, 0);

    let post_stats = conn.send(request(Method::POST, "/stats", &[], "")).await;
    assert_eq!(post_stats.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        conn.get("/stats/reset").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        conn.get("/admin/stall?ms=5").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    for bad in [
        "/admin/stall",
        "/admin/stall?ms=",
        "/admin/stall?ms=abc",
        "/admin/stall?x=1",
    ] {
        let reply = conn.send(request(Method::POST, bad, &[], "")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let capped = conn
        .send(request(Method::POST, "/admin/stall?ms=999999", &[], ""))
        .await;
    assert_eq!(capped.json()["stall_ms"], 60_000);
    let cleared = conn
        .send(request(Method::POST, "/admin/stall?ms=0", &[], ""))
        .await;
    assert_eq!(cleared.json()["stall_ms"], 0);
    // Admin requests are never counted.
    assert_eq!(target.stats().snapshot().total, 0);
}

#[tokio::test]
async fn garbage_on_the_wire_does_not_hurt_the_server() {
    let target = spawn_target().await;
    for garbage in [
        &b"\x00\x01\x02 not http\r\n\r\n"[..],
        b"GET /\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        // HTTP/2 preface, then a DATA frame on stream 0 instead of SETTINGS.
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x01\x00\x00\x00\x00\x00\x00x",
    ] {
        let mut stream = within(TcpStream::connect(target.addr))
            .await
            .expect("connect");
        within(stream.write_all(garbage)).await.expect("write");
        let mut sink = Vec::new();
        // The server answers with an error (or not) and closes.
        let _ = within(stream.read_to_end(&mut sink)).await;
    }
    assert_eq!(get_once(target.addr, "/").await.status, StatusCode::OK);
}
