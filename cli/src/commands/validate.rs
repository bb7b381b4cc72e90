//! `broadside validate FILE`: load and compile a simulation without running it.

use std::path::PathBuf;

use clap::Args;

/// Arguments of `broadside validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The simulation file (YAML or JSON).
    pub file: PathBuf,
}

/// Validates the file; prints every problem with its location.
pub fn execute(args: ValidateArgs) -> u8 {
    match broadside_engine::simulation::load_file(&args.file) {
        Ok((sim, plan)) => {
            let requests = plan.request_names.len();
            println!(
                "{}: ok — simulation `{}`, {} scenario(s), {} request name(s), {} assertion(s)",
                args.file.display(),
                sim.name,
                plan.scenarios.len(),
                requests,
                plan.assertions.len()
            );
            super::EXIT_OK
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{} problem(s) found", errors.problems.len());
            super::EXIT_BAD_INPUT
        }
    }
}
