//! A rough loopback benchmark of the target's fastest path: spawns a target on
//! `127.0.0.1:0`, hammers `GET /` from keep-alive connections in the same
//! process, then checks that the target counted exactly what was sent.
//!
//! ```text
//! cargo run --release -p broadside-target --example loopback_bench -- [seconds] [connections] [h1|h2]
//! ```
//!
//! Client and server share the machine's cores, so the number is a floor for
//! the server alone, not a measurement of it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use broadside_target::{Target, TargetConfig};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

type AnyError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let connections: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let h2 = args.next().as_deref() == Some("h2");

    let target = Target::spawn(TargetConfig::ephemeral()).await?;
    let addr = target.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let io = TokioIo::new(stream);
            let uri = format!("http://{addr}/");
            if h2 {
                let (mut sender, conn) = http2::handshake(TokioExecutor::new(), io).await?;
                tokio::spawn(conn);
                while !stop.load(Ordering::Relaxed) {
                    let req = Request::get(uri.as_str()).body(Empty::<Bytes>::new())?;
                    let response = sender.send_request(req).await?;
                    response.into_body().collect().await?;
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                let (mut sender, conn) = http1::handshake(io).await?;
                tokio::spawn(conn);
                while !stop.load(Ordering::Relaxed) {
                    let req = Request::get("/")
                        .header("host", addr.to_string())
                        .body(Empty::<Bytes>::new())?;
                    sender.ready().await?;
                    let response = sender.send_request(req).await?;
                    response.into_body().collect().await?;
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok::<_, AnyError>(())
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let sent = sent.load(Ordering::Relaxed);
    let snapshot = target.stats().snapshot();
    println!(
        "{} x {connections} connections: {sent} requests in {elapsed:.1} s = {:.0} req/s; target counted {} (200: {})",
        if h2 { "h2c" } else { "HTTP/1.1" },
        sent as f64 / elapsed,
        snapshot.total,
        snapshot.status(200),
    );
    target.shutdown().await?;
    if snapshot.total != sent {
        return Err("target count differs from requests sent".into());
    }
    Ok(())
}
