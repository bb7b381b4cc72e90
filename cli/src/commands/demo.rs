//! `broadside demo`: a whole cluster on loopback in this process — three masters, two workers
//! and the built-in target, in a temporary directory — running a sample distributed job with
//! live progress and the merged report. Needs no setup. It keeps serving (the REST API, the
//! reports) until Ctrl-C, or exits after the job with `--exit-after-job`.
//!
//! `--local` runs the sample simulation in this process without a cluster instead.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use broadside_client::api::{Submission, WorkerState};
use broadside_client::Client;
use broadside_engine::runtime::NoFiles;
use broadside_master::{LocalCluster, Timings};
use broadside_target::{Target, TargetConfig, TargetHandle};
use broadside_worker::WorkerConfig;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::run::{run_plan, RunOptions};
use super::submit::{run_job, Follow, JobRequest};
use super::EXIT_BAD_INPUT;

/// The sample simulation (also in `examples/demo.yaml`).
pub const DEMO_SIMULATION: &str = include_str!("../../../examples/demo.yaml");
/// The address the sample simulation names; replaced by the built-in target's.
const DEMO_BASE_URL: &str = "http://127.0.0.1:8088";
const MASTERS: u64 = 3;
const WORKERS: usize = 2;

/// Arguments of `broadside demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the report goes.
    #[arg(long, value_name = "DIR", default_value = "broadside-demo-report")]
    pub out: PathBuf,
    /// No live progress line.
    #[arg(long, short)]
    pub quiet: bool,
    /// Stop everything once the job has finished (for scripts).
    #[arg(long)]
    pub exit_after_job: bool,
    /// Run the sample simulation in this process, without a cluster.
    #[arg(long)]
    pub local: bool,
}

async fn start_target() -> Result<TargetHandle, u8> {
    Target::spawn(TargetConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        tls: false,
    })
    .await
    .map_err(|e| {
        eprintln!("error: cannot start the built-in target: {e}");
        EXIT_BAD_INPUT
    })
}

/// Runs the demo.
pub async fn execute(args: DemoArgs) -> u8 {
    let target = match start_target().await {
        Ok(t) => t,
        Err(code) => return code,
    };
    let code = if args.local {
        local(&args, &target).await
    } else {
        cluster(&args, &target).await
    };
    if let Err(e) = target.shutdown().await {
        eprintln!("warning: the target did not stop cleanly: {e}");
    }
    code
}

/// The sample simulation in this process.
async fn local(args: &DemoArgs, target: &TargetHandle) -> u8 {
    let (mut sim, _) =
        match broadside_engine::simulation::load_text(DEMO_SIMULATION, "demo.yaml", &NoFiles) {
            Ok(loaded) => loaded,
            Err(errors) => {
                eprintln!("error: the embedded demo simulation is invalid:\n{errors}");
                return EXIT_BAD_INPUT;
            }
        };
    sim.http.base_url = Some(target.base_url());
    let plan = match broadside_engine::simulation::compile_simulation(&sim, &NoFiles) {
        Ok(plan) => plan,
        Err(errors) => {
            eprintln!("error: {errors}");
            return EXIT_BAD_INPUT;
        }
    };
    println!(
        "broadside demo: built-in target at {}, simulation `{}`",
        target.base_url(),
        sim.name
    );
    let code = run_plan(
        Arc::new(plan),
        RunOptions {
            segment: Default::default(),
            from: Default::default(),
            policy: Default::default(),
            out: Some(args.out.clone()),
            quiet: args.quiet,
        },
    )
    .await;
    report_target(target, args);
    code
}

/// What the target saw, and where the report is.
fn report_target(target: &TargetHandle, args: &DemoArgs) {
    println!(
        "the target received {} requests; open {}/index.html for the report",
        target.stats().snapshot().total,
        args.out.display()
    );
}

/// Waits until the masters elected a leader.
async fn wait_for_leader(client: &Client) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(view) = client.cluster(false).await {
            if view.leader.is_some() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err("the masters elected no leader within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `n` workers are registered alive.
async fn wait_for_workers(client: &Client, n: usize) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(workers) = client.workers().await {
            let alive = workers
                .iter()
                .filter(|w| w.state == WorkerState::Alive)
                .count();
            if alive >= n {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("{n} workers did not register within 30 s"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The whole cluster, the job, then serving until Ctrl-C.
async fn cluster(args: &DemoArgs, target: &TargetHandle) -> u8 {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: no temporary directory: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    // TLS on the cluster port, as in production, from a throw-away CA.
    let masters =
        match LocalCluster::start_tls(MASTERS, dir.path(), Timings::default(), 64 << 20).await {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error: cannot start the masters: {e}");
                return EXIT_BAD_INPUT;
            }
        };
    let rest: Vec<String> = masters
        .http_addrs()
        .iter()
        .map(ToString::to_string)
        .collect();
    let client = Client::new(&rest).with_token(masters.admin_token());
    let stop_workers = CancellationToken::new();
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let security = match masters.worker_security(&format!("demo-{}", w + 1)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot make the workers' certificates: {e}");
                return EXIT_BAD_INPUT;
            }
        };
        let config = WorkerConfig {
            masters: masters
                .raft_addrs()
                .iter()
                .map(ToString::to_string)
                .collect(),
            pool: "default".into(),
            slots: 1,
            data: dir.path().join(format!("worker-{}", w + 1)),
            labels: vec![("demo".into(), "true".into())],
            policy: Default::default(),
            allow_insecure_tls: false,
            address: format!("demo worker {}", w + 1),
            security,
            join_token: None,
        };
        workers.push(tokio::spawn(broadside_worker::run(
            config,
            stop_workers.clone(),
        )));
    }
    let ready = async {
        wait_for_leader(&client).await?;
        wait_for_workers(&client, WORKERS).await
    };
    if let Err(e) = ready.await {
        eprintln!("error: {e}");
        return EXIT_BAD_INPUT;
    }
    println!(
        "broadside demo: {MASTERS} masters, {WORKERS} workers and the built-in target on loopback \
         (cluster port: mutual TLS from a throw-away CA)"
    );
    for (i, addr) in rest.iter().enumerate() {
        println!("  master {}: http://{addr}/api/v1/cluster", i + 1);
    }
    println!("  target:   {}", target.base_url());
    println!(
        "  web UI:   http://{}/ (any master; sign in with the admin token)",
        rest[0]
    );
    println!(
        "  admin token: {}\n  (for the CLI: export BROADSIDE_TOKEN=<that token> BROADSIDE_MASTER={})",
        masters.admin_token(),
        rest[0]
    );
    let simulation = DEMO_SIMULATION.replace(DEMO_BASE_URL, &target.base_url());
    let job = JobRequest {
        project: "demo".into(),
        files: vec![("demo.yaml".into(), simulation.into_bytes())],
        submission: Submission {
            parallelism: WORKERS as u32,
            ..Submission::new("demo.yaml")
        },
    };
    let code = run_job(
        &client,
        job,
        Some(Follow {
            out: Some(args.out.clone()),
            quiet: args.quiet,
        }),
    )
    .await;
    report_target(target, args);
    if !args.exit_after_job {
        println!(
            "the cluster keeps running: try `BROADSIDE_TOKEN=… broadside cluster --master {}` \
             (Ctrl-C stops it)",
            rest[0]
        );
        super::shutdown_signal().await;
    }
    stop_workers.cancel();
    for w in workers {
        let _ = w.await;
    }
    masters.shutdown().await;
    code
}
