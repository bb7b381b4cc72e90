//! What the master knows about jobs beyond the store's records: the run parameters it keeps in
//! a job's opaque `params`, and validation of a simulation against the project's files.
//!
//! Files a simulation names (feeders, bodies) resolve against the simulation's directory in the
//! project, exactly as `broadside run` resolves them against the file's directory; a worker
//! lays the pinned files out under the same paths.

use std::collections::BTreeSet;
use std::time::Duration;

use broadside_engine::load::LoadErrors;
use broadside_engine::runtime::{validate_relative_path, FileSource};
use broadside_raft_store::{Sha256, StoreReader};
use bytes::Bytes;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::http::Problem;

/// Largest simulation file accepted (feeder and body files are bounded by the upload limit).
pub const MAX_SIMULATION_BYTES: u64 = 4 << 20;

/// What to do when a job's tasks cannot all be claimed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// Fail the job (the default: a split job short of workers would not generate its load).
    #[default]
    Fail,
    /// Keep waiting for workers.
    Wait,
    /// Start the tasks claimed so far (at least one); the others start when workers claim
    /// them, resumed at their offset of the schedule.
    Start,
}

/// The coordinated start policy of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartPolicy {
    /// How long to wait for every task to be claimed, e.g. `"60s"`.
    #[serde(default = "default_timeout", with = "duration_text")]
    pub timeout: Duration,
    /// What to do then.
    #[serde(default)]
    pub on_timeout: OnTimeout,
}

fn default_timeout() -> Duration {
    Duration::from_secs(60)
}

impl Default for StartPolicy {
    fn default() -> Self {
        StartPolicy {
            timeout: default_timeout(),
            on_timeout: OnTimeout::Fail,
        }
    }
}

impl StartPolicy {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), String> {
        if self.timeout < Duration::from_secs(1) || self.timeout > Duration::from_secs(86_400) {
            return Err("start.timeout must be between 1s and 24h".into());
        }
        Ok(())
    }
}

/// Durations as text (`"60s"`, `"2m"`).
mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
    }
}

/// A job's run parameters, stored as JSON in the job's `params`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobParams {
    /// Coordinated start.
    pub start: StartPolicy,
}

/// The whole content of a stored blob.
pub(crate) fn read_blob(reader: &StoreReader, sha: &Sha256) -> Result<Vec<u8>, String> {
    let blob = reader
        .blob(sha)
        .map_err(|e| e.to_string())?
        .filter(|b| b.complete)
        .ok_or_else(|| format!("blob {sha} is missing"))?;
    let mut out = Vec::with_capacity(blob.size as usize);
    for index in 0..blob.chunk_count {
        let chunk = reader
            .blob_chunk(sha, index)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("chunk {index} of blob {sha} is missing"))?;
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The project's files as the engine sees them, relative to the simulation's directory;
/// remembers which ones the simulation read.
struct ProjectFiles<'a> {
    reader: &'a StoreReader,
    project: &'a str,
    base: String,
    read: Mutex<BTreeSet<String>>,
}

impl FileSource for ProjectFiles<'_> {
    fn read(&self, name: &str) -> Result<Bytes, String> {
        validate_relative_path(name)?;
        let path = format!("{}{name}", self.base);
        let file = self
            .reader
            .file(self.project, &path, None)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "no file {path:?} in project {:?}; upload it first",
                    self.project
                )
            })?;
        let data = read_blob(self.reader, &file.sha256)?;
        self.read.lock().insert(path);
        Ok(Bytes::from(data))
    }
}

/// Validates the latest version of `project/simulation` with the engine; returns the project
/// paths of the files it names. Problems come back located (422).
pub(crate) fn validate_simulation(
    reader: &StoreReader,
    project: &str,
    simulation: &str,
) -> Result<Vec<String>, Problem> {
    let file = reader.file(project, simulation, None)?.ok_or_else(|| {
        Problem::not_found(format!(
            "no simulation file {simulation:?} in project {project:?}"
        ))
    })?;
    if file.size > MAX_SIMULATION_BYTES {
        return Err(Problem::bad_request(format!(
            "simulation {simulation:?} is {} bytes; at most {MAX_SIMULATION_BYTES}",
            file.size
        )));
    }
    let bytes = read_blob(reader, &file.sha256).map_err(Problem::internal)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Problem::unprocessable(format!("{simulation}: not UTF-8 text"), Vec::new()))?;
    let base = match simulation.rfind('/') {
        Some(i) => simulation[..=i].to_owned(),
        None => String::new(),
    };
    let files = ProjectFiles {
        reader,
        project,
        base,
        read: Mutex::new(BTreeSet::new()),
    };
    match broadside_engine::simulation::load_text(&text, simulation, &files) {
        Ok(_) => Ok(files.read.into_inner().into_iter().collect()),
        Err(errors) => Err(located(simulation, &errors)),
    }
}

/// A 422 listing every problem of a simulation with its location.
fn located(simulation: &str, errors: &LoadErrors) -> Problem {
    let list = errors
        .problems
        .iter()
        .map(|p| {
            serde_json::json!({
                "file": p.file,
                "line": p.location.map(|l| l.line),
                "column": p.location.map(|l| l.column),
                "path": p.path,
                "message": p.message,
            })
        })
        .collect();
    Problem::unprocessable(
        format!(
            "simulation {simulation} has {} problem(s): {}",
            errors.problems.len(),
            errors
                .problems
                .first()
                .map(|p| p.to_string())
                .unwrap_or_default()
        ),
        list,
    )
}
