//! Distributed runs with real processes on loopback: `broadside master` ×3, `broadside worker`
//! ×N, `broadside submit`, and the built-in target (in this process), which attributes every
//! request to its task attempt (`x-broadside-attribution`).
//!
//! Tests run one at a time (they share the machine's two cores and use short leases).

mod common;

use std::time::Duration;

use broadside_client::api::{JobState, TaskState};
use broadside_engine::metrics::RunStats;
use broadside_harness::{signal, target, Timings};
use broadside_target::ATTRIBUTION_HEADER;
use common::*;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_job_counts_every_request_once_through_a_leader_kill() {
    let _serial = SERIAL.lock().await;
    assert_eq!(
        ATTRIBUTION_HEADER,
        broadside_worker::task::ATTRIBUTION_HEADER,
        "the worker tags requests with the header the target reads"
    );
    let target = target().await;
    let mut cluster = cluster_with(3).await;
    let dir = tempfile::tempdir().unwrap();
    // 30 at once, then 60 over 5 s: exactly 90 requests, split 30/30/30.
    let sim = simulation(
        dir.path(),
        "split",
        &target.base_url(),
        "      - at_once: 30\n      - ramp_users: { users: 60, during: 5s }",
        "assertions:\n  - metric: failed_percent\n    lte: 0\n",
    );
    let out = submit(&cluster, &sim, &["--parallelism", "3"]);
    assert!(out.status.success(), "{}", text(&out));
    let id = job_id(&out);
    let client = cluster.client();
    cluster
        .eventually("the job to run", || async {
            job(&client, id)
                .await
                .filter(|j| j.state == JobState::Running)
                .map(drop)
        })
        .await;
    // Mid-run: the leader dies; a new one takes over within the workers' lease.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let leader = cluster.leader().await;
    cluster.kill(leader);
    let done = finished(&cluster, &client, id).await;
    assert_eq!(
        done.state,
        JobState::Completed,
        "{done:?}\n{}",
        cluster.logs()
    );
    assert_eq!(done.reassignments, 0, "a failover reassigned a task");
    for t in tasks(&client, id).await {
        assert_eq!(t.attempt, 1, "{t:?}");
    }
    let summary = result(&client, id).await;
    assert_eq!(summary.requests(), 90, "{}", summary.summary);
    assert_eq!(target.stats().snapshot().total, 90);
    for task in 0..3 {
        assert_eq!(attribution_count(&target, &format!("{id}-{task}-1")), 30);
    }
    assert!(summary.report.passed());
    assert!(summary.start_skew_ms.is_some(), "{}", summary.summary);
    println!(
        "start skew of 3 tasks: {} ms",
        summary.start_skew_ms.unwrap_or_default()
    );

    // The merged percentiles are those of the three task reports merged.
    let mut merged = RunStats::default();
    for task in 0..3 {
        let report = client.task_result(id, task).await.expect("task result");
        merged.merge(&report.report.stats);
    }
    let job_stats = summary.report.stats;
    for p in [50.0, 75.0, 95.0, 99.0, 99.9, 100.0] {
        assert_eq!(
            job_stats.total().latency.percentile_micros(p),
            merged.total().latency.percentile_micros(p),
            "p{p}"
        );
    }
    assert_eq!(job_stats.total().count(), merged.total().count());

    // Replicate mode: every task runs the whole simulation.
    let before = target.stats().snapshot().total;
    let sim = simulation(
        dir.path(),
        "replicate",
        &target.base_url(),
        "      - at_once: 10",
        "",
    );
    let out = submit(
        &cluster,
        &sim,
        &["--parallelism", "3", "--replicate", "--wait"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(target.stats().snapshot().total - before, 30);
    target.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_worker_task_resumes_elsewhere_without_overlap() {
    let _serial = SERIAL.lock().await;
    let target = target().await;
    let mut cluster = cluster_with(3).await;
    let dir = tempfile::tempdir().unwrap();
    // 20 requests a second for 8 s.
    let sim = simulation(
        dir.path(),
        "resume",
        &target.base_url(),
        "      - constant_users_per_sec: { rate: 20, during: 8s }",
        "",
    );
    let out = submit(&cluster, &sim, &["--parallelism", "2"]);
    assert!(out.status.success(), "{}", text(&out));
    let id = job_id(&out);
    let client = cluster.client();
    let running = cluster
        .eventually("task 0 running", || async {
            let t = tasks(&client, id).await;
            let first = t.first()?.clone();
            (first.state == TaskState::Running).then_some(first)
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Its worker process dies.
    let victim = running.worker_id.clone().unwrap();
    let index = worker_index(&cluster, &victim);
    cluster.kill_worker(index);
    let done = finished(&cluster, &client, id).await;
    assert_eq!(
        done.state,
        JobState::Completed,
        "{done:?}\n{}",
        cluster.logs()
    );
    let task0 = tasks(&client, id).await[0].clone();
    assert_eq!(task0.attempt, 2, "{task0:?}");
    assert_ne!(task0.worker_id.as_deref(), Some(victim.as_str()));
    let stats = target.stats().snapshot();
    let old = stats
        .attribution(&format!("{id}-0-1"))
        .expect("attempt 1 ran")
        .clone();
    let new = stats
        .attribution(&format!("{id}-0-2"))
        .expect("attempt 2 ran")
        .clone();
    assert!(
        old.last_unix_ms < new.first_unix_ms,
        "attempts overlapped: old until {}, new from {}",
        old.last_unix_ms,
        new.first_unix_ms
    );
    // Resumed at the elapsed offset: the shape is kept, nothing is sent twice.
    let summary = result(&client, id).await;
    let reported = summary.requests();
    assert!(stats.total <= 160, "more than planned: {}", stats.total);
    assert!(
        reported <= stats.total,
        "{reported} reported > {} received",
        stats.total
    );
    assert!(reported >= 100, "too little load: {reported}");
    target.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_worker_is_fenced_and_a_drained_one_hands_its_task_back() {
    let _serial = SERIAL.lock().await;
    let target = target().await;
    let mut cluster = cluster_with(2).await;
    let dir = tempfile::tempdir().unwrap();
    let sim = simulation(
        dir.path(),
        "pause",
        &target.base_url(),
        "      - constant_users_per_sec: { rate: 20, during: 10s }",
        "",
    );
    let out = submit(&cluster, &sim, &["--parallelism", "1"]);
    let id = job_id(&out);
    let client = cluster.client();
    let running = cluster
        .eventually("the task running", || async {
            let t = tasks(&client, id).await.first()?.clone();
            (t.state == TaskState::Running).then_some(t)
        })
        .await;
    let victim = running.worker_id.clone().unwrap();
    let index = worker_index(&cluster, &victim);
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Paused past its lease and the reassignment delay, then resumed.
    let pid = cluster.worker(index).pid().unwrap();
    signal(pid, "STOP");
    cluster
        .eventually("the reassignment", || async {
            let t = tasks(&client, id).await.first()?.clone();
            (t.attempt == 2).then_some(())
        })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let woke_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    signal(pid, "CONT");
    // The other worker drains while it runs attempt 2: the task is handed back and resumes
    // (attempt 3) at once — on the resumed worker, which is alive again.
    cluster
        .eventually("attempt 2 running", || async {
            let t = tasks(&client, id).await.first()?.clone();
            (t.state == TaskState::Running && t.attempt == 2).then_some(())
        })
        .await;
    let other = 3 - index;
    assert_eq!(
        cluster.stop_worker(other).await,
        Some(0),
        "{}",
        cluster.logs()
    );
    let done = finished(&cluster, &client, id).await;
    assert_eq!(
        done.state,
        JobState::Completed,
        "{done:?}\n{}",
        cluster.logs()
    );
    let window = |a: u32| attempt_window(&target, id, a);
    let (_, old_last) = window(1).expect("attempt 1 ran");
    let (new_first, new_last) = window(2).expect("attempt 2 ran");
    // The paused worker may send what it had in flight when it was stopped the instant it
    // wakes, before its watchdog stops it (a pause cannot be fenced at the target): a
    // tolerance of one heartbeat tick after the wake, and nothing after the new attempt began
    // unless the wake came later.
    assert!(
        old_last < new_first.max(woke_ms) + 200,
        "the fenced attempt kept loading: until {old_last}, the new one from {new_first}, woken at {woke_ms}\n{:?}\n{}",
        tasks(&client, id).await,
        cluster.logs()
    );
    let Some((third_first, _)) = window(3) else {
        panic!(
            "attempt 3 did not run after the drain: {:?}\n{}",
            tasks(&client, id).await,
            cluster.logs()
        );
    };
    assert!(new_last <= third_first + 200, "drained attempt overlapped");
    // Every request the target received is counted: the paused attempt's last deltas arrive
    // late, after it woke up fenced; the drained one's before its hand-back.
    let received = target.stats().snapshot().total;
    let reported = reported_exactly(&cluster, &client, id, received).await;
    // Every planned arrival: sent by one of the three attempts or skipped while the task had
    // none; the paused and the drained attempts delivered their last deltas.
    let a = account(&reported);
    assert_eq!(
        (a.planned, a.unaccounted, a.not_reached),
        (200, 0, 0),
        "{a:?}"
    );
    let late = reported.report.distribution.map_or(0, |d| d.late_requests);
    println!(
        "paused past its lease, then drained: {received} received and reported ({late} late); arrivals planned {}, sent {}, skipped by reassignment {}",
        a.planned, a.sent, a.skipped_by_reassignment
    );
    target.shutdown().await.unwrap();
}

/// A worker silent past its lease *and* past its schedule's end, resumed before the master gives
/// up on it: when it wakes, every remaining arrival meets the closed lease gate at once and the
/// engine may see its schedule end before the stop. The attempt withheld load, so it must be
/// handed back (and resumed where the job stands), never completed as if it had run in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_silent_past_its_lease_and_its_schedule_hands_the_task_back() {
    let _serial = SERIAL.lock().await;
    let target = target().await;
    // Lease 2.5 s; the master reassigns after 2.5 + 0.3 + 3 s of silence: a 4 s pause loses
    // the worker's lease but not yet its task.
    let timings = Timings {
        reassign_margin: Duration::from_secs(3),
        failover_grace: Duration::from_secs(6),
        ..Timings::fast()
    };
    let cluster = cluster_with_timings(1, &timings).await;
    let dir = tempfile::tempdir().unwrap();
    // 20 requests a second for 2 s: 40 planned, the end passes during the pause.
    let sim = simulation(
        dir.path(),
        "silent",
        &target.base_url(),
        "      - constant_users_per_sec: { rate: 20, during: 2s }",
        "",
    );
    let id = job_id(&submit(&cluster, &sim, &["--parallelism", "1"]));
    let client = cluster.client();
    cluster
        .eventually("the task running", || async {
            let t = tasks(&client, id).await.first()?.clone();
            (t.state == TaskState::Running).then_some(())
        })
        .await;
    let pid = cluster.worker(1).pid().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal(pid, "STOP");
    tokio::time::sleep(Duration::from_secs(4)).await;
    signal(pid, "CONT");
    let done = finished(&cluster, &client, id).await;
    let first = attribution_count(&target, &format!("{id}-0-1"));
    let task = tasks(&client, id).await[0].clone();
    assert!(first < 40, "the pause withheld nothing: {first} requests");
    assert_eq!(
        (done.state, task.attempt),
        (JobState::Completed, 2),
        "an attempt that sent {first} of 40 requests was not handed back: {task:?}\n{}",
        cluster.logs()
    );
    assert_eq!(done.reassignments, 1, "{done:?}");
    // The resumed attempt starts where the job stands (past its end): nothing is sent twice.
    let received = target.stats().snapshot().total;
    assert!(received <= 40, "more than planned: {received}");
    let reported = result(&client, id).await.requests();
    assert!(
        reported <= received,
        "{reported} reported > {received} received"
    );
    target.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_exit_codes_abort_and_bad_input() {
    let _serial = SERIAL.lock().await;
    let target = target().await;
    let cluster = cluster_with(1).await;
    let dir = tempfile::tempdir().unwrap();
    let passing = simulation(
        dir.path(),
        "passing",
        &target.base_url(),
        "      - at_once: 5",
        "assertions:\n  - metric: count\n    gte: 5\n",
    );
    let out_dir = dir.path().join("report");
    let out = submit(
        &cluster,
        &passing,
        &["--wait", "--out", out_dir.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for file in ["summary.json", "index.html", "junit.xml"] {
        assert!(out_dir.join(file).is_file(), "{file} missing");
    }
    let failing = simulation(
        dir.path(),
        "failing",
        &target.base_url(),
        "      - at_once: 5",
        "assertions:\n  - metric: count\n    gt: 1000\n",
    );
    let out = submit(&cluster, &failing, &["--wait"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // Bad input: located errors, exit 2, nothing submitted.
    let missing = submit(&cluster, &dir.path().join("nope.yaml"), &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing).contains("nope.yaml"), "{}", text(&missing));
    let invalid = dir.path().join("invalid.yaml");
    std::fs::write(&invalid, "name: bad\nscenarios:\n  - name: s\n    injection: []\n    steps:\n      - request: { url: 5 }\n").unwrap();
    let out = submit(&cluster, &invalid, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("invalid.yaml:"), "{}", text(&out));

    // Abort from the command line.
    let long = simulation(
        dir.path(),
        "long",
        &target.base_url(),
        "      - constant_users_per_sec: { rate: 5, during: 60s }",
        "",
    );
    let id = job_id(&submit(&cluster, &long, &[]));
    let client = cluster.client();
    cluster
        .eventually("the long job running", || async {
            job(&client, id)
                .await
                .filter(|j| j.state == JobState::Running)
                .map(drop)
        })
        .await;
    let masters = cluster.http_addrs()[0].to_string();
    let out = std::process::Command::new(binary())
        .args(["abort", &id.to_string(), "--master", &masters])
        .env("BROADSIDE_TOKEN", cluster.admin_token())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let done = finished(&cluster, &client, id).await;
    assert_eq!(done.state, JobState::Aborted);
    // The load stops within a heartbeat or two.
    let value = format!("{id}-0-1");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled = attribution_count(&target, &value);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        attribution_count(&target, &value),
        settled,
        "load after the abort"
    );
    let out = std::process::Command::new(binary())
        .args(["jobs", "--master", &masters])
        .env("BROADSIDE_TOKEN", cluster.admin_token())
        .output()
        .unwrap();
    assert!(text(&out).contains("aborted"), "{}", text(&out));
    target.shutdown().await.unwrap();
}
