//! The `broadside` binary: parses the command line and hands over to a command.

use std::process::ExitCode;

use clap::Parser;

mod commands;
mod progress;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    commands::init_tracing(cli.verbose, cli.is_server());
    // Every virtual user and every target connection holds a socket: lift the soft limit on
    // open files to the hard one, as load testers must (1,024 is a common default).
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::debug!(error = %e, "cannot raise the open-files limit");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = runtime.block_on(commands::dispatch(cli));
    // Connections of interrupted users may still be draining; do not wait for them.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    ExitCode::from(code)
}
