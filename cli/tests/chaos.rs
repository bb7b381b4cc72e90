//! Chaos scenarios (short profile, run in CI): real masters, clients writing through random
//! masters, a seeded nemesis, and the oracle of `broadside-chaos-tests` — nothing acknowledged
//! is lost, nothing refused appears, and every master ends with the same state. Each run
//! prints its seed and figures. The long profile mixes nemeses for as long as asked:
//! `cargo run -p broadside-chaos-tests --release -- --duration 30m --seed 42`.

use std::time::Duration;

mod common;

use broadside_chaos_tests::{run_under_load, schedule, Fault, Figures, JobTolerances, Run};
use broadside_client::api::{JobState, TaskState};
use broadside_harness::{target, Cluster, Peer, Timings};
use common::{
    account, attempt_window, attribution_count, finished, job, job_id, reported_exactly, result,
    simulation, submit, tasks, text, worker_index,
};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How the CI scenarios run: `job_clients` job clients (and 4 write clients), a fault every
/// 700 ms, tolerances from the fast timings' heartbeat (200 ms) and lease.
fn short(name: &str, seed: u64, job_clients: u64) -> Run {
    Run {
        label: name.to_owned(),
        seed,
        clients: 4,
        job_clients,
        between: Duration::from_millis(700),
        until: None,
        heartbeat: Duration::from_millis(200),
        tolerances: JobTolerances {
            overlap: Duration::from_millis(200),
            death_after_fault: Duration::from_secs(10),
        },
    }
}

/// Fails with every process's log unless the run passed.
fn assert_passed(figures: &Figures, cluster: &Cluster) {
    assert!(
        figures.passed(),
        "{figures}\nlost: {:?}\nstale reads: {:?}\n{}",
        figures.writes.lost,
        figures.writes.stale_reads,
        cluster.logs()
    );
}

/// Runs `count` of `faults` (seeded, each undone after `pause_ms`) under a write load of 4
/// clients and checks the history.
async fn scenario(name: &str, faults: &[Fault], count: usize, pause_ms: (u64, u64), seed: u64) {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start_with_links(common::binary(), 3, &Timings::fast()).await;
    cluster.leader().await;
    let plan = schedule(
        seed,
        faults,
        count,
        Duration::from_millis(pause_ms.0),
        Duration::from_millis(pause_ms.1),
    );
    let figures = run_under_load(&mut cluster, plan, &short(name, seed, 0), None).await;
    println!("{name} (seed {seed}):\n{figures}");
    assert_passed(&figures, &cluster);
}

/// A cluster with links, `workers` workers of 2 slots and the target, for job scenarios.
async fn with_workers(
    workers: usize,
    timings: &Timings,
) -> (Cluster, broadside_target::TargetHandle) {
    let target = target().await;
    let mut cluster = Cluster::start_with_links(common::binary(), 3, timings).await;
    cluster.leader().await;
    for _ in 0..workers {
        cluster.add_worker("default", 2, &[]).await;
    }
    cluster.wait_for_workers(workers).await;
    (cluster, target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_repeatedly_loses_no_acknowledged_write() {
    scenario("kill the leader", &[Fault::KillLeader], 4, (500, 2500), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_isolated_in_a_minority_loses_no_acknowledged_write() {
    // Longer than an election: the majority elects a new leader meanwhile, and what the old
    // one could not commit must not survive as acknowledged.
    scenario(
        "isolate the leader",
        &[Fault::IsolateLeader],
        2,
        (3000, 5000),
        2,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_every_master_at_once_loses_no_acknowledged_write() {
    scenario("crash every master", &[Fault::CrashAll], 2, (500, 2500), 7).await;
}

/// [`Timings::fast`] with the default ratio of lease to failover: a paused leader (whose
/// connections stay open, unlike a killed one's) costs the workers a couple of heartbeat
/// deadlines before they move on, so they need the lease headroom a real cluster has.
fn pause_timings() -> Timings {
    Timings {
        lease: Duration::from_secs(5),
        failover_grace: Duration::from_secs(6),
        ..Timings::fast()
    }
}

/// Waits for job `id` to complete, then for its report to count every request the target
/// received (late deltas included); returns that count and the result.
async fn completed_exactly(
    cluster: &Cluster,
    target: &broadside_target::TargetHandle,
    id: u64,
) -> (u64, broadside_client::api::JobResult) {
    let client = cluster.client();
    let done = finished(cluster, &client, id).await;
    assert_eq!(
        done.state,
        JobState::Completed,
        "{done:?}\n{}",
        cluster.logs()
    );
    let received = target.stats().snapshot().total;
    (
        received,
        reported_exactly(cluster, &client, id, received).await,
    )
}

/// A job of one task on 2 linked workers at 20 requests/s for `seconds`; returns the cluster, the target,
/// the job id and the worker running it.
async fn running_job(
    seconds: u64,
    timings: &Timings,
) -> (Cluster, broadside_target::TargetHandle, u64, usize) {
    let (cluster, target) = with_workers(2, timings).await;
    let dir = tempfile::tempdir().unwrap();
    let sim = simulation(
        dir.path(),
        "steady",
        &target.base_url(),
        &format!("      - constant_users_per_sec: {{ rate: 20, during: {seconds}s }}"),
        "",
    );
    let out = submit(&cluster, &sim, &["--parallelism", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    let id = job_id(&out);
    let client = cluster.client();
    let worker = cluster
        .eventually("the task running", || async {
            let t = tasks(&client, id).await.first()?.clone();
            (t.state == TaskState::Running).then_some(t.worker_id)?
        })
        .await;
    let index = worker_index(&cluster, &worker);
    (cluster, target, id, index)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_the_leader_3_s_then_15_s_stops_no_task_and_kills_no_worker() {
    let _serial = SERIAL.lock().await;
    let (mut cluster, target) = with_workers(3, &pause_timings()).await;
    let plan = vec![
        (Fault::PauseLeader, Duration::from_secs(3)),
        (Fault::PauseLeader, Duration::from_secs(15)),
    ];
    let mut run = short("pause the leader", 3, 3);
    run.between = Duration::from_secs(2);
    let figures = run_under_load(&mut cluster, plan, &run, Some(&target)).await;
    println!("pause the leader 3 s, then 15 s, while 3 job clients run jobs:\n{figures}");
    assert_passed(&figures, &cluster);
    let jobs = figures.jobs.as_ref().expect("jobs ran");
    assert_eq!(
        jobs.reassignments,
        0,
        "a leader pause stopped a task: {figures}\n{}",
        cluster.logs()
    );
    assert!(
        jobs.received > 0 && jobs.states.contains_key("completed"),
        "{figures}"
    );
    target.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_the_leader_with_a_new_master_under_load_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let (mut cluster, target) = with_workers(3, &Timings::fast()).await;
    let plan = vec![(Fault::ReplaceLeader, Duration::ZERO)];
    let mut run = short("replace the leader", 6, 2);
    run.between = Duration::from_secs(3);
    let figures = run_under_load(&mut cluster, plan, &run, Some(&target)).await;
    println!("add master 4, remove the leader, while jobs run and clients write:\n{figures}");
    assert_passed(&figures, &cluster);
    let removed = figures.injected[0].leader.expect("the leader was known");
    let view = cluster.client().cluster(true).await.expect("cluster view");
    let mut members: Vec<u64> = view.members.iter().map(|m| m.id).collect();
    members.sort();
    let expected: Vec<u64> = (1..=4).filter(|id| *id != removed).collect();
    assert_eq!(members, expected, "{view:?}");
    target.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cut_off_briefly_keeps_its_task_and_one_cut_off_long_is_replaced() {
    let _serial = SERIAL.lock().await;
    let (cluster, target, id, victim) = running_job(30, &pause_timings()).await;
    let client = cluster.client();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Shorter than the lease (5 s): nothing happens.
    cluster.isolate(Peer::Worker(victim));
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.heal();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        tasks(&client, id).await[0].attempt,
        1,
        "a short cut reassigned the task"
    );
    // 20 s, past the lease and the reassignment delay: it stops itself, the task resumes
    // elsewhere.
    cluster.isolate(Peer::Worker(victim));
    let cut = std::time::Instant::now();
    cluster
        .eventually("the reassignment", || async {
            (tasks(&client, id).await.first()?.attempt == 2).then_some(())
        })
        .await;
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(cut.elapsed())).await;
    cluster.heal();
    // What the cut-off worker measured after its last acknowledged heartbeat arrives late,
    // once it reaches a leader again: the report ends up with exactly what the target got.
    let (received, amended) = completed_exactly(&cluster, &target, id).await;
    let window = |a: u32| attempt_window(&target, id, a);
    let (_, old_last) = window(1).expect("attempt 1 ran");
    let (new_first, _) = window(2).expect("attempt 2 ran");
    assert!(
        old_last < new_first,
        "attempts overlapped: the cut-off worker loaded until {old_last}, its replacement from {new_first}"
    );
    let reported = amended.requests();
    let d = amended
        .report
        .distribution
        .clone()
        .expect("a distributed job has attempts");
    let first = &d.attempts[0];
    assert_eq!(
        (first.attempt, first.end.as_deref()),
        (1, Some("reassigned")),
        "{d:?}"
    );
    assert!(
        first.late_requests > 0 && d.late_requests == first.late_requests,
        "the cut attempt's last requests were not delivered late: {d:?}"
    );
    // Every planned arrival: sent by one of the attempts, or skipped while none ran.
    let a = account(&amended);
    assert!(
        d.attempts
            .iter()
            .all(|a| a.accounted && a.unaccounted_unix_ms.is_none()),
        "{d:?}"
    );
    assert_eq!(
        (a.planned, a.unaccounted, a.not_reached),
        (600, 0, 0),
        "{a:?}"
    );
    assert!(a.skipped_by_reassignment > 0, "{a:?}");
    assert_eq!(
        d.attempts[1].skipped_before,
        [a.skipped_by_reassignment],
        "{d:?}"
    );
    assert_eq!(a.reported_late, d.late_requests, "{a:?}");
    assert_eq!(a.requests, received, "{a:?}");
    println!(
        "worker cut off 3 s: kept its task; cut off 20 s: stopped at {old_last}, replaced from {new_first} ({} ms apart), 1 task reassigned; target received {received}, report counts {} ({} late, from attempt 1, in {} deltas); {} s without an attempt sending; arrivals planned {}, sent {}, skipped by the reassignment {}",
        new_first - old_last,
        reported,
        d.late_requests,
        d.late_deltas,
        d.gap_seconds,
        a.planned,
        a.sent,
        a.skipped_by_reassignment,
    );
    let _ = job(&client, id).await;
    target.shutdown().await.unwrap();
}

/// A worker writes every delta to its data directory before sending it: killed while cut off
/// from the masters (so nothing it measured in the meantime was acknowledged) and started
/// again on the same directory after its task moved on, it delivers what it had written, late.
/// Only what it recorded after its last written delta is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_and_restarted_on_its_data_delivers_what_it_had_written() {
    let _serial = SERIAL.lock().await;
    let (mut cluster, target, id, victim) = running_job(15, &pause_timings()).await;
    let client = cluster.client();
    let attempt_1 = format!("{id}-0-1");
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.isolate(Peer::Worker(victim));
    let at_cut = attribution_count(&target, &attempt_1);
    // Shorter than the lease: it keeps sending, and nothing it measures is acknowledged.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.kill_worker(victim);
    let sent_while_cut = attribution_count(&target, &attempt_1) - at_cut;
    cluster.heal();
    let done = finished(&cluster, &client, id).await;
    assert_eq!(
        done.state,
        JobState::Completed,
        "{done:?}\n{}",
        cluster.logs()
    );
    // What it had written before it was killed, kept to be delivered a second time below.
    let journals = cluster.dir().join(format!("w{victim}")).join("deltas");
    let kept = tempfile::tempdir().unwrap();
    copy_files(&journals, kept.path());
    cluster.restart_worker(victim);
    let attempt = cluster
        .eventually("the restarted worker's late deltas", || async {
            let d = result(&client, id).await.report.distribution?;
            let first = d
                .attempts
                .into_iter()
                .find(|a| a.task == 0 && a.attempt == 1)?;
            (first.late_deltas > 0).then_some(first)
        })
        .await;
    let received = attribution_count(&target, &attempt_1);
    assert!(
        attempt.requests <= received,
        "attempt 1 reported {} > {received} received",
        attempt.requests
    );
    let lost = received - attempt.requests;
    assert!(
        lost < sent_while_cut,
        "lost {lost} of the {sent_while_cut} requests sent while cut off: the written deltas were not delivered"
    );
    // The result names what may be missing: the window after attempt 1's last delivered
    // delta; the target received at least the lost requests in it.
    let (from, to) = attempt
        .unaccounted_unix_ms
        .expect("a killed attempt's unreported window is stated");
    assert!(!attempt.accounted && from <= to, "{attempt:?}");
    let in_window: u64 = target
        .stats()
        .snapshot()
        .attribution(&attempt_1)
        .map_or(0, |s| {
            s.per_second.range(from / 1000..).map(|(_, n)| n).sum()
        });
    assert!(
        lost <= in_window,
        "{lost} requests lost, but the target received only {in_window} after {from}"
    );
    let amended = result(&client, id).await;
    let a = account(&amended);
    assert!(a.unaccounted > 0 && a.not_reached == 0, "{a:?}");
    // A second delivery of the same deltas (the journal as it was before the first) changes
    // nothing: each is folded once.
    cluster
        .eventually("the delivered journal acknowledged", || async {
            no_journal_left(&journals).then_some(())
        })
        .await;
    cluster.kill_worker(victim);
    copy_files(kept.path(), &journals);
    cluster.restart_worker(victim);
    cluster
        .eventually("the journal delivered again and acknowledged", || async {
            no_journal_left(&journals).then_some(())
        })
        .await;
    let again = result(&client, id).await;
    assert_eq!(
        again.requests(),
        amended.requests(),
        "a second delivery was counted"
    );
    assert_eq!(
        again.report.distribution, amended.report.distribution,
        "a second delivery changed the result"
    );
    println!(
        "worker killed after 1.5 s cut off: attempt 1 sent {received}, reported {} ({} late, in {} deltas, after its restart); {sent_while_cut} sent while cut off, {lost} lost (recorded after its last written delta; {in_window} received after its last delivered delta, the window the result names); arrivals unaccounted {}; delivered again: unchanged",
        attempt.requests, attempt.late_requests, attempt.late_deltas, a.unaccounted
    );
    target.shutdown().await.unwrap();
}

/// Copies the files of `from` into `to` (created if missing).
fn copy_files(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Whether no journal of an attempt is left in `dir` (every delta acknowledged).
fn no_journal_left(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        !entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "log"))
    })
}

/// Late deltas go to whichever master leads when the worker is back: cut off past its lease
/// while the leader is killed, the worker delivers what it measured to the new leader, and
/// the report counts every request the target received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_deltas_reach_a_new_leader_after_a_failover() {
    let _serial = SERIAL.lock().await;
    let (mut cluster, target, id, victim) = running_job(30, &pause_timings()).await;
    let client = cluster.client();
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.isolate(Peer::Worker(victim));
    cluster
        .eventually("the reassignment", || async {
            (tasks(&client, id).await.first()?.attempt == 2).then_some(())
        })
        .await;
    let old = cluster.leader().await;
    let killed_at = now_ms();
    cluster.kill(old);
    let new = cluster
        .eventually("a new leader", || async {
            let l = cluster.leader_seen_by((1..=3).find(|m| *m != old)?).await?;
            (l != old).then_some(l)
        })
        .await;
    cluster.heal();
    let (received, amended) = completed_exactly(&cluster, &target, id).await;
    let d = amended.report.distribution.clone().expect("attempts");
    let first = &d.attempts[0];
    let (late_from, _) = first
        .late_between_unix_ms
        .expect("attempt 1's last deltas arrived late");
    assert!(
        first.late_requests > 0 && late_from >= killed_at,
        "the late deltas were not committed after the failover: {first:?}"
    );
    let a = account(&amended);
    assert_eq!((a.unaccounted, a.not_reached), (0, 0), "{a:?}");
    println!(
        "leader {old} killed while a worker was cut off; leader {new} received its late deltas: target received {received}, report counts {} ({} late, first committed {} ms after the kill)",
        amended.requests(),
        d.late_requests,
        late_from - killed_at
    );
    target.shutdown().await.unwrap();
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// What happened to a 2-task job on 2 workers when task 0's worker was cut off for 15 s.
struct LostTask {
    waiting: Option<broadside_client::api::Waiting>,
    resumed: broadside_engine::report::AttemptSummary,
    gap_seconds: u64,
    received: u64,
    reported: u64,
    late: u64,
    victim: String,
    account: broadside_engine::report::ScenarioAccount,
}

/// Runs a 2-task job on 2 workers (so no spare) with `extra` submit flags, cuts task 0's
/// worker off for 15 s, and waits until the report counts every request the target received.
async fn lose_a_task_without_a_spare(extra: &[&str]) -> LostTask {
    let (cluster, target) = with_workers(2, &pause_timings()).await;
    let dir = tempfile::tempdir().unwrap();
    let sim = simulation(
        dir.path(),
        "waits",
        &target.base_url(),
        "      - constant_users_per_sec: { rate: 20, during: 30s }",
        "",
    );
    let mut args = vec!["--parallelism", "2"];
    args.extend(extra);
    let out = submit(&cluster, &sim, &args);
    assert!(out.status.success(), "{}", text(&out));
    let id = job_id(&out);
    let client = cluster.client();
    let worker = cluster
        .eventually("both tasks running", || async {
            let t = tasks(&client, id).await;
            t.iter()
                .all(|t| t.state == TaskState::Running)
                .then(|| t[0].worker_id.clone())?
        })
        .await;
    let victim = worker_index(&cluster, &worker);
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.isolate(Peer::Worker(victim));
    let cut = std::time::Instant::now();
    // Waiting, or already running again elsewhere.
    let waiting = cluster
        .eventually("task 0 reassigned", || async {
            let t = tasks(&client, id).await.first()?.clone();
            (t.attempt > 1).then_some(t.waiting)
        })
        .await;
    tokio::time::sleep(Duration::from_secs(15).saturating_sub(cut.elapsed())).await;
    cluster.heal();
    let (received, amended) = completed_exactly(&cluster, &target, id).await;
    let reported = amended.requests();
    let account = account(&amended);
    let d = amended.report.distribution.expect("attempts");
    let resumed = d
        .attempts
        .iter()
        .find(|a| a.task == 0 && a.attempt == 2)
        .expect("task 0 resumed")
        .clone();
    target.shutdown().await.unwrap();
    LostTask {
        waiting,
        resumed,
        gap_seconds: d.gap_seconds,
        received,
        reported,
        late: d.late_requests,
        victim: worker,
        account,
    }
}

/// With no distinct free worker (the only other one runs the job's other task), a lost task
/// waits: the task view says since when and why, and the result states the silent seconds,
/// while it still counts every request the target received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_without_a_distinct_worker_waits_and_the_result_states_the_gap() {
    let _serial = SERIAL.lock().await;
    let lost = lose_a_task_without_a_spare(&[]).await;
    let waiting = lost.waiting.expect("task 0 said it was waiting");
    assert!(
        waiting.reason.contains("attempt 1") && waiting.reason.contains("pool default"),
        "{waiting:?}"
    );
    assert_eq!(
        lost.resumed.worker, lost.victim,
        "it waited for its own worker"
    );
    assert!(lost.resumed.gap_before_seconds > 0);
    assert_eq!(lost.gap_seconds, lost.resumed.gap_before_seconds);
    // The planned arrivals of those seconds: stated as skipped, about 10 a second (task 0's
    // half of 20 a second).
    let a = &lost.account;
    assert_eq!(
        (a.planned, a.unaccounted, a.not_reached),
        (600, 0, 0),
        "{a:?}"
    );
    assert_eq!(lost.resumed.skipped_before, [a.skipped_by_reassignment]);
    let per_second = a.skipped_by_reassignment as f64 / lost.gap_seconds as f64;
    assert!(
        (5.0..=20.0).contains(&per_second),
        "{a:?} over {} s",
        lost.gap_seconds
    );
    println!(
        "no distinct worker: task 0 waited from {} ({}); resumed on its own worker after {} s without an attempt sending; target received {}, report counts {} ({} late); arrivals planned {}, sent {}, skipped by the reassignment {}",
        waiting.since_ms, waiting.reason, lost.gap_seconds, lost.received, lost.reported, lost.late, a.planned, a.sent, a.skipped_by_reassignment,
    );
}

/// With `--reassign-to any-free-slot`, the lost task runs again at once beside the job's other
/// task on the remaining worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_may_let_a_lost_task_run_beside_its_other_task() {
    let _serial = SERIAL.lock().await;
    let lost = lose_a_task_without_a_spare(&["--reassign-to", "any-free-slot"]).await;
    assert_ne!(lost.resumed.worker, lost.victim, "{:?}", lost.resumed);
    let waited = lost.resumed.gap_before_seconds;
    let a = &lost.account;
    assert_eq!(
        (a.planned, a.unaccounted, a.not_reached),
        (600, 0, 0),
        "{a:?}"
    );
    println!(
        "any free slot: task 0 resumed on the other worker after {waited} s without an attempt sending; target received {}, report counts {} ({} late); arrivals planned {}, sent {}, skipped by the reassignment {}",
        lost.received, lost.reported, lost.late, a.planned, a.sent, a.skipped_by_reassignment,
    );
}
