//! The executable plan: what a compiled simulation is made of ([`compile`](super::compile)
//! builds it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, Method};

use super::checks::CompiledCheck;
use crate::expr::{JsonTemplate, Template};
use crate::feeder::FeederData;
use crate::metrics::{GroupId, RequestId};
use crate::model::{FeederStrategy, HttpProtocol, PauseSpec};
use crate::schedule::{ScenarioSchedule, ThrottlePlan};

/// A problem found while compiling, located by the path of a node in the simulation document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathProblem {
    /// Path such as `scenarios[0].steps[2].request.url`.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

/// A simulation ready to run.
#[derive(Debug)]
pub struct Plan {
    /// Simulation name.
    pub name: String,
    /// Simulation description.
    pub description: Option<String>,
    /// HTTP settings.
    pub http: HttpProtocol,
    /// Base URLs (users pick round robin); empty when requests use absolute URLs.
    pub base_urls: Vec<String>,
    /// Scenarios.
    pub scenarios: Vec<ScenarioPlan>,
    /// Feeders, indexed by `Action::Feed`.
    pub feeders: Vec<FeederPlan>,
    /// Request names, indexed by [`RequestId`].
    pub request_names: Vec<String>,
    /// Group names, indexed by [`GroupId`].
    pub group_names: Vec<String>,
    /// Throttle profile.
    pub throttle: Option<ThrottlePlan>,
    /// Hard stop.
    pub max_duration: Option<Duration>,
    /// The simulation's assertions.
    pub assertions: Vec<crate::model::Assertion>,
    /// Seed of every random choice.
    pub seed: u64,
}

/// A compiled scenario.
#[derive(Debug)]
pub struct ScenarioPlan {
    /// Name.
    pub name: String,
    /// Arrival or concurrency schedule.
    pub schedule: ScenarioSchedule,
    /// The steps.
    pub actions: Arc<[Action]>,
    /// Index of the scenario this one waits for.
    pub start_after: Option<usize>,
    /// `feed` steps per feeder run once by every user (not inside loops or branches), used to
    /// skip queue records already consumed when a run resumes from an offset.
    pub feeds_per_user: BTreeMap<usize, u64>,
}

/// A compiled feeder.
#[derive(Debug)]
pub struct FeederPlan {
    /// Name.
    pub name: String,
    /// Records.
    pub data: Arc<FeederData>,
    /// Strategy.
    pub strategy: FeederStrategy,
}

/// One executable step.
#[derive(Debug)]
pub enum Action {
    /// Send a request.
    Request(Box<RequestAction>),
    /// Pause.
    Pause(PauseSpec),
    /// Pace (index of this pace step in the scenario, duration).
    Pace(usize, Duration),
    /// Feed from the feeder with this index.
    Feed(usize),
    /// Set session variables.
    Set(Vec<(String, JsonTemplate)>),
    /// `repeat`.
    Repeat {
        times: Count,
        counter: Option<String>,
        body: Vec<Action>,
    },
    /// `during`.
    During {
        duration: Duration,
        counter: Option<String>,
        body: Vec<Action>,
    },
    /// `foreach`.
    Foreach {
        items: Template,
        element: String,
        counter: Option<String>,
        body: Vec<Action>,
    },
    /// `as_long_as`.
    AsLongAs {
        condition: Template,
        max: u64,
        counter: Option<String>,
        body: Vec<Action>,
    },
    /// `if`.
    If {
        condition: Template,
        then: Vec<Action>,
        otherwise: Vec<Action>,
    },
    /// `switch`.
    Switch {
        value: Template,
        cases: Vec<(String, Vec<Action>)>,
        default: Vec<Action>,
    },
    /// `random_switch` with cumulative percent bounds.
    RandomSwitch(Vec<(f64, Vec<Action>)>),
    /// `group`.
    Group { id: GroupId, body: Vec<Action> },
    /// `try_max`.
    TryMax {
        times: u32,
        counter: Option<String>,
        body: Vec<Action>,
    },
    /// `exit_here_if_failed`.
    ExitHereIfFailed,
    /// `exit_here`.
    ExitHere,
}

/// A loop count: fixed or evaluated at run time.
#[derive(Debug)]
pub enum Count {
    /// Fixed.
    Fixed(u64),
    /// A template evaluated when the loop starts.
    Expr(Template),
}

/// A compiled request.
#[derive(Debug)]
pub struct RequestAction {
    /// Metrics id.
    pub id: RequestId,
    /// Method.
    pub method: Method,
    /// URL template (joined with the base URL at run time when relative).
    pub url: Template,
    /// Query parameters.
    pub query: Vec<(String, Template)>,
    /// Headers (protocol defaults merged in).
    pub headers: Vec<(HeaderName, Template)>,
    /// Body.
    pub body: Body,
    /// Checks, the implicit status check included.
    pub checks: Vec<CompiledCheck>,
    /// Timeout.
    pub timeout: Duration,
    /// Whether a check reads the body.
    pub needs_body: bool,
}

/// A request body.
#[derive(Debug)]
pub enum Body {
    /// None.
    Empty,
    /// A text template.
    Text(Template),
    /// A JSON document template.
    Json(JsonTemplate),
    /// Form fields.
    Form(Vec<(String, Template)>),
    /// File content.
    File(Bytes),
}
