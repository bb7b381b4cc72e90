//! Compiling a [`Simulation`] into an executable [`Plan`].
//!
//! Compilation is also validation: every template, regular expression, JSON path, header name,
//! reference (feeders, scenarios, request names in assertions) and injection profile is
//! checked here, and every problem is reported with the path of the offending node
//! (`scenarios[0].steps[2].request.url`) so the loader can turn it into a file location.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, Method};

use super::checks::{CheckSource, CompiledCheck};
use super::files::FileSource;
use super::plan::{
    Action, Body, Count, FeederPlan, PathProblem, Plan, RequestAction, ScenarioPlan,
};
use crate::expr::{JsonTemplate, Template};
use crate::feeder::FeederData;
use crate::load::path_with_key as key_path;
use crate::metrics::{GroupId, RequestId};
use crate::model::{
    AssertionMetric, CountSpec, HttpProtocol, InjectionStep, Request, Simulation, Step,
};
use crate::schedule::{ScenarioSchedule, ThrottlePlan};

/// Compiles a simulation, reading the files it names through `files`.
pub fn compile(sim: &Simulation, files: &dyn FileSource) -> Result<Plan, Vec<PathProblem>> {
    let mut c = Compiler {
        files,
        problems: Vec::new(),
        requests: Vec::new(),
        groups: Vec::new(),
        feeder_index: HashMap::new(),
        pace_count: 0,
        default_timeout: sim.http.request_timeout.get(),
    };
    let plan = c.simulation(sim);
    if c.problems.is_empty() {
        Ok(plan)
    } else {
        Err(c.problems)
    }
}

struct Compiler<'a> {
    files: &'a dyn FileSource,
    problems: Vec<PathProblem>,
    requests: Vec<String>,
    groups: Vec<String>,
    feeder_index: HashMap<String, usize>,
    pace_count: usize,
    default_timeout: Duration,
}

impl Compiler<'_> {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(PathProblem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn template(&mut self, path: &str, text: &str) -> Template {
        match Template::compile(text) {
            Ok(t) => t,
            Err(e) => {
                self.problem(path, format!("invalid template: {e}"));
                empty_template()
            }
        }
    }

    fn json_template(&mut self, path: &str, value: &serde_json::Value) -> JsonTemplate {
        match JsonTemplate::compile(value) {
            Ok(t) => t,
            Err(e) => {
                self.problem(path, format!("invalid template: {e}"));
                JsonTemplate::compile(&serde_json::Value::Null)
                    .expect("the null JSON template compiles")
            }
        }
    }

    fn simulation(&mut self, sim: &Simulation) -> Plan {
        if sim.name.trim().is_empty() {
            self.problem("name", "the simulation name must not be empty");
        }
        let base_urls = self.base_urls(&sim.http);
        self.http_settings(&sim.http);
        let feeders = self.feeders(sim);
        if sim.scenarios.is_empty() {
            self.problem("scenarios", "a simulation needs at least one scenario");
        }
        let seed = sim.seed.unwrap_or(0x00b0_ad51_de00);
        let mut names: HashMap<&str, usize> = HashMap::new();
        for (i, s) in sim.scenarios.iter().enumerate() {
            if names.insert(s.name.as_str(), i).is_some() {
                self.problem(
                    format!("scenarios[{i}].name"),
                    format!("duplicate scenario name `{}`", s.name),
                );
            }
        }
        let mut scenarios = Vec::new();
        for (i, s) in sim.scenarios.iter().enumerate() {
            let path = format!("scenarios[{i}]");
            let schedule = self.schedule(&path, &s.injection, seed.wrapping_add(i as u64));
            let start_after =
                s.start_after
                    .as_ref()
                    .and_then(|name| match names.get(name.as_str()) {
                        Some(&j) if j != i => Some(j),
                        _ => {
                            self.problem(
                                format!("{path}.start_after"),
                                format!("no other scenario named `{name}`"),
                            );
                            None
                        }
                    });
            self.pace_count = 0;
            let actions = self.steps(&format!("{path}.steps"), &s.steps);
            let mut feeds_per_user = BTreeMap::new();
            for a in &actions {
                if let Action::Feed(f) = a {
                    *feeds_per_user.entry(*f).or_insert(0) += 1;
                }
            }
            if let Some(schedule) = schedule {
                scenarios.push(ScenarioPlan {
                    name: s.name.clone(),
                    schedule,
                    actions: actions.into(),
                    start_after,
                    feeds_per_user,
                });
            }
        }
        self.check_start_after_cycles(&scenarios);
        let throttle = match ThrottlePlan::new(&sim.throttle) {
            Ok(t) => t,
            Err(e) => {
                self.problem("throttle", e);
                None
            }
        };
        if let Some(t) = &throttle {
            if t.rate_at(t.steps_end()) <= 0.0 && sim.max_duration.is_none() {
                self.problem(
                    "throttle",
                    "the throttle ends at 0 requests/s, so users would wait forever: \
                     end it with a positive rate or set max_duration",
                );
            }
        }
        if sim.max_duration.is_some_and(|d| d.get().is_zero()) {
            self.problem("max_duration", "max_duration must be greater than zero");
        }
        self.assertions(sim);
        Plan {
            name: sim.name.clone(),
            description: sim.description.clone(),
            http: sim.http.clone(),
            base_urls,
            scenarios,
            feeders,
            request_names: std::mem::take(&mut self.requests),
            group_names: std::mem::take(&mut self.groups),
            throttle,
            max_duration: sim.max_duration.map(|d| d.get()),
            assertions: sim.assertions.clone(),
            seed,
        }
    }

    fn base_urls(&mut self, http: &HttpProtocol) -> Vec<String> {
        let mut urls: Vec<(String, String)> = Vec::new();
        if let Some(u) = &http.base_url {
            urls.push(("http.base_url".into(), u.clone()));
        }
        for (i, u) in http.base_urls.iter().enumerate() {
            urls.push((format!("http.base_urls[{i}]"), u.clone()));
        }
        for (path, url) in &urls {
            if let Err(e) = crate::protocol::http::ParsedUrl::parse(url) {
                self.problem(
                    path.clone(),
                    format!("{e}; expected an absolute http:// or https:// URL"),
                );
            }
        }
        urls.into_iter().map(|(_, u)| u).collect()
    }

    fn http_settings(&mut self, http: &HttpProtocol) {
        for (name, value) in &http.headers {
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.problem(
                    key_path("http.headers", name),
                    format!("invalid header name `{name}`"),
                );
            } else if http::HeaderValue::from_str(value).is_err() {
                self.problem(
                    key_path("http.headers", name),
                    "invalid header value (control characters are not allowed)",
                );
            }
        }
        if http.request_timeout.get().is_zero() {
            self.problem("http.request_timeout", "must be greater than zero");
        }
        if http.connect_timeout.get().is_zero() {
            self.problem("http.connect_timeout", "must be greater than zero");
        }
    }

    fn feeders(&mut self, sim: &Simulation) -> Vec<FeederPlan> {
        let mut out = Vec::new();
        for (name, def) in &sim.feeders {
            let path = key_path("feeders", name);
            match FeederData::load_from(name, def, self.files) {
                Ok(data) => {
                    self.feeder_index.insert(name.clone(), out.len());
                    out.push(FeederPlan {
                        name: name.clone(),
                        data: Arc::new(data),
                        strategy: def.strategy,
                    });
                }
                Err(e) => self.problem(path, e),
            }
        }
        out
    }

    fn schedule(
        &mut self,
        path: &str,
        steps: &[InjectionStep],
        seed: u64,
    ) -> Option<ScenarioSchedule> {
        match ScenarioSchedule::from_steps(steps, seed) {
            Ok(s) => Some(s),
            Err(e) => {
                self.problem(format!("{path}.injection"), e);
                None
            }
        }
    }

    fn check_start_after_cycles(&mut self, scenarios: &[ScenarioPlan]) {
        for (i, s) in scenarios.iter().enumerate() {
            let mut seen = vec![i];
            let mut next = s.start_after;
            while let Some(j) = next {
                if seen.contains(&j) {
                    self.problem(
                        format!("scenarios[{i}].start_after"),
                        "start_after forms a cycle",
                    );
                    break;
                }
                seen.push(j);
                next = scenarios.get(j).and_then(|p| p.start_after);
            }
        }
    }

    fn assertions(&mut self, sim: &Simulation) {
        for (i, a) in sim.assertions.iter().enumerate() {
            let path = format!("assertions[{i}]");
            if let Err(e) = AssertionMetric::parse(&a.metric) {
                self.problem(format!("{path}.metric"), e);
            }
            if a.comparisons().is_empty() {
                self.problem(
                    path.clone(),
                    "an assertion needs at least one of lt, lte, gt, gte, eq",
                );
            }
            let scopes = usize::from(a.request.is_some())
                + usize::from(a.group.is_some())
                + usize::from(a.for_all);
            if scopes > 1 {
                self.problem(path.clone(), "choose one scope: request, group or for_all");
            }
            if let Some(r) = &a.request {
                if !self.requests.contains(r) {
                    self.problem(
                        format!("{path}.request"),
                        format!("no request named `{r}` in the simulation"),
                    );
                }
            }
            if let Some(g) = &a.group {
                if !self
                    .groups
                    .iter()
                    .any(|n| n == g || n.ends_with(&format!(" / {g}")))
                {
                    self.problem(
                        format!("{path}.group"),
                        format!("no group named `{g}` in the simulation"),
                    );
                }
            }
        }
    }

    fn steps(&mut self, path: &str, steps: &[Step]) -> Vec<Action> {
        self.steps_in(path, steps, "")
    }

    fn steps_in(&mut self, path: &str, steps: &[Step], group: &str) -> Vec<Action> {
        steps
            .iter()
            .enumerate()
            .map(|(i, s)| self.step(&format!("{path}[{i}]"), s, group))
            .collect()
    }

    fn step(&mut self, path: &str, step: &Step, group: &str) -> Action {
        match step {
            Step::Request(r) => {
                Action::Request(Box::new(self.request(&format!("{path}.request"), r)))
            }
            Step::Pause(p) => Action::Pause(*p),
            Step::Pace(d) => {
                self.pace_count += 1;
                Action::Pace(self.pace_count - 1, d.get())
            }
            Step::Feed(name) => match self.feeder_index.get(name) {
                Some(&i) => Action::Feed(i),
                None => {
                    self.problem(
                        format!("{path}.feed"),
                        format!("no feeder named `{name}` (declare it under `feeders`)"),
                    );
                    Action::ExitHere
                }
            },
            Step::Set(vars) => {
                let vars = vars
                    .iter()
                    .map(|(k, v)| {
                        self.variable_name(&key_path(&format!("{path}.set"), k), k);
                        (
                            k.clone(),
                            self.json_template(&key_path(&format!("{path}.set"), k), v),
                        )
                    })
                    .collect();
                Action::Set(vars)
            }
            Step::Repeat(l) => {
                let p = format!("{path}.repeat");
                if l.duration.is_some() {
                    self.problem(
                        format!("{p}.duration"),
                        "`repeat` takes `times`, not `duration` (use `during`)",
                    );
                }
                let times = match &l.times {
                    Some(CountSpec::Fixed(n)) => Count::Fixed(*n),
                    Some(CountSpec::Expr(e)) => {
                        Count::Expr(self.template(&format!("{p}.times"), e))
                    }
                    None => {
                        self.problem(p.clone(), "`repeat` needs `times`");
                        Count::Fixed(0)
                    }
                };
                let counter = self.counter(&p, &l.counter);
                Action::Repeat {
                    times,
                    counter,
                    body: self.steps_in(&format!("{p}.steps"), &l.steps, group),
                }
            }
            Step::During(l) => {
                let p = format!("{path}.during");
                if l.times.is_some() {
                    self.problem(
                        format!("{p}.times"),
                        "`during` takes `duration`, not `times` (use `repeat`)",
                    );
                }
                let duration = l.duration.map(|d| d.get()).unwrap_or_else(|| {
                    self.problem(p.clone(), "`during` needs `duration`");
                    Duration::ZERO
                });
                let counter = self.counter(&p, &l.counter);
                Action::During {
                    duration,
                    counter,
                    body: self.steps_in(&format!("{p}.steps"), &l.steps, group),
                }
            }
            Step::Foreach(f) => {
                let p = format!("{path}.foreach");
                self.variable_name(&format!("{p}.as"), &f.element);
                Action::Foreach {
                    items: self.template(&format!("{p}.items"), &f.items),
                    element: f.element.clone(),
                    counter: self.counter(&p, &f.counter),
                    body: self.steps_in(&format!("{p}.steps"), &f.steps, group),
                }
            }
            Step::AsLongAs(w) => {
                let p = format!("{path}.as_long_as");
                Action::AsLongAs {
                    condition: self.template(&format!("{p}.condition"), &w.condition),
                    max: w.max.unwrap_or(1_000_000),
                    counter: self.counter(&p, &w.counter),
                    body: self.steps_in(&format!("{p}.steps"), &w.steps, group),
                }
            }
            Step::If(c) => {
                let p = format!("{path}.if");
                Action::If {
                    condition: self.template(&format!("{p}.condition"), &c.condition),
                    then: self.steps_in(&format!("{p}.then"), &c.then, group),
                    otherwise: self.steps_in(&format!("{p}.else"), &c.otherwise, group),
                }
            }
            Step::Switch(s) => {
                let p = format!("{path}.switch");
                Action::Switch {
                    value: self.template(&format!("{p}.value"), &s.value),
                    cases: s
                        .cases
                        .iter()
                        .map(|(k, steps)| {
                            (
                                k.clone(),
                                self.steps_in(&key_path(&format!("{p}.cases"), k), steps, group),
                            )
                        })
                        .collect(),
                    default: self.steps_in(&format!("{p}.default"), &s.default, group),
                }
            }
            Step::RandomSwitch(branches) => {
                let p = format!("{path}.random_switch");
                let mut total = 0.0;
                let mut out = Vec::new();
                for (i, b) in branches.iter().enumerate() {
                    if !(b.weight.is_finite() && b.weight >= 0.0) {
                        self.problem(format!("{p}[{i}].weight"), "a weight is a percentage >= 0");
                    }
                    total += b.weight;
                    out.push((
                        total,
                        self.steps_in(&format!("{p}[{i}].steps"), &b.steps, group),
                    ));
                }
                if total > 100.0 + 1e-9 {
                    self.problem(p, format!("weights add up to {total}, more than 100"));
                }
                Action::RandomSwitch(out)
            }
            Step::Group(g) => {
                let p = format!("{path}.group");
                if g.name.trim().is_empty() {
                    self.problem(format!("{p}.name"), "a group needs a name");
                }
                let full = if group.is_empty() {
                    g.name.clone()
                } else {
                    format!("{group} / {}", g.name)
                };
                let id = GroupId(intern(&mut self.groups, &full));
                Action::Group {
                    id,
                    body: self.steps_in(&format!("{p}.steps"), &g.steps, &full),
                }
            }
            Step::TryMax(t) => {
                let p = format!("{path}.try_max");
                if t.times == 0 {
                    self.problem(format!("{p}.times"), "`try_max` needs `times` >= 1");
                }
                Action::TryMax {
                    times: t.times.max(1),
                    counter: self.counter(&p, &t.counter),
                    body: self.steps_in(&format!("{p}.steps"), &t.steps, group),
                }
            }
            Step::ExitHereIfFailed => Action::ExitHereIfFailed,
            Step::ExitHere => Action::ExitHere,
        }
    }

    fn counter(&mut self, path: &str, counter: &Option<String>) -> Option<String> {
        if let Some(c) = counter {
            self.variable_name(&format!("{path}.counter"), c);
        }
        counter.clone()
    }

    fn variable_name(&mut self, path: &str, name: &str) {
        let ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            self.problem(path, format!("invalid variable name `{name}`: use letters, digits and `_`, not starting with a digit"));
        }
    }

    fn request(&mut self, path: &str, r: &Request) -> RequestAction {
        let name = r
            .name
            .clone()
            .unwrap_or_else(|| format!("{} {}", r.method, r.url));
        if name.trim().is_empty() {
            self.problem(format!("{path}.name"), "a request name must not be empty");
        }
        let id = RequestId(intern(&mut self.requests, &name));
        let method = Method::from_bytes(r.method.as_bytes()).unwrap_or_else(|_| {
            self.problem(
                format!("{path}.method"),
                format!("invalid HTTP method `{}`", r.method),
            );
            Method::GET
        });
        let url = self.template(&format!("{path}.url"), &r.url);
        let query = r
            .query
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    self.template(&key_path(&format!("{path}.query"), k), v),
                )
            })
            .collect();
        let bodies = usize::from(r.body.is_some())
            + usize::from(r.json.is_some())
            + usize::from(r.form.is_some())
            + usize::from(r.body_file.is_some());
        if bodies > 1 {
            self.problem(path, "choose one of body, json, form and body_file");
        }
        let mut content_type = None;
        let body = if let Some(b) = &r.body {
            Body::Text(self.template(&format!("{path}.body"), b))
        } else if let Some(j) = &r.json {
            content_type = Some("application/json");
            Body::Json(self.json_template(&format!("{path}.json"), j))
        } else if let Some(f) = &r.form {
            content_type = Some("application/x-www-form-urlencoded");
            Body::Form(
                f.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            self.template(&key_path(&format!("{path}.form"), k), v),
                        )
                    })
                    .collect(),
            )
        } else if let Some(file) = &r.body_file {
            match self.files.read(file) {
                Ok(bytes) => Body::File(bytes),
                Err(e) => {
                    self.problem(format!("{path}.body_file"), e);
                    Body::Empty
                }
            }
        } else {
            Body::Empty
        };
        let mut headers: Vec<(HeaderName, Template)> = Vec::new();
        for (k, v) in &r.headers {
            match HeaderName::from_bytes(k.as_bytes()) {
                Ok(name) => headers.push((
                    name,
                    self.template(&key_path(&format!("{path}.headers"), k), v),
                )),
                Err(_) => self.problem(
                    key_path(&format!("{path}.headers"), k),
                    format!("invalid header name `{k}`"),
                ),
            }
        }
        if let Some(ct) = content_type {
            if !headers.iter().any(|(n, _)| n == http::header::CONTENT_TYPE) {
                headers.push((http::header::CONTENT_TYPE, self.template(path, ct)));
            }
        }
        let mut checks = Vec::new();
        for (i, check) in r.checks.iter().enumerate() {
            let cpath = format!("{path}.checks[{i}]");
            match CompiledCheck::compile(check) {
                Ok(c) => checks.push(c),
                Err(e) => self.problem(cpath, e),
            }
        }
        if !checks
            .iter()
            .any(|c| matches!(c.source, CheckSource::Status(_)))
        {
            checks.insert(0, CompiledCheck::implicit_status());
        }
        let needs_body = checks.iter().any(CompiledCheck::needs_body);
        RequestAction {
            id,
            method,
            url,
            query,
            headers,
            body,
            checks,
            timeout: r.timeout.map_or(self.default_timeout, |t| t.get()),
            needs_body,
        }
    }
}

fn intern(names: &mut Vec<String>, name: &str) -> u32 {
    match names.iter().position(|n| n == name) {
        Some(i) => i as u32,
        None => {
            names.push(name.to_string());
            (names.len() - 1) as u32
        }
    }
}

/// Stands in for a template that failed to compile (compilation then fails as a whole).
fn empty_template() -> Template {
    Template::compile("").expect("the empty template compiles")
}
