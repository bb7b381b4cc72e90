//! Crash cycles: a child process appends and applies entries in a loop and reports each one
//! once its append is acknowledged as durable; the parent SIGKILLs it at a random moment,
//! reopens the store and checks that every acknowledged entry is there and that the state
//! machine catches up from the log.
//!
//! 60 cycles by default; `BROADSIDE_LONG_TESTS=1` runs 600.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant, SystemTime};

use broadside_raft_store::{open, Command, LogStore, Request, RequestId, StateMachineStore};
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::{EntryPayload, RaftLogReader};

const CHILD_DIR_ENV: &str = "BROADSIDE_CRASH_CHILD_DIR";
const ACK: &str = "ACK ";

fn project_of(index: u64) -> String {
    format!("p{index}")
}

/// Applies every log entry after the state machine's last applied one.
async fn catch_up(log: &mut LogStore, sm: &mut StateMachineStore) {
    let (applied, _) = sm.applied_state().await.expect("applied state");
    let from = applied.map_or(1, |id| id.index + 1);
    let entries = log.try_get_log_entries(from..).await.expect("read log");
    if !entries.is_empty() {
        sm.apply(entries).await.expect("re-apply");
    }
}

async fn append_one(log: &mut LogStore, index: u64) {
    let request = Request::new(
        RequestId(u128::from(index)),
        index,
        Command::CreateProject {
            name: project_of(index),
            description: "x".repeat(200),
        },
    );
    let entry = common::entry(index, EntryPayload::Normal(request));
    log.append_durable(vec![entry]).await.expect("append");
}

/// The child: runs until killed. Does nothing unless started by the parent.
#[test]
fn crash_child_entry() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let (mut log, mut sm) = open(Path::new(&dir)).expect("child open");
        catch_up(&mut log, &mut sm).await;
        let mut next = log
            .get_log_state()
            .await
            .expect("log state")
            .last_log_id
            .map_or(1, |id| id.index + 1);
        loop {
            append_one(&mut log, next).await;
            println!("{ACK}{next}");
            let entries = log
                .try_get_log_entries(next..=next)
                .await
                .expect("read back");
            sm.apply(entries).await.expect("apply");
            next += 1;
        }
    });
}

fn cycles() -> usize {
    if std::env::var_os("BROADSIDE_LONG_TESTS").is_some() {
        600
    } else {
        60
    }
}

#[test]
fn acknowledged_entries_survive_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = std::env::current_exe().expect("test binary");
    let mut seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64)
        | 1;
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut max_acked = 0u64;
    for cycle in 0..cycles() {
        let mut child = Process::new(&exe)
            .args([
                "crash_child_entry",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        // Kill after a random number of acknowledgements, plus a random delay of up to 3 ms
        // so that the kill also lands inside appends and applies.
        let wanted = random() % 12;
        let mut lines = BufReader::new(stdout).lines();
        let mut acked_now = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked_now < wanted {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(n) = line.strip_prefix(ACK).and_then(|n| n.parse::<u64>().ok()) {
                max_acked = max_acked.max(n);
                acked_now += 1;
            }
            assert!(Instant::now() < deadline, "child too slow");
        }
        std::thread::sleep(Duration::from_micros(random() % 3000));
        child.kill().expect("SIGKILL");
        // Acknowledgements printed before the kill still count.
        for line in lines.map_while(|l| l.ok()) {
            if let Some(n) = line.strip_prefix(ACK).and_then(|n| n.parse::<u64>().ok()) {
                max_acked = max_acked.max(n);
            }
        }
        child.wait().expect("reap child");

        rt.block_on(async {
            let (mut log, mut sm) =
                open(dir.path()).unwrap_or_else(|e| panic!("cycle {cycle}: reopen failed: {e}"));
            let state = log.get_log_state().await.expect("log state");
            let last = state.last_log_id.map_or(0, |id| id.index);
            assert!(
                last >= max_acked,
                "cycle {cycle}: log ends at {last}, {max_acked} was acknowledged"
            );
            let entries = log
                .try_get_log_entries(1..=max_acked)
                .await
                .expect("read log");
            assert_eq!(
                entries.len() as u64,
                max_acked,
                "cycle {cycle}: hole in the log"
            );
            for (i, entry) in entries.iter().enumerate() {
                assert_eq!(entry.log_id.index, i as u64 + 1);
            }
            catch_up(&mut log, &mut sm).await;
            let reader = sm.reader();
            assert_eq!(
                reader.last_applied().unwrap().map(|id| id.index),
                Some(last).filter(|l| *l > 0)
            );
            // Nothing may have been acknowledged yet (the first child killed before its
            // first append): then there is nothing to look for.
            let acknowledged = [1, max_acked / 2, max_acked]
                .into_iter()
                .filter(|i| (1..=max_acked).contains(i));
            for index in acknowledged {
                assert!(
                    reader.project(&project_of(index)).unwrap().is_some(),
                    "cycle {cycle}: p{index} missing"
                );
            }
        });
    }
    assert!(max_acked > 0, "the child never acknowledged anything");
}
