//! Jobs: submission — the simulation validated with the engine against the project's files,
//! the files it names pinned — and the run parameters kept in a job's opaque `params`.
//!
//! Files a simulation names (feeders, bodies) resolve against the simulation's directory in the
//! project, exactly as `broadside run` resolves them against the file's directory; a worker
//! lays the pinned files out under the same paths.

use std::collections::BTreeSet;
use std::sync::Arc;

use broadside_api::{JobParams, LocatedProblem, Submission, Validation};
use broadside_engine::load::LoadErrors;
use broadside_engine::runtime::{validate_relative_path, FileSource};
use broadside_raft_store::model::{Job, SplitMode};
use broadside_raft_store::{
    valid_name, valid_path, Command, JobSpec, Response, StoreReader, MAX_PARALLELISM,
};
use bytes::Bytes;
use parking_lot::Mutex;

use crate::app::App;
use crate::error::{Error, Result};
use crate::idempotency::Writer;

/// Largest simulation file accepted (feeder and body files are bounded by the upload limit).
pub const MAX_SIMULATION_BYTES: u64 = 4 << 20;

/// The project's files as the engine sees them, relative to the simulation's directory;
/// remembers which ones the simulation read.
struct ProjectFiles<'a> {
    reader: &'a StoreReader,
    project: &'a str,
    base: String,
    read: Mutex<BTreeSet<String>>,
}

impl FileSource for ProjectFiles<'_> {
    fn read(&self, name: &str) -> std::result::Result<Bytes, String> {
        validate_relative_path(name)?;
        let path = format!("{}{name}", self.base);
        let missing = || {
            format!(
                "no file {path:?} in project {:?}; upload it first",
                self.project
            )
        };
        let file = self
            .reader
            .file(self.project, &path, None)
            .map_err(|e| e.to_string())?
            .ok_or_else(missing)?;
        let data = self
            .reader
            .blob_content(&file.sha256)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("the content of {path:?} is missing"))?;
        self.read.lock().insert(path);
        Ok(Bytes::from(data))
    }
}

/// What validation found out about a valid simulation.
#[derive(Debug)]
pub(crate) struct Validated {
    /// The project paths of the files it names.
    pub(crate) files: Vec<String>,
    /// Its schedule's planned length, when it has one.
    pub(crate) planned: Option<std::time::Duration>,
}

/// Validates the latest version of `project/simulation` with the engine. CPU-heavy and
/// blocking: run it off the async threads.
pub(crate) fn validate_simulation(
    reader: &StoreReader,
    project: &str,
    simulation: &str,
) -> Result<Validated> {
    let file = reader.file(project, simulation, None)?.ok_or_else(|| {
        Error::NotFound(format!(
            "no simulation file {simulation:?} in project {project:?}"
        ))
    })?;
    if file.size > MAX_SIMULATION_BYTES {
        return Err(Error::BadRequest(format!(
            "simulation {simulation:?} is {} bytes; at most {MAX_SIMULATION_BYTES}",
            file.size
        )));
    }
    let bytes = reader
        .blob_content(&file.sha256)?
        .ok_or_else(|| Error::internal(format_args!("the content of {simulation:?} is missing")))?;
    let text = String::from_utf8(bytes).map_err(|_| Error::InvalidSimulation {
        detail: format!("{simulation}: not UTF-8 text"),
        problems: vec![LocatedProblem {
            file: simulation.to_owned(),
            line: None,
            column: None,
            path: String::new(),
            message: "not UTF-8 text".to_owned(),
        }],
    })?;
    validate_text(reader, project, simulation, &text)
}

/// Validates `text` as the simulation at `simulation` in `project`, the files it names read
/// from the project. CPU-heavy and blocking.
fn validate_text(
    reader: &StoreReader,
    project: &str,
    simulation: &str,
    text: &str,
) -> Result<Validated> {
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
    match broadside_engine::simulation::load_text(text, simulation, &files) {
        Ok((_, plan)) => Ok(Validated {
            files: files.read.into_inner().into_iter().collect(),
            planned: broadside_engine::runtime::planned_duration(&plan),
        }),
        Err(errors) => Err(located(simulation, &errors)),
    }
}

/// Every problem of the simulation at `path` in `project`: of `content` when given (an
/// editor's text), of the project's latest version of `path` otherwise. CPU-heavy and
/// blocking.
pub(crate) fn validate(
    reader: &StoreReader,
    project: &str,
    path: &str,
    content: Option<&str>,
) -> Result<Validation> {
    if !valid_path(path) {
        return Err(Error::BadRequest(format!(
            "{path:?} is not a valid file path (relative, `/`-separated, no `..`)"
        )));
    }
    if reader.project(project)?.is_none() {
        return Err(Error::NotFound(format!("no project {project:?}")));
    }
    let checked = match content {
        Some(text) => validate_text(reader, project, path, text),
        None => validate_simulation(reader, project, path),
    };
    match checked {
        Ok(_) => Ok(Validation {
            valid: true,
            problems: Vec::new(),
        }),
        Err(Error::InvalidSimulation { problems, .. }) => Ok(Validation {
            valid: false,
            problems,
        }),
        Err(e) => Err(e),
    }
}

/// Every problem of a simulation with its location.
fn located(simulation: &str, errors: &LoadErrors) -> Error {
    let problems = errors
        .problems
        .iter()
        .map(|p| LocatedProblem {
            file: p.file.clone(),
            line: p.location.map(|l| l.line),
            column: p.location.map(|l| l.column),
            path: p.path.clone(),
            message: p.message.clone(),
        })
        .collect();
    Error::InvalidSimulation {
        detail: format!(
            "simulation {simulation} has {} problem(s): {}",
            errors.problems.len(),
            errors
                .problems
                .first()
                .map(|p| p.to_string())
                .unwrap_or_default()
        ),
        problems,
    }
}

/// What is wrong with a submission's own fields, before anything is read.
fn check(project: &str, s: &Submission) -> Result<()> {
    let bad = |m: String| Err(Error::BadRequest(m));
    if !valid_name(project) {
        return bad(format!("project {project:?} is not a valid name"));
    }
    if !valid_name(&s.pool) {
        return bad(format!("pool {:?} is not a valid name", s.pool));
    }
    if !(1..=MAX_PARALLELISM).contains(&s.parallelism) {
        return bad(format!("parallelism must be 1 to {MAX_PARALLELISM}"));
    }
    if let Some(path) = std::iter::once(&s.simulation)
        .chain(&s.files)
        .find(|p| !valid_path(p))
    {
        return bad(format!("file path {path:?} is not valid"));
    }
    match s.start.problem() {
        Some(problem) => bad(problem),
        None => Ok(()),
    }
}

/// Submits a job: checks it, validates its simulation against the latest committed files
/// (after a read barrier), pins them and commits the job. Returns the job as committed. An
/// idempotency key names one submission to this project: a retry with the same body answers
/// the job first submitted; another body with the same key is refused.
pub(crate) async fn submit(
    app: &Arc<App>,
    project: String,
    s: Submission,
    writer: &Writer,
) -> Result<Job> {
    check(&project, &s)?;
    app.read_barrier().await?;
    let validated = {
        let (project, simulation) = (project.clone(), s.simulation.clone());
        app.compute(move |reader| {
            if reader.project(&project)?.is_none() {
                return Err(Error::NotFound(format!("no project {project:?}")));
            }
            validate_simulation(reader, &project, &simulation)
        })
        .await?
    };
    let files: Vec<String> = s
        .files
        .iter()
        .cloned()
        .chain(validated.files)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|f| *f != s.simulation)
        .collect();
    let params = JobParams {
        start: s.start,
        reassign_to: s.reassign_to,
        planned_ms: validated.planned.map(|d| d.as_millis() as u64),
    };
    let spec = JobSpec {
        project,
        name: s.name.unwrap_or_else(|| s.simulation.clone()),
        simulation: s.simulation,
        files,
        pool: s.pool,
        parallelism: s.parallelism,
        split: match s.mode {
            broadside_api::SplitMode::Split => SplitMode::Split,
            broadside_api::SplitMode::Replicate => SplitMode::Replicate,
        },
        params: serde_json::to_vec(&params).map_err(Error::internal)?,
    };
    let scope = format!("POST jobs {}", spec.project);
    let response = app
        .write_as(writer, &scope, Command::SubmitJob(spec))
        .await?;
    let Response::JobSubmitted { job_id } = response else {
        return Err(Error::internal(format_args!(
            "unexpected answer to a submission: {response:?}"
        )));
    };
    app.read(move |r| {
        r.job(job_id)?
            .ok_or_else(|| Error::Conflict(format!("job {job_id} was deleted meanwhile")))
    })
    .await
}
