//! Opening a simulation: text → [`Document`] → [`Simulation`] → [`Plan`], with every problem
//! located in the file (line, column, path) and reported together.

use std::path::Path;

use crate::load::{Document, LoadErrors, Problem};
use crate::model::Simulation;
use crate::runtime::{compile, DirFiles, FileSource, Plan};

/// Parses a simulation text into the model without compiling it (no file is read): enough for
/// its name, description and assertions.
pub fn parse_text(text: &str, file: &str) -> Result<Simulation, LoadErrors> {
    Document::parse(text, file)?.deserialize()
}

/// Parses and validates a simulation text; `files` resolves the files it names.
pub fn load_text(
    text: &str,
    file: &str,
    files: &dyn FileSource,
) -> Result<(Simulation, Plan), LoadErrors> {
    let doc = Document::parse(text, file)?;
    let sim: Simulation = doc.deserialize()?;
    let plan = compile(&sim, files).map_err(|problems| LoadErrors {
        problems: problems
            .into_iter()
            .map(|p| doc.problem(&p.path, p.message))
            .collect(),
    })?;
    Ok((sim, plan))
}

/// Reads, parses and validates a simulation file; relative file names resolve against the
/// file's directory.
pub fn load_file(path: &Path) -> Result<(Simulation, Plan), LoadErrors> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        LoadErrors::single(Problem::unlocated(
            &name,
            format!("cannot read the simulation file: {e}"),
        ))
    })?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    load_text(&text, &name, &DirFiles::new(dir))
}

/// Validates a simulation built in Rust (problems carry paths but no locations).
pub fn compile_simulation(sim: &Simulation, files: &dyn FileSource) -> Result<Plan, LoadErrors> {
    compile(sim, files).map_err(|problems| LoadErrors {
        problems: problems
            .into_iter()
            .map(|p| Problem {
                file: sim.name.clone(),
                path: p.path,
                location: None,
                message: p.message,
            })
            .collect(),
    })
}

/// The JSON Schema of the simulation format (what `broadside schema` prints).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Simulation)).unwrap_or(serde_json::Value::Null)
}
