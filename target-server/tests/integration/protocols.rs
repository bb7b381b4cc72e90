//! HTTP/2 prior knowledge on the plain port, and TLS with ALPN `h2` and
//! `http/1.1` against a client that trusts exactly the generated certificate.

use std::sync::Arc;

use broadside_target::tls::{client_config_trusting, server_name_for, ALPN_PROTOCOLS};
use broadside_target::{Target, TargetConfig, TargetHandle};
use http::{Method, StatusCode, Version};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::client::{request, spawn_target, wait_for_stats, within, H1, H2};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_serves_concurrent_streams() {
    let target = spawn_target().await;
    let conn = H2::connect(target.addr).await;
    let reply = conn.clone().get("/").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.version, Version::HTTP_2);
    assert_eq!(reply.text(), "broadside target: ok\n");

    let echo = conn
        .clone()
        .send(request(
            Method::POST,
            "/echo?q=1",
            &[("x-h", "v")],
            "h2 body",
        ))
        .await
        .json();
    assert_eq!(echo["version"], "HTTP/2.0");
    assert_eq!(echo["body"], "h2 body");
    assert_eq!(echo["query"], "q=1");
    assert_eq!(echo["headers"]["x-h"], "v");

    // Many streams at once on the one connection, including slow ones.
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let mut conn = conn.clone();
            tokio::spawn(async move { conn.get(&format!("/delay/{}", i % 3 * 20)).await.status })
        })
        .collect();
    for task in tasks {
        assert_eq!(within(task).await.expect("task"), StatusCode::OK);
    }
    let snapshot = wait_for_stats(&target, "all h2 requests", |s| s.total == 52).await;
    assert_eq!(snapshot.route("/delay/{ms}"), 50);
    assert_eq!(snapshot.status(200), 52);
}

async fn tls_target() -> TargetHandle {
    Target::spawn(TargetConfig::ephemeral().with_tls(true))
        .await
        .expect("spawn TLS target")
}

/// Connects with TLS offering `alpn`; returns the stream and the negotiated
/// protocol.
async fn tls_connect(
    target: &TargetHandle,
    alpn: &[&[u8]],
) -> (TlsStream<TcpStream>, Option<Vec<u8>>) {
    let cert = target.tls().expect("TLS target").certificate_der();
    let config = client_config_trusting(cert, alpn).expect("client config");
    let connector = TlsConnector::from(Arc::new(config));
    let tcp = within(TcpStream::connect(target.addr))
        .await
        .expect("connect");
    let stream = within(connector.connect(server_name_for(target.addr), tcp))
        .await
        .expect("TLS handshake");
    let negotiated = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    (stream, negotiated)
}

#[tokio::test]
async fn tls_with_alpn_h2() {
    let target = tls_target().await;
    assert!(target.base_url().starts_with("https://127.0.0.1:"));
    let pem = target.tls().expect("TLS").certificate_pem();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));

    let (stream, negotiated) = tls_connect(&target, &ALPN_PROTOCOLS).await;
    assert_eq!(negotiated.as_deref(), Some(&b"h2"[..]));
    let mut conn = H2::over(stream, target.base_url()).await;
    let reply = conn.get("/json").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.version, Version::HTTP_2);
    assert_eq!(reply.json()["total"], 10);
    assert_eq!(conn.get("/echo").await.json()["version"], "HTTP/2.0");
}

#[tokio::test]
async fn tls_with_alpn_http11_or_none() {
    let target = tls_target().await;
    for alpn in [&[&b"http/1.1"[..]][..], &[]] {
        let (stream, negotiated) = tls_connect(&target, alpn).await;
        assert_eq!(negotiated, alpn.first().map(|p| p.to_vec()));
        let mut conn = H1::over(stream, target.addr).await;
        let reply = conn.get("/").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.version, Version::HTTP_11);
        assert_eq!(conn.get("/echo").await.json()["version"], "HTTP/1.1");
    }
    assert_eq!(target.stats().snapshot().total, 4);
}

#[tokio::test]
async fn tls_target_refuses_plain_text_without_harm() {
    let target = tls_target().await;
    let tcp = within(TcpStream::connect(target.addr))
        .await
        .expect("connect");
    let mut plain = H1::over(tcp, target.addr).await;
    let refused = plain.try_send(crate::client::get("/")).await;
    assert!(
        refused.is_err(),
        "plain HTTP must not be served on the TLS port"
    );
    let (stream, _) = tls_connect(&target, &ALPN_PROTOCOLS).await;
    assert_eq!(
        H2::over(stream, target.base_url())
            .await
            .get("/")
            .await
            .status,
        StatusCode::OK
    );
}
