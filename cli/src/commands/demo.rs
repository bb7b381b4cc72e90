//! `broadside demo`: the built-in target plus a sample simulation against it, with a report.
//! Needs no setup: everything runs in this process on loopback.

use std::path::PathBuf;
use std::sync::Arc;

use broadside_engine::runtime::NoFiles;
use broadside_target::{Target, TargetConfig};
use clap::Args;

use super::run::{run_plan, RunOptions};

/// The sample simulation (also in `examples/demo.yaml`).
pub const DEMO_SIMULATION: &str = include_str!("../../../examples/demo.yaml");

/// Arguments of `broadside demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the report goes.
    #[arg(long, value_name = "DIR", default_value = "broadside-demo-report")]
    pub out: PathBuf,
    /// No live progress line.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs the demo.
pub async fn execute(args: DemoArgs) -> u8 {
    let target = match Target::spawn(TargetConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        tls: false,
    })
    .await
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot start the built-in target: {e}");
            return super::EXIT_BAD_INPUT;
        }
    };
    let (mut sim, _) =
        match broadside_engine::simulation::load_text(DEMO_SIMULATION, "demo.yaml", &NoFiles) {
            Ok(loaded) => loaded,
            Err(errors) => {
                eprintln!("error: the embedded demo simulation is invalid:\n{errors}");
                return super::EXIT_BAD_INPUT;
            }
        };
    sim.http.base_url = Some(target.base_url());
    let plan = match broadside_engine::simulation::compile_simulation(&sim, &NoFiles) {
        Ok(plan) => plan,
        Err(errors) => {
            eprintln!("error: {errors}");
            return super::EXIT_BAD_INPUT;
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
    let received = target.stats().snapshot().total;
    println!(
        "the target received {received} requests; open {}/index.html for the report",
        args.out.display()
    );
    if let Err(e) = target.shutdown().await {
        eprintln!("warning: the target did not stop cleanly: {e}");
    }
    code
}
