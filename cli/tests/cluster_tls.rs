//! The cluster port refuses whoever is not what it claims, against a real 3-master cluster
//! speaking TLS (the harness's default): a plain-TCP client, a certificate from another CA, an
//! expired certificate, a worker's, a client's or no certificate on the master↔master
//! service, a valid certificate of a master that is not a member, and a worker acting as
//! another worker all fail to vote, append, propose, register or fetch. A non-member master is accepted once
//! an admin adds it, and the cluster keeps running jobs meanwhile.

mod common;

use std::time::{Duration, SystemTime};

use broadside_harness::{Cluster, Timings};
use broadside_pki::tls::ClusterTls;
use broadside_pki::{Ca, Identity, DEFAULT_VALIDITY};
use broadside_rpc::transport::{self, context_with_timeout, Reach, Security};
use broadside_rpc::worker::{Completion, Digest, Outcome, TaskRef, WorkerInfo};
use broadside_rpc::{CallError, Payload, RaftRpcClient, ServiceKind, WorkerRpcClient};
use common::*;

/// TLS presenting `who`'s certificate issued by `ca`, trusting the cluster's CA `trusted`
/// (PEM), valid from `from` to `to`, unchecked (as a hostile process would hold it).
fn holding(trusted: &str, ca: &Ca, who: &Identity, from: SystemTime, to: SystemTime) -> Security {
    let issued = ca.issue_between(who, &[], from, to).expect("issue");
    let tls = ClusterTls::from_pem_unchecked(trusted, &issued.cert_pem, &issued.key_pem)
        .expect("material");
    Security::tls(tls).expect("security")
}

fn valid(trusted: &str, ca: &Ca, who: &Identity) -> Security {
    let now = SystemTime::now();
    holding(
        trusted,
        ca,
        who,
        now - Duration::from_secs(60),
        now + DEFAULT_VALIDITY,
    )
}

fn ctx() -> tarpc::context::Context {
    context_with_timeout(Duration::from_secs(5))
}

/// A connection to `addr` for `kind` as `security`, or the transport failure as an outcome.
async fn dial(
    addr: &str,
    kind: ServiceKind,
    security: &Security,
) -> Result<transport::Stream, Vec<(&'static str, String)>> {
    transport::connect(
        addr,
        kind,
        Reach::AnyMaster,
        security,
        Duration::from_secs(5),
    )
    .await
    .map_err(|e| vec![("connect", format!("transport: {e}"))])
}

/// A worker-service client on a connection to `addr` as `security`.
async fn worker_client(
    addr: &str,
    security: &Security,
) -> Result<WorkerRpcClient, Vec<(&'static str, String)>> {
    let stream = dial(addr, ServiceKind::Worker, security).await?;
    Ok(WorkerRpcClient::new(
        tarpc::client::Config::default(),
        transport::framed(stream, ServiceKind::Worker),
    )
    .spawn())
}

/// Every master↔master call a stranger could use, each with the error it got: a transport
/// failure (`Err(transport: …)`) or the refusal.
async fn raft_calls(addr: &str, security: &Security) -> Vec<(&'static str, String)> {
    let stream = match dial(addr, ServiceKind::Raft, security).await {
        Ok(s) => s,
        Err(failed) => return failed,
    };
    let c = RaftRpcClient::new(
        tarpc::client::Config::default(),
        transport::framed(stream, ServiceKind::Raft),
    )
    .spawn();
    let outcome = |r: Result<Result<String, CallError>, tarpc::client::RpcError>| match r {
        Err(e) => format!("transport: {e}"),
        Ok(Err(e)) => format!("refused: {e}"),
        Ok(Ok(v)) => format!("ACCEPTED: {v}"),
    };
    let garbage = || Payload(vec![1, 2, 3]);
    vec![
        (
            "vote",
            outcome(
                c.vote(ctx(), garbage())
                    .await
                    .map(|r| r.map(|_| "a vote".into())),
            ),
        ),
        (
            "append_entries",
            outcome(
                c.append_entries(ctx(), garbage())
                    .await
                    .map(|r| r.map(|_| "an append".into())),
            ),
        ),
        (
            "propose",
            outcome(
                c.propose(ctx(), garbage())
                    .await
                    .map(|r| r.map(|_| "a proposal".into())),
            ),
        ),
        (
            "status",
            outcome(c.status(ctx()).await.map(|r| r.map(|s| format!("{s:?}")))),
        ),
    ]
}

/// Registration as `worker_id` and a chunk fetch, each with the error it got.
async fn worker_calls(
    addr: &str,
    security: &Security,
    worker_id: &str,
) -> Vec<(&'static str, String)> {
    let c = match worker_client(addr, security).await {
        Ok(c) => c,
        Err(failed) => return failed,
    };
    let info = WorkerInfo {
        worker_id: worker_id.to_owned(),
        pool: "default".into(),
        labels: vec![],
        slots: 1,
        version: "test".into(),
        address: "test".into(),
        running: vec![],
    };
    let register = match c.register(ctx(), info).await {
        Err(e) => format!("transport: {e}"),
        Ok(Err(e)) => format!("refused: {e}"),
        Ok(Ok(_)) => "ACCEPTED: registered".into(),
    };
    let fetch = match c.fetch_chunk(ctx(), Digest([0; 32]), 0).await {
        Err(e) => format!("transport: {e}"),
        Ok(Err(e)) => format!("refused: {e}"),
        Ok(Ok(_)) => "ACCEPTED: a chunk".into(),
    };
    vec![("register", register), ("fetch_chunk", fetch)]
}

fn assert_all(calls: &[(&str, String)], what: &str, expect: impl Fn(&str) -> bool) {
    assert!(!calls.is_empty());
    for (call, outcome) in calls {
        assert!(expect(outcome), "{what}: {call} gave {outcome}");
    }
}

fn forbidden(outcome: &str) -> bool {
    outcome.starts_with("refused: forbidden:")
}

fn cut_off(outcome: &str) -> bool {
    outcome.starts_with("transport:")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cluster_port_refuses_strangers_and_accepts_a_master_once_added() {
    let mut cluster = Cluster::start(binary(), 3, &Timings::fast());
    let leader = cluster.leader().await;
    let addr = cluster.master(leader).raft.to_string();
    let trusted = cluster.ca_pem().to_owned();
    let ours = cluster.ca();
    let theirs = Ca::init("elsewhere").expect("another CA");
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);

    // No TLS at all: the master's handshake fails on the preamble, nothing is answered.
    assert_all(
        &raft_calls(&addr, &Security::Plain).await,
        "plain TCP",
        cut_off,
    );
    assert_all(
        &worker_calls(&addr, &Security::Plain, "w9").await,
        "plain TCP",
        cut_off,
    );

    // A master's certificate from another CA, and an expired one from ours: refused in the
    // handshake.
    let foreign = valid(&trusted, &theirs, &Identity::Master(1));
    assert_all(&raft_calls(&addr, &foreign).await, "another CA", cut_off);
    let expired = holding(
        &trusted,
        ours,
        &Identity::Master(2),
        now - 3 * day,
        now - day,
    );
    assert_all(&raft_calls(&addr, &expired).await, "expired", cut_off);
    let foreign_worker = valid(&trusted, &theirs, &Identity::Worker("w9".into()));
    assert_all(
        &worker_calls(&addr, &foreign_worker, "w9").await,
        "a worker of another CA",
        cut_off,
    );

    // Valid certificates of another role, or none: disconnected before a request is read.
    let anonymous = Security::tls(ClusterTls::anonymous(&trusted).unwrap()).unwrap();
    let worker = valid(&trusted, ours, &Identity::Worker("w9".into()));
    let client = valid(&trusted, ours, &Identity::Client("ci".into()));
    let stranger = valid(&trusted, ours, &Identity::Master(4));
    for (what, security) in [
        ("no certificate", &anonymous),
        ("a worker's certificate", &worker),
        ("a client's certificate", &client),
    ] {
        assert_all(&raft_calls(&addr, security).await, what, cut_off);
    }
    for (what, security) in [
        ("no certificate", &anonymous),
        ("a master's certificate", &stranger),
    ] {
        assert_all(&worker_calls(&addr, security, "w9").await, what, cut_off);
    }
    // A valid master certificate of a non-member: refused by every call, by name.
    let calls = raft_calls(&addr, &stranger).await;
    assert_all(&calls, "a non-member master's certificate", forbidden);
    assert!(
        calls[0]
            .1
            .contains("master 4 is not a member of this cluster"),
        "{calls:?}"
    );

    // The worker service: only as the worker the certificate names.
    let calls = worker_calls(&addr, &worker, "w8").await;
    assert_eq!(calls[0].0, "register");
    assert!(forbidden(&calls[0].1), "{calls:?}");
    assert!(
        calls[0]
            .1
            .contains("calls as worker \"w8\" take that worker's certificate")
            && calls[0].1.contains("worker w9's certificate"),
        "{calls:?}"
    );

    // The cluster runs a job over TLS, with a worker whose certificate names it.
    cluster.add_worker("default", 1, &[]).await;
    cluster.wait_for_workers(1).await;
    let target = broadside_harness::target().await;
    let dir = tempfile::tempdir().unwrap();
    let sim = simulation(
        dir.path(),
        "tls",
        &target.base_url(),
        "      - at_once: 5",
        "",
    );
    let out = submit(&cluster, &sim, &["--parallelism", "1", "--wait"]);
    assert!(out.status.success(), "{}\n{}", text(&out), cluster.logs());
    assert_eq!(target.stats().snapshot().path("/json"), 5);

    // A worker's certificate is served as that worker (a blob none of its tasks pinned is
    // not served: unavailable).
    let calls = worker_calls(&addr, &worker, "w9").await;
    assert_eq!(calls[0].1, "ACCEPTED: registered", "{calls:?}");
    assert!(calls[1].1.contains("unavailable"), "{calls:?}");

    // As itself, w9 still cannot complete or hand back the attempt w1 ran.
    let w1_attempt = TaskRef {
        job_id: job_id(&out),
        task: 0,
        attempt: 1,
    };
    let c = worker_client(&addr, &worker).await.unwrap();
    let handed = c
        .hand_back(ctx(), "w9".into(), w1_attempt, 1000)
        .await
        .expect("an answer");
    assert!(
        matches!(&handed, Err(CallError::Forbidden(m)) if m.contains("is not worker w9's")),
        "{handed:?}"
    );
    let completed = c
        .complete(
            ctx(),
            Completion {
                worker_id: "w9".into(),
                task: w1_attempt,
                outcome: Outcome::Succeeded,
                deltas: vec![],
                result: Payload(vec![]),
            },
        )
        .await
        .expect("an answer");
    assert!(
        matches!(completed, Err(CallError::Forbidden(_))),
        "{completed:?}"
    );

    // An admin adds master 4: its certificate is then a member's.
    let id = cluster.add_master().await;
    assert_eq!(id, 4);
    let member = valid(&trusted, cluster.ca(), &Identity::Master(4));
    let calls = raft_calls(&addr, &member).await;
    assert!(
        calls
            .iter()
            .any(|(call, outcome)| *call == "status" && outcome.starts_with("ACCEPTED")),
        "{calls:?}"
    );
}

/// A TLS connection to `addr` trusting `ca_pem` only, offering `alpn`: the protocol the
/// server chose and the certificate it presented.
async fn handshake(addr: std::net::SocketAddr, ca_pem: &str, alpn: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("the handshake");
    let (_, session) = tls.get_ref();
    (
        session.alpn_protocol().unwrap_or_default().to_vec(),
        session.peer_certificates().unwrap()[0].to_vec(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rest_api_speaks_https_negotiates_http2_and_reloads_its_certificate() {
    let cluster = Cluster::start_with_rest_tls(binary(), 1, &Timings::fast());
    let leader = cluster.leader().await;
    let url = cluster.rest_url(leader);
    assert!(url.starts_with("https://"), "{url}");
    let ca = cluster.dir().join("pki/ca.pem");
    let cli = |extra: &[&str]| {
        std::process::Command::new(binary())
            .args(["cluster", "--master", &url])
            .args(extra)
            .env("BROADSIDE_TOKEN", cluster.admin_token())
            .output()
            .expect("the CLI runs")
    };
    // The CLI verifies the master against the cluster CA…
    let out = cli(&["--ca-cert", ca.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("leader"), "{}", text(&out));
    // …and refuses it against the web's roots.
    let out = cli(&[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).to_lowercase().contains("certificate"),
        "{}",
        text(&out)
    );
    // Plain HTTP gets no answer from the HTTPS port.
    let plain = broadside_client::Client::new([format!("http://{}", cluster.master(leader).http)])
        .with_token(cluster.admin_token())
        .with_timeout(Duration::from_secs(3));
    assert!(plain.whoami().await.is_err());

    // ALPN: HTTP/2 when offered, HTTP/1.1 otherwise.
    let addr = cluster.master(leader).http;
    let (h2, served) = handshake(addr, cluster.ca_pem(), &[b"h2", b"http/1.1"]).await;
    assert_eq!(h2, b"h2");
    let (h1, _) = handshake(addr, cluster.ca_pem(), &[b"http/1.1"]).await;
    assert_eq!(h1, b"http/1.1");

    // A renewed certificate written over the files is served without a restart.
    let renewed = cluster
        .ca()
        .issue(
            &Identity::Master(leader),
            &[broadside_pki::SubjectName::Ip([127, 0, 0, 1].into())],
            DEFAULT_VALIDITY,
        )
        .unwrap();
    let stem = cluster.dir().join(format!("pki/master-{leader}"));
    std::fs::write(stem.with_extension("key"), &renewed.key_pem).unwrap();
    std::fs::write(stem.with_extension("pem"), &renewed.cert_pem).unwrap();
    let expected = broadside_pki::first_cert_der(&renewed.cert_pem, "renewed")
        .unwrap()
        .to_vec();
    assert_ne!(expected, served);
    cluster
        .eventually("the renewed certificate to be served", || async {
            let (_, now) = handshake(addr, cluster.ca_pem(), &[b"h2"]).await;
            (now == expected).then_some(())
        })
        .await;
    // The master served throughout.
    assert!(cluster.client().whoami().await.is_ok());
}

#[test]
fn a_master_off_loopback_without_tls_says_which_flag_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(binary())
        .args([
            "master",
            "--id",
            "1",
            "--listen-raft",
            "0.0.0.0:0",
            "--listen-http",
            "0.0.0.0:0",
            "--data",
        ])
        .arg(dir.path())
        .output()
        .expect("the master runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("listen-http 0.0.0.0:0 is not on loopback: the REST API needs TLS (--tls-cert and --tls-key)")
            && said.contains("listen-raft 0.0.0.0:0 is not on loopback: the cluster port needs TLS (--ca-cert, --cert and --key"),
        "{said}"
    );
    // A certificate file that does not exist is named.
    let out = std::process::Command::new(binary())
        .args([
            "master",
            "--id",
            "1",
            "--listen-raft",
            "127.0.0.1:0",
            "--listen-http",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent/rest.pem",
            "--tls-key",
            "/nonexistent/rest.key",
            "--data",
        ])
        .arg(dir.path())
        .output()
        .expect("the master runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("cannot read /nonexistent/rest.pem"),
        "{}",
        text(&out)
    );
}
