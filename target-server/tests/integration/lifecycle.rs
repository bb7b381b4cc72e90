//! Stalls and shutdown: a stall delays requests arriving during it (and they
//! are counted on arrival), graceful shutdown lets in-flight requests finish,
//! and the grace period bounds how long it waits.

use std::time::{Duration, Instant};

use broadside_target::{Target, TargetConfig};
use http::{Method, StatusCode};
use tokio::net::TcpStream;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::{request, spawn_target, wait_for_stats, within, H1};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_delays_requests_that_arrive_during_it() {
    let target = spawn_target().await;
    let mut admin = H1::connect(target.addr).await;
    let mut conn = H1::connect(target.addr).await;
    // Warm up the measuring connection.
    assert_eq!(conn.get("/").await.status, StatusCode::OK);

    let stall = admin
        .send(request(Method::POST, "/admin/stall?ms=300", &[], ""))
        .await;
    assert_eq!(stall.status, StatusCode::OK);
    assert_eq!(stall.json()["stall_ms"], 300);

    let started = Instant::now();
    let stalled = tokio::spawn(async move {
        let reply = conn.get("/items/1").await;
        (reply.status, started.elapsed(), conn)
    });
    // Counted on arrival, while still waiting for the stall to end.
    let during = wait_for_stats(&target, "the stalled request to arrive", |s| {
        s.route("/items/{id}") == 1
    })
    .await;
    assert_eq!(during.in_flight, 1);
    assert_eq!(during.status(200), 1, "only the warm-up has a status yet");
    // Admin and stats endpoints are not stalled.
    assert_eq!(admin.get("/stats").await.status, StatusCode::OK);

    let (status, stalled_for, mut conn) = within(stalled).await.expect("stalled request");
    assert_eq!(status, StatusCode::OK);
    assert!(
        stalled_for >= Duration::from_millis(250),
        "stalled request took only {stalled_for:?}"
    );

    // The stall is over (the stalled request saw its end): fast again.
    let started = Instant::now();
    assert_eq!(conn.get("/items/2").await.status, StatusCode::OK);
    let fast = started.elapsed();
    assert!(
        fast * 2 < stalled_for,
        "after the stall {fast:?} vs {stalled_for:?}"
    );
    assert_eq!(target.stats().snapshot().status(200), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let target = spawn_target().await;
    let addr = target.addr;
    // An idle keep-alive connection must not hold up shutdown.
    let mut idle = H1::connect(addr).await;
    assert_eq!(idle.get("/").await.status, StatusCode::OK);

    let slow = tokio::spawn(async move { H1::connect(addr).await.get("/delay/300").await });
    wait_for_stats(&target, "the slow request to arrive", |s| s.in_flight == 1).await;

    let started = Instant::now();
    within(target.shutdown()).await.expect("clean shutdown");
    let took = started.elapsed();
    let reply = within(slow).await.expect("slow request task");
    assert_eq!(reply.status, StatusCode::OK, "in-flight request completed");
    assert_eq!(reply.json()["delayed_ms"], 300);
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");

    // The idle keep-alive connection was closed by the server. (Not checking
    // that new connects are refused: another test may reuse the port.)
    assert!(idle.try_send(crate::client::get("/")).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_grace_period_bounds_the_wait() {
    let target = Target::bind(TargetConfig::ephemeral())
        .await
        .expect("bind")
        .with_shutdown_grace(Duration::from_millis(200));
    let target = target.start();
    let addr = target.addr;
    let slow = tokio::spawn(async move {
        H1::connect(addr)
            .await
            .try_send(crate::client::get("/delay/30000"))
            .await
    });
    wait_for_stats(&target, "the slow request to arrive", |s| s.in_flight == 1).await;

    let started = Instant::now();
    within(target.shutdown()).await.expect("shutdown");
    assert!(started.elapsed() < Duration::from_secs(10));
    let outcome = within(slow).await.expect("slow task");
    assert!(
        outcome.is_err(),
        "the aborted request fails instead of hanging"
    );
}

#[tokio::test]
async fn dropping_the_handle_stops_the_target() {
    let target = spawn_target().await;
    let mut stream = within(TcpStream::connect(target.addr))
        .await
        .expect("connect");
    within(stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"))
        .await
        .expect("write");
    let mut received = Vec::new();
    while !received.ends_with(b"broadside target: ok\n") {
        let mut chunk = [0u8; 1024];
        let n = within(stream.read(&mut chunk)).await.expect("read");
        assert!(n > 0, "connection closed early: {received:?}");
        received.extend_from_slice(&chunk[..n]);
    }
    let stats = target.stats();
    drop(target);
    // The server closes the idle keep-alive connection as it shuts down.
    let mut rest = Vec::new();
    within(stream.read_to_end(&mut rest)).await.expect("EOF");
    assert!(rest.is_empty());
    assert_eq!(stats.snapshot().total, 1);
}

#[tokio::test]
async fn run_with_a_custom_shutdown_future() {
    let target = Target::bind(TargetConfig::ephemeral()).await.expect("bind");
    let addr = target.local_addr();
    assert_eq!(target.base_url(), format!("http://{addr}"));
    let stats = target.stats();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(target.run(async {
        let _ = rx.await;
    }));
    assert_eq!(
        crate::client::get_once(addr, "/json").await.status,
        StatusCode::OK
    );
    assert_eq!(stats.snapshot().path("/json"), 1);
    tx.send(()).expect("server still running");
    within(server).await.expect("join").expect("run result");
}
