//! The cluster port refuses whoever is not what it claims, against a real 3-master cluster
//! speaking TLS (the harness's default): a plain-TCP client, a certificate from another CA, an
//! expired certificate, a worker's, a client's or no certificate on the master↔master
//! service, a valid certificate of a master that is not a member, and a worker acting as
//! another worker all fail to vote, append, propose, register or fetch. A non-member master is accepted once
//! an admin adds it, and the cluster keeps running jobs meanwhile. A worker joins with a join
//! token; its id is then its alone, and revoking the token stops its task through the lease
//! and resumes it elsewhere without overlap.

mod common;

use std::time::{Duration, SystemTime};

use broadside_client::api::{NewJoinToken, TaskState};
use broadside_harness::{Cluster, Timings};
use broadside_pki::tls::ClusterTls;
use broadside_pki::{Ca, Identity, DEFAULT_VALIDITY};
use broadside_rpc::transport::{self, context_with_timeout, Credential, Reach, Security};
use broadside_rpc::worker::{Completion, Digest, JoinRequest, Outcome, TaskRef, WorkerInfo};
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

/// What worker `worker_id` of `pool` registers with.
fn info(worker_id: &str, pool: &str) -> WorkerInfo {
    WorkerInfo {
        worker_id: worker_id.to_owned(),
        pool: pool.to_owned(),
        labels: vec![],
        slots: 1,
        version: "test".into(),
        address: "test".into(),
        running: vec![],
    }
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
    let register = match c.register(ctx(), info(worker_id, "default")).await {
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
    assert_all(
        &worker_calls(&addr, &stranger, "w9").await,
        "a master's certificate",
        cut_off,
    );
    // Without a certificate, the worker service stays open for a join only.
    assert_all(
        &worker_calls(&addr, &anonymous, "w9").await,
        "no certificate",
        forbidden,
    );
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

/// Submits a simulation of 20 requests a second for `seconds` to `target` in `parallelism`
/// tasks: its directory (kept while the test needs the file), the file and the job's id.
fn submit_rate(
    cluster: &Cluster,
    target: &broadside_target::TargetHandle,
    name: &str,
    seconds: u32,
    parallelism: u32,
) -> (tempfile::TempDir, std::path::PathBuf, u64) {
    let dir = tempfile::tempdir().unwrap();
    let injection = format!("      - constant_users_per_sec: {{ rate: 20, during: {seconds}s }}");
    let sim = simulation(dir.path(), name, &target.base_url(), &injection, "");
    let out = submit(cluster, &sim, &["--parallelism", &parallelism.to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    let job = job_id(&out);
    (dir, sim, job)
}

/// The credential a joined worker keeps in its data directory.
fn stored_credential(cluster: &Cluster, index: usize) -> Credential {
    let file = cluster.dir().join(format!("w{index}/worker-credential"));
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).expect("a credential")).unwrap();
    Credential {
        worker_id: stored["worker_id"].as_str().unwrap().to_owned(),
        secret: stored["secret"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_joined_worker_owns_its_id_and_revoking_its_token_moves_its_task_without_overlap() {
    let mut cluster = Cluster::start(binary(), 3, &Timings::fast());
    let leader = cluster.leader().await;
    let addr = cluster.master(leader).raft.to_string();
    let client = cluster.client();
    let created = client
        .create_join_token(&NewJoinToken {
            name: "fleet".into(),
            pool: "default".into(),
            expires_in: None,
        })
        .await
        .expect("a join token");
    assert!(created.secret.starts_with("bsj_"), "{created:?}");
    assert!(!format!("{created:?}").contains(&created.secret));

    // A token the cluster did not make: the worker says so and exits.
    let bogus = format!("bsj_{}_{}", "0".repeat(16), "a".repeat(43));
    let refused = std::process::Command::new(binary())
        .args(["worker", "--masters", &addr, "--ca-cert"])
        .arg(cluster.dir().join("pki/ca.pem"))
        .arg("--data")
        .arg(cluster.dir().join("bogus"))
        .env("BROADSIDE_JOIN_TOKEN", &bogus)
        .output()
        .expect("the worker runs");
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("the join token is unknown, expired or revoked"),
        "{}",
        text(&refused)
    );

    // A worker joins; its id and secret are kept in its data directory.
    let joined = cluster
        .add_worker_joining("default", 1, &created.secret)
        .await;
    cluster.wait_for_workers(1).await;
    let credential = stored_credential(&cluster, joined);
    assert_eq!(
        Some(&credential.worker_id),
        cluster.worker_id(joined).as_ref()
    );
    let id = credential.worker_id.clone();
    let trusted = cluster.ca_pem().to_owned();
    let anonymous = Security::tls(ClusterTls::anonymous(&trusted).unwrap()).unwrap();

    // Its id is its own: another secret opens no connection; with nothing, or with its own
    // credential as another worker, every call is refused; and its identity binds it to the
    // token's pool.
    assert!(id.ends_with("@default"), "{id}");
    let wrong_secret = anonymous.with_credential(Credential {
        worker_id: id.clone(),
        secret: "x".repeat(43),
    });
    assert_all(
        &worker_calls(&addr, &wrong_secret, &id).await,
        "another secret",
        cut_off,
    );
    assert_all(
        &worker_calls(&addr, &anonymous, &id).await,
        "nothing",
        forbidden,
    );
    let own = anonymous.with_credential(credential.clone());
    let as_w2 = worker_calls(&addr, &own, "w2").await;
    assert!(
        as_w2[0].0 == "register" && forbidden(&as_w2[0].1),
        "its credential as w2: {as_w2:?}"
    );
    let c = worker_client(&addr, &own).await.unwrap();
    let elsewhere = c
        .register(ctx(), info(&id, "other"))
        .await
        .expect("an answer");
    assert!(
        matches!(&elsewhere, Err(CallError::Forbidden(m)) if m.contains("joined pool \"default\"")),
        "{elsewhere:?}"
    );

    // A job runs on the joined worker; a worker with a certificate stands by.
    let target = broadside_harness::target().await;
    let (_dir, _, job) = submit_rate(&cluster, &target, "revoke", 12, 1);
    cluster
        .eventually("the task running on the joined worker", || async {
            let t = tasks(&client, job).await;
            let first = t.first()?;
            (first.state == TaskState::Running && first.worker_id.as_deref() == Some(&id))
                .then_some(())
        })
        .await;
    cluster
        .eventually("load from the joined worker", || async {
            (attribution_count(&target, &format!("{job}-0-1")) >= 20).then_some(())
        })
        .await;
    let standby = cluster.add_worker("default", 1, &[]).await;
    cluster.wait_for_workers(2).await;
    // Joining with the standby's certificate name gives another id: no token holder takes a
    // certificate worker's place.
    let joiner = worker_client(&addr, &anonymous).await.unwrap();
    let joined_as = joiner
        .join(
            ctx(),
            JoinRequest {
                token: created.secret.clone(),
                name: "w2".into(),
                secret: "A".repeat(43),
            },
        )
        .await
        .expect("an answer")
        .expect("joined");
    assert_eq!(cluster.worker_id(standby).as_deref(), Some("w2"));
    assert_eq!(joined_as.worker_id, "w2@default");

    // Revoking the token revokes the identity it gave: refused from the next call, the task
    // stops with its lease and resumes on the standby.
    let cli = |args: &[&str]| {
        std::process::Command::new(binary())
            .args(args)
            .args(["--master", &cluster.rest_url(leader)])
            .env("BROADSIDE_TOKEN", cluster.admin_token())
            .output()
            .expect("the CLI runs")
    };
    let out = cli(&["join-tokens", "revoke", &created.join_token.id]);
    assert!(out.status.success(), "{}", text(&out));
    let out = cli(&["join-tokens", "list", "--json"]);
    let listed: Vec<broadside_client::api::JoinTokenInfo> =
        serde_json::from_slice(&out.stdout).expect("the listing");
    assert!(
        listed
            .iter()
            .any(|t| t.id == created.join_token.id && t.revoked_at_ms.is_some()),
        "{listed:?}"
    );
    cluster
        .eventually("the revoked credential to open nothing", || async {
            let calls = worker_calls(&addr, &own, &id).await;
            calls
                .iter()
                .all(|(_, outcome)| cut_off(outcome))
                .then_some(())
        })
        .await;
    let finished = finished(&cluster, &client, job).await;
    let t = tasks(&client, job).await;
    assert_eq!(
        t[0].worker_id.as_deref(),
        cluster.worker_id(standby).as_deref(),
        "{t:?}\n{finished:?}"
    );
    let (_, old_last) = attempt_window(&target, job, 1).expect("attempt 1 ran");
    let (new_first, _) = attempt_window(&target, job, 2).expect("attempt 2 ran");
    assert!(
        old_last < new_first,
        "attempts overlapped: the revoked worker sent until {old_last}, the standby from {new_first}"
    );
    // The revoked worker stopped by itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = cluster.worker_exit(joined) {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the revoked worker did not exit\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!status.success());
    // Every planned arrival is accounted for; what the revoked worker sent after its last
    // accepted report is among the arrivals stated as unaccounted.
    let received = target.stats().snapshot().total;
    let reported = result(&client, job).await;
    let a = account(&reported);
    assert_eq!(a.planned, 240, "{a:?}");
    assert!(reported.requests() <= received);
    assert!(
        received - reported.requests() <= a.unaccounted,
        "{received} received, {} reported, {a:?}",
        reported.requests()
    );
    println!(
        "revoked mid-run: attempt 1 until {old_last}, attempt 2 from {new_first} ({} ms gap); \
         {received} received, {} reported; {a:?}",
        new_first - old_last,
        reported.requests()
    );
}

/// The certificate (DER) master `id` presents on its cluster port now.
async fn served_on_cluster_port(cluster: &Cluster, id: u64, client: &Security) -> Option<Vec<u8>> {
    let addr = cluster.master(id).raft.to_string();
    let stream = transport::connect(
        &addr,
        ServiceKind::Worker,
        Reach::Master(id),
        client,
        Duration::from_secs(5),
    )
    .await
    .ok()?;
    match stream {
        tokio_util::either::Either::Right(tokio_rustls::TlsStream::Client(tls)) => {
            Some(tls.get_ref().1.peer_certificates()?.first()?.to_vec())
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn renewed_certificates_are_taken_while_a_job_runs_and_nothing_stops() {
    let cluster = cluster_with(2).await;
    let client = cluster.client();
    let target = broadside_harness::target().await;
    let (_dir, sim, job) = submit_rate(&cluster, &target, "rotate", 10, 2);
    cluster
        .eventually("both tasks running", || async {
            let t = tasks(&client, job).await;
            (t.len() == 2 && t.iter().all(|t| t.state == TaskState::Running)).then_some(())
        })
        .await;
    let anonymous = Security::tls(ClusterTls::anonymous(cluster.ca_pem()).unwrap()).unwrap();
    let before = served_on_cluster_port(&cluster, 1, &anonymous)
        .await
        .expect("a certificate");

    // Every master's and worker's certificate is renewed on disk, mid-run.
    let mut renewed = Vec::new();
    for id in 1..=3 {
        let pem = cluster.renew_certificate(&Identity::Master(id));
        renewed.push(
            broadside_pki::first_cert_der(&pem, "renewed")
                .unwrap()
                .to_vec(),
        );
    }
    for w in ["w1", "w2"] {
        cluster.renew_certificate(&Identity::Worker(w.into()));
    }
    assert_ne!(renewed[0], before);
    // Each master serves its new certificate on new connections, without a restart.
    for id in 1..=3u64 {
        let expected = renewed[id as usize - 1].clone();
        cluster
            .eventually(
                &format!("master {id} to serve its renewed certificate"),
                || {
                    let (cluster, anonymous, expected) = (&cluster, &anonymous, expected.clone());
                    async move {
                        (served_on_cluster_port(cluster, id, anonymous).await? == expected)
                            .then_some(())
                    }
                },
            )
            .await;
    }
    // The workers took theirs too (their log says so; their open connections keep the old).
    cluster
        .eventually("both workers to reload their certificates", || async {
            let logs = ["w1.log", "w2.log"]
                .map(|f| std::fs::read_to_string(cluster.dir().join(f)).unwrap_or_default());
            logs.iter()
                .all(|l| l.contains("certificate reloaded"))
                .then_some(())
        })
        .await;

    // The job ran through: completed, every request the target received reported, no task
    // moved.
    let finished = finished(&cluster, &client, job).await;
    assert_eq!(
        finished.state,
        broadside_client::api::JobState::Completed,
        "{finished:?}\n{}",
        cluster.logs()
    );
    let received = target.stats().snapshot().total;
    let reported = reported_exactly(&cluster, &client, job, received).await;
    let a = account(&reported);
    assert_eq!((a.planned, a.sent), (200, 200), "{a:?}");
    assert!(
        tasks(&client, job).await.iter().all(|t| t.attempt == 1),
        "a task moved"
    );
    // A job submitted after the renewal runs on the new certificates.
    let out = submit(&cluster, &sim, &["--parallelism", "2", "--wait"]);
    assert!(out.status.success(), "{}\n{}", text(&out), cluster.logs());
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
