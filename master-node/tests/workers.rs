//! The worker protocol with scripted fake workers: register, pull, the coordinated start,
//! heartbeats with acknowledged deltas, a silent worker's task reassigned with a new attempt,
//! its stale reports refused, completion, and abort delivered within a heartbeat; then the
//! job's merged result, reports, live stream and task logs built from the committed deltas.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use broadside_engine::metrics::{RequestStats, RunStats};
use broadside_engine::wire::{LogLevel, LogLine, TaskDelta};
use broadside_rpc::transport::{self, context_with_timeout};
use broadside_rpc::worker::{
    Assignment, Completion, Delta, Heartbeat, HeartbeatReply, Order, Outcome, PullRequest,
    TaskPhase, TaskRef, TaskReport, WorkerInfo,
};
use broadside_rpc::{CallError, Payload, ServiceKind, WorkerRpcClient};
use common::{eventually, get, post_json, request, Sandbox};
use serde_json::json;

const SIMULATION: &str = "\
name: smoke
http:
  base_url: http://127.0.0.1:9
scenarios:
  - name: s
    injection:
      - at_once: 4
    steps:
      - request: { name: home, url: / }
";

async fn client(addr: SocketAddr) -> WorkerRpcClient {
    let stream = transport::connect(
        &addr.to_string(),
        ServiceKind::Worker,
        transport::Reach::AnyMaster,
        &transport::Security::Plain,
        Duration::from_secs(5),
    )
    .await
    .expect("connect");
    WorkerRpcClient::new(
        tarpc::client::Config::default(),
        transport::framed(stream, ServiceKind::Worker),
    )
    .spawn()
}

/// Registers `id`, waiting while a new leader takes office.
async fn register(c: &WorkerRpcClient, id: &str) -> broadside_rpc::worker::Registered {
    eventually("the registration", || async {
        match c.register(ctx(), info(id)).await.expect("transport") {
            Ok(r) => Some(r),
            Err(CallError::Unavailable(_)) => None,
            Err(e) => panic!("registration refused: {e}"),
        }
    })
    .await
}

fn ctx() -> tarpc::context::Context {
    context_with_timeout(Duration::from_secs(20))
}

fn info(id: &str) -> WorkerInfo {
    WorkerInfo {
        worker_id: id.into(),
        pool: "default".into(),
        labels: vec![],
        slots: 1,
        version: "test".into(),
        address: "fake".into(),
        running: vec![],
    }
}

async fn pull(c: &WorkerRpcClient, id: &str) -> Option<Assignment> {
    c.pull(
        ctx(),
        PullRequest {
            worker_id: id.into(),
            free_slots: 1,
            wait_ms: 2_000,
        },
    )
    .await
    .expect("transport")
    .expect("pull")
}

async fn beat(
    c: &WorkerRpcClient,
    id: &str,
    task: TaskRef,
    phase: TaskPhase,
    deltas: Vec<Delta>,
) -> HeartbeatReply {
    c.heartbeat(
        ctx(),
        Heartbeat {
            worker_id: id.into(),
            sent_at_ms: 0,
            tasks: vec![TaskReport {
                task,
                phase,
                elapsed_ms: 0,
                users: 0,
                deltas,
            }],
            ended: vec![],
        },
    )
    .await
    .expect("transport")
    .expect("heartbeat")
}

/// Delta `seq`: one successful `home` request taking `seq` ms and one log line.
fn delta(seq: u64) -> Delta {
    let mut stats = RunStats::default();
    let mut home = RequestStats::default();
    home.record(Duration::from_millis(seq), true);
    stats.requests.insert("home".into(), home);
    let d = TaskDelta {
        elapsed_ms: seq * 200,
        users: 1,
        stats,
        logs: vec![LogLine::new(seq, LogLevel::Warn, &format!("line {seq}"))],
        logs_dropped: 0,
        ..TaskDelta::default()
    };
    Delta {
        seq,
        data: Payload(d.encode().expect("encodes")),
    }
}

async fn job_state(sandbox: &Sandbox, id: u64) -> serde_json::Value {
    get(
        sandbox.http(1),
        &format!("/api/v1/jobs/{id}?consistent=true"),
    )
    .await
    .json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fake_workers_run_a_job_through_a_reassignment() {
    let sandbox = Sandbox::start(3).await;
    let leader = sandbox.leader().await;
    let follower = sandbox.other_than(leader);
    let http = sandbox.http(leader);
    assert_eq!(
        post_json(http, "/api/v1/projects", json!({"name": "team"}))
            .await
            .status,
        201
    );
    let put = request(
        http,
        "PUT",
        "/api/v1/projects/team/files/sim.yaml",
        &[],
        SIMULATION,
    )
    .await;
    assert_eq!(put.status, 201);
    let job = post_json(
        http,
        "/api/v1/projects/team/jobs",
        json!({"simulation": "sim.yaml", "parallelism": 2}),
    )
    .await;
    assert_eq!(job.status, 201, "{:?}", job.body);
    let job_id = job.json()["id"].as_u64().unwrap();

    // A follower points at the leader.
    let f = client(sandbox.config(follower).listen_raft).await;
    match f.register(ctx(), info("w1")).await.expect("transport") {
        Err(CallError::NotLeader(hint)) => {
            assert_eq!(
                hint.raft_addr.as_deref(),
                Some(sandbox.config(leader).listen_raft.to_string().as_str())
            )
        }
        other => panic!("expected NotLeader, got {other:?}"),
    }

    let c = client(sandbox.config(leader).listen_raft).await;
    for w in ["w1", "w2"] {
        let registered = register(&c, w).await;
        assert_eq!(registered.heartbeat_ms, 200);
    }
    let a1 = pull(&c, "w1").await.expect("a task for w1");
    let a2 = pull(&c, "w2").await.expect("a task for w2");
    assert_ne!(
        a1.task.task, a2.task.task,
        "tasks of one job go to distinct workers"
    );
    assert_eq!((a1.task.attempt, a2.task.attempt), (1, 1));
    assert_eq!(a1.simulation.path, "sim.yaml");
    assert!(pull(&c, "w1").await.is_none(), "one slot each");

    // All claimed: one start instant, delivered on heartbeats.
    let start = eventually("the start order", || async {
        beat(&c, "w1", a1.task, TaskPhase::Ready, vec![])
            .await
            .orders
            .into_iter()
            .find_map(|o| match o {
                Order::Start { at_ms, .. } => Some(at_ms),
                _ => None,
            })
    })
    .await;
    assert_eq!(job_state(&sandbox, job_id).await["start_at_ms"], start);

    // Deltas are acknowledged once committed; duplicates are harmless.
    let acked = eventually("acknowledged deltas", || async {
        let reply = beat(
            &c,
            "w1",
            a1.task,
            TaskPhase::Running,
            vec![delta(1), delta(2)],
        )
        .await;
        reply
            .acks
            .iter()
            .find(|a| a.task == a1.task && a.up_to == 2)
            .copied()
    })
    .await;
    assert_eq!(acked.up_to, 2);
    assert_eq!(job_state(&sandbox, job_id).await["state"], "running");

    // w2 falls silent while w1 keeps beating; a third worker takes w2's task with attempt 2.
    let w3 = client(sandbox.config(leader).listen_raft).await;
    register(&w3, "w3").await;
    let a3 = eventually("the reassigned task", || async {
        beat(&c, "w1", a1.task, TaskPhase::Running, vec![]).await;
        pull(&w3, "w3").await
    })
    .await;
    assert_eq!(a3.task.task, a2.task.task);
    assert_eq!(a3.task.attempt, 2);
    assert!(
        a3.resume_from_ms.is_some(),
        "a reassignment resumes from the elapsed offset"
    );

    // The old attempt is fenced: told to stop (nothing acknowledged: w2 is dead), its
    // completion refused.
    let stale = beat(&c, "w2", a2.task, TaskPhase::Running, vec![delta(1)]).await;
    assert!(!stale.registered);
    assert!(stale.acks.is_empty());
    assert!(stale
        .orders
        .iter()
        .any(|o| matches!(o, Order::Stop { task, .. } if *task == a2.task)));
    let refused = c
        .complete(
            ctx(),
            Completion {
                worker_id: "w2".into(),
                task: a2.task,
                outcome: Outcome::Succeeded,
                deltas: vec![],
                result: Payload(vec![]),
            },
        )
        .await
        .unwrap();
    assert!(matches!(refused, Err(CallError::Stale(_))), "{refused:?}");

    // w1 completes; an abort reaches w3 on its next heartbeat.
    c.complete(
        ctx(),
        Completion {
            worker_id: "w1".into(),
            task: a1.task,
            outcome: Outcome::Succeeded,
            deltas: vec![delta(3)],
            result: Payload(b"result".to_vec()),
        },
    )
    .await
    .unwrap()
    .expect("completion accepted");
    let tasks = get(
        http,
        &format!("/api/v1/jobs/{job_id}/tasks?consistent=true"),
    )
    .await
    .json();
    let done = &tasks["items"][a1.task.task as usize];
    assert_eq!(done["state"], "succeeded");
    assert_eq!(done["deltas"], 3);
    let aborted = request(
        http,
        "POST",
        &format!("/api/v1/jobs/{job_id}/abort"),
        &[],
        "",
    )
    .await;
    assert_eq!(aborted.status, 200, "{:?}", aborted.body);
    let orders = beat(&w3, "w3", a3.task, TaskPhase::Running, vec![])
        .await
        .orders;
    assert!(
        orders
            .iter()
            .any(|o| matches!(o, Order::Abort { task, .. } if *task == a3.task)),
        "{orders:?}"
    );

    // The registry through REST, from a follower: heartbeat ages come from the leader. w1 idles
    // but keeps beating, so it is (again) alive.
    let workers = eventually("w1 alive in the registry", || async {
        c.heartbeat(
            ctx(),
            Heartbeat {
                worker_id: "w1".into(),
                sent_at_ms: 0,
                tasks: vec![],
                ended: vec![],
            },
        )
        .await
        .unwrap()
        .unwrap();
        let workers = get(sandbox.http(follower), "/api/v1/workers?consistent=true")
            .await
            .json();
        let alive = workers["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["id"] == "w1" && w["state"] == "alive");
        alive.then_some(workers)
    })
    .await;
    let items = workers["items"].as_array().unwrap();
    let w1 = items.iter().find(|w| w["id"] == "w1").expect("w1 listed");
    assert!(w1["last_heartbeat_age_ms"].as_u64().is_some(), "{w1}");
    let w2 = items.iter().find(|w| w["id"] == "w2").expect("w2 listed");
    assert_eq!(w2["state"], "dead");
    // Forgetting an alive worker is refused; draining one stops its pulls; a drained worker
    // holding nothing is forgotten.
    let refused = request(
        sandbox.http(follower),
        "DELETE",
        "/api/v1/workers/w3",
        &[],
        "",
    )
    .await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    let drained = request(
        sandbox.http(follower),
        "POST",
        "/api/v1/workers/w1/drain",
        &[],
        "",
    )
    .await;
    assert_eq!(drained.json()["state"], "draining");
    assert!(pull(&c, "w1").await.is_none());
    let forgotten = request(
        sandbox.http(follower),
        "DELETE",
        "/api/v1/workers/w1",
        &[],
        "",
    )
    .await;
    assert_eq!(forgotten.status, 204, "{:?}", forgotten.body);
    assert_eq!(
        get(http, "/api/v1/workers/w1?consistent=true").await.status,
        404
    );

    let metrics = get(http, "/metrics").await;
    let text = String::from_utf8_lossy(&metrics.body).to_string();
    assert!(text.contains("broadside_raft_is_leader 1"), "{text}");
    assert!(
        text.contains("broadside_workers{state=\"dead\"} 1"),
        "{text}"
    );
    let beats: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("broadside_worker_heartbeats_total "))
        .and_then(|v| v.parse().ok())
        .expect("heartbeat counter");
    assert!(beats > 0);

    // The merged result: w1's three deltas (w2's stale one was never folded).
    let result = get(
        sandbox.http(follower),
        &format!("/api/v1/jobs/{job_id}/result?consistent=true"),
    )
    .await;
    assert_eq!(result.status, 200, "{:?}", result.body);
    let summary = result.json();
    assert_eq!(summary["requests"]["all"]["count"], 3, "{summary}");
    assert_eq!(summary["simulation"], "smoke");
    let html = get(http, &format!("/api/v1/jobs/{job_id}/report.html")).await;
    assert_eq!(html.status, 200);
    assert!(String::from_utf8_lossy(&html.body).contains("smoke"));
    let junit = get(http, &format!("/api/v1/jobs/{job_id}/junit.xml")).await;
    assert!(String::from_utf8_lossy(&junit.body).contains("<testsuite"));
    // The live stream of a finished job: everything so far, then its end.
    let live = get(http, &format!("/api/v1/jobs/{job_id}/live")).await;
    let text = String::from_utf8_lossy(&live.body).to_string();
    assert!(text.contains("event: progress"), "{text}");
    assert!(text.contains("\"count\":3"), "{text}");
    assert!(text.contains("event: log"), "{text}");
    assert!(
        text.trim_end().ends_with("}") && text.contains("event: end"),
        "{text}"
    );
    // Task logs, tail and bad input.
    let logs = get(
        http,
        &format!("/api/v1/jobs/{job_id}/tasks/{}/logs?tail=2", a1.task.task),
    )
    .await;
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&logs.body)
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    assert_eq!(
        lines
            .iter()
            .map(|l| l["message"].clone())
            .collect::<Vec<_>>(),
        vec![json!("line 2"), json!("line 3")]
    );
    assert_eq!(lines[0]["level"], "warn");
    for (path, status) in [
        (format!("/api/v1/jobs/{job_id}/tasks/9/logs"), 404),
        (
            format!("/api/v1/jobs/{job_id}/tasks/0/logs?tail=99999999"),
            400,
        ),
        (format!("/api/v1/jobs/{job_id}/tasks/0/logs?bogus=1"), 400),
        ("/api/v1/jobs/424242/result".to_owned(), 404),
        ("/api/v1/jobs/x/live".to_owned(), 400),
    ] {
        assert_eq!(get(http, &path).await.status, status, "{path}");
    }

    // Files are served by content address.
    let chunk = c
        .fetch_chunk(ctx(), a1.simulation.sha256, 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(chunk.data.0, SIMULATION.as_bytes());
    // A blob this replica does not hold (yet): ask again, not a failure of the task.
    let unknown = c
        .fetch_chunk(ctx(), broadside_rpc::worker::Digest([7; 32]), 0)
        .await
        .unwrap();
    assert!(
        matches!(unknown, Err(CallError::Unavailable(ref e)) if e.contains("0707")),
        "{unknown:?}"
    );
    // A chunk past the blob's end is the caller's mistake.
    let past = c
        .fetch_chunk(ctx(), a1.simulation.sha256, 99)
        .await
        .unwrap();
    assert!(matches!(past, Err(CallError::BadRequest(_))), "{past:?}");
    sandbox.shutdown().await;
}

/// A leader cut off from the other masters still believes it leads; it must stop answering
/// workers within an election timeout, or it would renew leases the new leader ignores.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_without_quorum_stops_serving_workers() {
    let mut sandbox = Sandbox::start(3).await;
    let leader = sandbox.leader().await;
    let c = client(sandbox.config(leader).listen_raft).await;
    register(&c, "w1").await;
    for id in sandbox.running() {
        if id != leader {
            sandbox.stop(id).await;
        }
    }
    let refusal = eventually("the refusal", || async {
        let reply = c
            .heartbeat(
                ctx(),
                Heartbeat {
                    worker_id: "w1".into(),
                    sent_at_ms: 0,
                    tasks: vec![],
                    ended: vec![],
                },
            )
            .await
            .expect("transport");
        match reply {
            Err(e @ CallError::Unavailable(_)) => Some(e),
            _ => None,
        }
    })
    .await;
    assert!(refusal.to_string().contains("quorum"), "{refusal}");
    sandbox.shutdown().await;
}
