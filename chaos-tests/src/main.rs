//! The long chaos profile: 3 masters (default timings) and 3 workers under a write load and a
//! job load while a seeded nemesis mixes every fault of [`Fault`] but the membership change —
//! kills, pauses (up to 15 s), partitions (two-way and one-way), latency, whole-cluster
//! crashes, on masters and workers — for `--duration`; prints the figures and fails (exit 1)
//! if an oracle finds anything wrong or the run was inconclusive.
//!
//! ```sh
//! cargo build --release -p broadside   # the binary under test
//! cargo run -p broadside-chaos-tests --release -- --duration 30m --seed 42 [--binary PATH]
//! ```
//!
//! `partition [--no-spare]` instead measures one worker cut off for 25 s under a 60 s job
//! ([`broadside_chaos_tests::partition`]).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use broadside_chaos_tests::{run_under_load, schedule, Fault, JobTolerances, Run};
use broadside_harness::{Cluster, Timings};

/// Workers (2 slots each).
const WORKERS: usize = 3;

fn main() -> std::process::ExitCode {
    let mut duration = Duration::from_secs(600);
    let mut seed = 42u64;
    let mut binary: Option<PathBuf> = std::env::var_os("BROADSIDE_BIN").map(PathBuf::from);
    let mut partition = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match a.as_str() {
            "partition" => partition = Some(true),
            "--no-spare" => partition = Some(false),
            "--duration" => {
                duration = humantime_free(&value()).unwrap_or_else(|e| {
                    eprintln!("error: --duration: {e}");
                    std::process::exit(2)
                })
            }
            "--seed" => seed = value().parse().unwrap_or(42),
            "--binary" => binary = Some(PathBuf::from(value())),
            other => {
                eprintln!(
                    "error: unknown argument {other:?} (--duration, --seed, --binary; or partition [--no-spare])"
                );
                return std::process::ExitCode::from(2);
            }
        }
    }
    let binary = binary.unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("broadside")))
            .unwrap_or_else(|| PathBuf::from("broadside"))
    });
    if !binary.is_file() {
        eprintln!(
            "error: {} not found; build it (cargo build --release -p broadside) or pass --binary",
            binary.display()
        );
        return std::process::ExitCode::from(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if let Some(spare) = partition {
        let measured = runtime.block_on(broadside_chaos_tests::partition::measure(&binary, spare));
        println!("{measured}");
        return if measured.exact {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::from(1)
        };
    }
    let passed = runtime.block_on(run(binary, duration, seed));
    if passed {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(1)
    }
}

/// `30m`, `90s`, `2h`.
fn humantime_free(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not like 30m"))?;
    match unit {
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("{text:?}: unit s, m or h")),
    }
}

async fn run(binary: PathBuf, duration: Duration, seed: u64) -> bool {
    let target = broadside_harness::target().await;
    // Default timings: what an operator runs.
    let mut cluster = Cluster::start_with_links(&binary, 3, &Timings::default()).await;
    cluster.leader().await;
    for _ in 0..WORKERS {
        cluster.add_worker("default", 2, &[]).await;
    }
    cluster.wait_for_workers(WORKERS).await;
    // Worker 3 is never hit: any death of it is spurious by construction.
    let faults = [
        Fault::KillLeader,
        Fault::KillFollower,
        Fault::IsolateLeader,
        Fault::LeaderCannotSend,
        Fault::PauseLeader,
        Fault::SlowLinks,
        Fault::CrashAll,
        Fault::PauseWorker(1),
        Fault::CutWorker(2),
        Fault::KillWorker(1),
    ];
    let plan = schedule(
        seed,
        &faults,
        // Enough for the duration: every fault takes at least its pause plus the gap.
        (duration.as_secs() / 4 + 1) as usize,
        Duration::from_secs(1),
        Duration::from_secs(15),
    );
    let run = Run {
        label: "long run".into(),
        seed,
        clients: 4,
        job_clients: 2,
        between: Duration::from_secs(3),
        until: Some(duration),
        heartbeat: Duration::from_secs(1),
        tolerances: JobTolerances {
            // One worker heartbeat (default 1 s).
            overlap: Duration::from_secs(1),
            // Lease 5 s + stop budget 1 s + margin 2 s (defaults), and some.
            death_after_fault: Duration::from_secs(15),
        },
    };
    let started = Instant::now();
    let figures = run_under_load(&mut cluster, plan, &run, Some(&target)).await;
    println!(
        "seed {seed}, {:.0} s\n{figures}",
        started.elapsed().as_secs_f64()
    );
    let passed = figures.passed();
    if !passed {
        println!("FAILED\n{}", cluster.logs());
    }
    passed
}
