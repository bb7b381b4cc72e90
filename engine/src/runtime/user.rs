//! A virtual user: walks its scenario's actions, sends requests, runs checks, records outcomes.
//!
//! Latency is measured from the *intended* send time (no coordinated omission): a user starts
//! with the instant its arrival was scheduled, a pause moves that instant forward by exactly
//! the pause, and a request ends it. Whenever the engine (or a stalled target) makes a request
//! start late, the lateness is part of the measured latency.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::time::Instant;

use super::plan::{Action, Body, Count, RequestAction};
use super::shared::RunShared;
use crate::expr::Session;
use crate::feeder;
use crate::metrics::ErrorSample;
use crate::model::PauseSpec;
use crate::protocol::http::{join_url, HttpUser};
use crate::protocol::{PreparedRequest, Protocol, Response};
use crate::redact::Redactor;

/// What a block of actions tells its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Go on with the next action.
    Next,
    /// A request failed inside a `try_max`: leave the block so it can be retried.
    Interrupted,
    /// The user stops (`exit_here`, an empty queue feeder).
    Exit,
}

/// Sleeps until `target`; false when the run was stopped meanwhile.
async fn sleep_until(stopping: &tokio_util::sync::CancellationToken, target: Instant) -> bool {
    tokio::select! {
        () = tokio::time::sleep_until(target) => true,
        () = stopping.cancelled() => false,
    }
}

type BoxFlow<'a> = Pin<Box<dyn Future<Output = Flow> + Send + 'a>>;

/// One virtual user.
pub(crate) struct VirtualUser {
    run: Arc<RunShared>,
    session: Session,
    http: HttpUser,
    rng: SmallRng,
    /// Some request of this user failed (for `exit_here_if_failed`).
    failed: bool,
    /// Failures so far (a group is OK when it adds none).
    failures: u64,
    /// Nesting depth of `try_max` blocks: a failure inside one interrupts the block.
    try_depth: u32,
    /// When the next request should start, had everything been on time.
    intended: Instant,
    pace: Vec<Option<Instant>>,
    base_url: Option<Arc<str>>,
    /// A queue feeder had no record left for this user.
    starved: bool,
    /// The scenario it runs.
    scenario: usize,
}

impl VirtualUser {
    /// A user numbered `user_id` (unique across segments) whose timeline starts at `intended`.
    pub(crate) fn new(run: Arc<RunShared>, user_id: u64, intended: Instant) -> Self {
        let rng =
            SmallRng::seed_from_u64(run.plan.seed ^ user_id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let base_url = if run.base_urls.is_empty() {
            None
        } else {
            Some(run.base_urls[(user_id % run.base_urls.len() as u64) as usize].clone())
        };
        let http = run.protocol.new_user();
        VirtualUser {
            session: Session::new(user_id).with_secrets(run.secrets.clone()),
            http,
            rng,
            failed: false,
            failures: 0,
            try_depth: 0,
            intended,
            pace: Vec::new(),
            base_url,
            starved: false,
            scenario: 0,
            run,
        }
    }

    /// Runs the scenario `scenario` to its end; `false` when the user stopped because a queue
    /// feeder ran out (no later user of the scenario can get a record either).
    pub(crate) async fn run(mut self, scenario: usize) -> bool {
        self.scenario = scenario;
        let actions = self.run.plan.scenarios[scenario].actions.clone();
        let _ = self.block(&actions).await;
        !self.starved
    }

    async fn block(&mut self, actions: &[Action]) -> Flow {
        for action in actions {
            // A user whose steps never wait (a loop of `set`, requests refused before sending)
            // must still let the scheduler run timers, signals and other users.
            tokio::task::consume_budget().await;
            let flow = match action {
                Action::Request(r) => self.request(r).await,
                Action::Pause(p) => {
                    let d = self.pause_length(p);
                    self.sleep_from_intended(d).await
                }
                // Steps with nested blocks recurse through one boxed future per entry (not per
                // iteration): async recursion needs the indirection somewhere.
                other => self.compound(other).await,
            };
            if flow != Flow::Next {
                return flow;
            }
        }
        Flow::Next
    }

    fn compound<'a>(&'a mut self, action: &'a Action) -> BoxFlow<'a> {
        Box::pin(self.action(action))
    }

    async fn action(&mut self, action: &Action) -> Flow {
        match action {
            Action::Request(r) => self.request(r).await,
            Action::Pause(p) => {
                let d = self.pause_length(p);
                self.sleep_from_intended(d).await
            }
            Action::Pace(i, d) => self.pace(*i, *d).await,
            Action::Feed(i) => self.feed(*i),
            Action::Set(vars) => {
                for (name, template) in vars {
                    match template.render(&self.session, &mut self.rng) {
                        Ok(v) => self.session.set(name.clone(), v),
                        Err(e) => self.user_error(&format!("set `{name}`: {e}")),
                    }
                }
                Flow::Next
            }
            Action::Repeat {
                times,
                counter,
                body,
            } => {
                let n = match times {
                    Count::Fixed(n) => *n,
                    Count::Expr(t) => match t
                        .eval_value(&self.session, &mut self.rng)
                        .map(|v| as_count(&v))
                    {
                        Ok(Some(n)) => n,
                        Ok(None) => {
                            self.user_error("repeat: `times` is not a non-negative integer");
                            0
                        }
                        Err(e) => {
                            self.user_error(&format!("repeat: {e}"));
                            0
                        }
                    },
                };
                for i in 0..n {
                    if let Some(flow) = self.iteration(counter, i, body).await {
                        return flow;
                    }
                }
                Flow::Next
            }
            Action::During {
                duration,
                counter,
                body,
            } => {
                let deadline = Instant::now()
                    .checked_add(*duration)
                    .unwrap_or_else(far_future);
                let mut i = 0;
                while Instant::now() < deadline {
                    if let Some(flow) = self.iteration(counter, i, body).await {
                        return flow;
                    }
                    i += 1;
                }
                Flow::Next
            }
            Action::Foreach {
                items,
                element,
                counter,
                body,
            } => {
                let list = match items.eval_value(&self.session, &mut self.rng) {
                    Ok(Value::Array(list)) => list,
                    Ok(other) => {
                        self.user_error(&format!(
                            "foreach: expected a list, found {}",
                            type_name(&other)
                        ));
                        return Flow::Next;
                    }
                    Err(e) => {
                        self.user_error(&format!("foreach: {e}"));
                        return Flow::Next;
                    }
                };
                for (i, item) in list.into_iter().enumerate() {
                    self.session.set(element.clone(), item);
                    if let Some(flow) = self.iteration(counter, i as u64, body).await {
                        return flow;
                    }
                }
                Flow::Next
            }
            Action::AsLongAs {
                condition,
                max,
                counter,
                body,
            } => {
                let mut i = 0;
                while i < *max && self.condition(condition) {
                    if let Some(flow) = self.iteration(counter, i, body).await {
                        return flow;
                    }
                    i += 1;
                }
                Flow::Next
            }
            Action::If {
                condition,
                then,
                otherwise,
            } => {
                if self.condition(condition) {
                    self.block(then).await
                } else {
                    self.block(otherwise).await
                }
            }
            Action::Switch {
                value,
                cases,
                default,
            } => {
                let key = match value.render(&self.session, &mut self.rng) {
                    Ok(k) => k.into_owned(),
                    Err(e) => {
                        self.user_error(&format!("switch: {e}"));
                        return Flow::Next;
                    }
                };
                match cases.iter().find(|(k, _)| *k == key) {
                    Some((_, steps)) => self.block(steps).await,
                    None => self.block(default).await,
                }
            }
            Action::RandomSwitch(branches) => {
                let roll: f64 = self.rng.random_range(0.0..100.0);
                match branches.iter().find(|(bound, _)| roll < *bound) {
                    Some((_, steps)) => self.block(steps).await,
                    None => Flow::Next,
                }
            }
            Action::Group { id, body } => {
                let start = Instant::now();
                let before = self.failures;
                let flow = self.block(body).await;
                let end = Instant::now();
                self.run.recorder.record_group(
                    *id,
                    end.into_std(),
                    end - start,
                    self.failures == before,
                );
                flow
            }
            Action::TryMax {
                times,
                counter,
                body,
            } => {
                let failed_before = self.failed;
                self.try_depth += 1;
                let mut flow = Flow::Next;
                for attempt in 0..*times {
                    self.set_counter(counter, u64::from(attempt));
                    let before = self.failures;
                    flow = self.block(body).await;
                    if flow == Flow::Exit {
                        break;
                    }
                    if self.failures == before {
                        // Success: earlier failed attempts do not mark the user as failed.
                        self.failed = failed_before;
                        flow = Flow::Next;
                        break;
                    }
                }
                self.try_depth -= 1;
                match flow {
                    Flow::Interrupted if self.try_depth > 0 => Flow::Interrupted,
                    Flow::Interrupted => Flow::Next,
                    other => other,
                }
            }
            Action::ExitHereIfFailed => {
                if self.failed {
                    Flow::Exit
                } else {
                    Flow::Next
                }
            }
            Action::ExitHere => Flow::Exit,
        }
    }

    async fn request(&mut self, r: &RequestAction) -> Flow {
        if let Some(throttle) = &self.run.throttle {
            let before = Instant::now();
            if !throttle.acquire().await {
                // The cap stays at 0 for good: this user can send nothing more.
                return Flow::Exit;
            }
            // Waiting for the throttle is the plan, not the system's latency; lateness that
            // was already there stays in the measurement.
            self.intended += before.elapsed();
        }
        let prepared = match self.prepare(r) {
            Ok(p) => p,
            Err(e) => {
                let end = Instant::now();
                let e = self.run.redactor.text_owned(e);
                return self.outcome(r, end, Duration::ZERO, Err(e), None);
            }
        };
        if self.run.stopping.is_cancelled() {
            // Not sent, not counted: the run is being stopped.
            return Flow::Exit;
        }
        if !self.run.gate.is_open() {
            // Not sent, not counted: the lease ran out (the schedule is not run from here on).
            self.run.positions.refused();
            return Flow::Exit;
        }
        let started = Instant::now();
        let intended = self.intended.min(started);
        // Boxed: the exchange's state is large, and only users in a request need it; a user
        // parked in a pause stays small (memory per idle virtual user).
        let result = Box::pin(self.run.protocol.send(&mut self.http, &prepared)).await;
        let end = Instant::now();
        let latency = end - intended;
        let outcome = match result {
            Ok(response) => {
                let mut failure = None;
                for check in &r.checks {
                    if let Err(message) =
                        check.run(&response, latency, &mut self.session, &mut self.rng)
                    {
                        failure = Some(message);
                        break;
                    }
                }
                match failure {
                    None => Ok(()),
                    Some(message) => {
                        let message = self.shown_error(message, &prepared);
                        let sample = self.sample(&message, &prepared, Some(&response));
                        return self.outcome(r, end, latency, Err(message), sample);
                    }
                }
            }
            Err(e) => {
                let message = self.shown_error(e.to_string(), &prepared);
                let sample = self.sample(&message, &prepared, None);
                return self.outcome(r, end, latency, Err(message), sample);
            }
        };
        self.outcome(r, end, latency, outcome, None)
    }

    fn outcome(
        &mut self,
        r: &RequestAction,
        end: Instant,
        latency: Duration,
        result: Result<(), String>,
        sample: Option<(String, String)>,
    ) -> Flow {
        self.intended = end;
        let recorder = &self.run.recorder;
        match result {
            Ok(()) => {
                recorder.record_scenario_request(
                    self.scenario,
                    r.id,
                    end.into_std(),
                    latency,
                    true,
                    None,
                );
                Flow::Next
            }
            Err(error) => {
                recorder.record_scenario_request(
                    self.scenario,
                    r.id,
                    end.into_std(),
                    latency,
                    false,
                    Some(&error),
                );
                if let Some((request_text, response_text)) = sample {
                    recorder.record_error_sample(ErrorSample {
                        request: self.run.plan.request_names[r.id.0 as usize].clone(),
                        error,
                        request_text,
                        response_text,
                    });
                }
                self.failed = true;
                self.failures += 1;
                if self.try_depth > 0 {
                    Flow::Interrupted
                } else {
                    Flow::Next
                }
            }
        }
    }

    fn prepare(&mut self, r: &RequestAction) -> Result<PreparedRequest, String> {
        let path = r
            .url
            .render(&self.session, &mut self.rng)
            .map_err(|e| format!("url: {e}"))?;
        let mut url = join_url(self.base_url.as_deref(), &path);
        for (i, (name, value)) in r.query.iter().enumerate() {
            let value = value
                .render(&self.session, &mut self.rng)
                .map_err(|e| format!("query `{name}`: {e}"))?;
            let separator = if i == 0 && !url.contains('?') {
                Some('?')
            } else {
                Some('&')
            };
            push_encoded_pair(&mut url, separator, name, &value);
        }
        let mut headers = Vec::with_capacity(r.headers.len() + self.run.default_headers.len());
        for (name, value) in self.run.default_headers.iter() {
            if !r.headers.iter().any(|(n, _)| n == name) {
                headers.push((name.clone(), value.clone()));
            }
        }
        for (name, template) in &r.headers {
            let text = template
                .render(&self.session, &mut self.rng)
                .map_err(|e| format!("header `{name}`: {e}"))?;
            let value = HeaderValue::from_str(&text)
                .map_err(|_| format!("header `{name}`: invalid value"))?;
            headers.push((name.clone(), value));
        }
        let body = match &r.body {
            Body::Empty => Bytes::new(),
            Body::Text(t) => Bytes::from(
                t.render(&self.session, &mut self.rng)
                    .map_err(|e| format!("body: {e}"))?
                    .into_owned(),
            ),
            Body::Json(t) => {
                let v = t
                    .render(&self.session, &mut self.rng)
                    .map_err(|e| format!("json body: {e}"))?;
                Bytes::from(serde_json::to_vec(&v).map_err(|e| format!("json body: {e}"))?)
            }
            Body::Form(fields) => {
                let mut text = String::new();
                for (name, value) in fields {
                    let value = value
                        .render(&self.session, &mut self.rng)
                        .map_err(|e| format!("form `{name}`: {e}"))?;
                    let separator = (!text.is_empty()).then_some('&');
                    push_encoded_pair(&mut text, separator, name, &value);
                }
                Bytes::from(text)
            }
            Body::File(bytes) => bytes.clone(),
        };
        Ok(PreparedRequest {
            method: r.method.clone(),
            url,
            headers,
            body,
            timeout: r.timeout,
            keep_body: r.needs_body,
        })
    }

    /// An error message as reports show it (it names the error and counts it): a check's
    /// message may quote what the target sent back — a secret, or the value of a credential
    /// header the request carried and the target echoed.
    fn shown_error(&self, message: String, request: &PreparedRequest) -> String {
        let redactor = &self.run.redactor;
        let mut message = redactor.text_owned(message);
        let sent = request
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)));
        for value in redactor.hidden_values(sent) {
            if message.contains(value.as_str()) {
                message = message.replace(value.as_str(), crate::redact::REDACTED);
            }
        }
        message
    }

    /// The request/response texts of an error sample, when the recorder still wants one.
    fn sample(
        &self,
        error: &str,
        request: &PreparedRequest,
        response: Option<&Response>,
    ) -> Option<(String, String)> {
        self.run.recorder.wants_sample(error).then(|| {
            let redactor = &self.run.redactor;
            let response = response.map_or_else(
                || "(no response)".to_string(),
                |r| describe_response(r, redactor),
            );
            // What the request sent in hidden headers stays hidden where the response echoes it.
            let sent = request
                .headers
                .iter()
                .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)));
            let echoed = redactor.hidden_values(sent);
            let hide = |mut text: String| {
                for value in &echoed {
                    text = text.replace(value.as_str(), crate::redact::REDACTED);
                }
                text
            };
            (hide(describe_request(request, redactor)), hide(response))
        })
    }

    fn feed(&mut self, index: usize) -> Flow {
        match self.run.feeders[index].next() {
            Some(record) => {
                feeder::apply(&record, &mut self.session);
                Flow::Next
            }
            None => {
                self.run.note_feeder_exhausted(index);
                self.starved = true;
                Flow::Exit
            }
        }
    }

    fn condition(&mut self, condition: &crate::expr::Template) -> bool {
        match condition.eval_bool(&self.session, &mut self.rng) {
            Ok(b) => b,
            Err(e) => {
                self.user_error(&format!("condition: {e}"));
                false
            }
        }
    }

    fn pause_length(&mut self, pause: &PauseSpec) -> Duration {
        match pause {
            PauseSpec::Fixed(d) => d.get(),
            PauseSpec::Uniform { min, max } => {
                if min == max {
                    min.get()
                } else {
                    Duration::from_secs_f64(
                        self.rng
                            .random_range(min.get().as_secs_f64()..max.get().as_secs_f64()),
                    )
                }
            }
            PauseSpec::Exponential { mean } => {
                let u: f64 = self.rng.random_range(f64::EPSILON..1.0);
                let secs =
                    (-u.ln() * mean.get().as_secs_f64()).min(mean.get().as_secs_f64() * 10.0);
                Duration::from_secs_f64(secs)
            }
        }
    }

    /// Sleeps until `d` after the intended instant (not after now): if the engine wakes up
    /// late, the lateness shows in the next request's latency.
    /// A stop ends the wait and the user.
    async fn sleep_from_intended(&mut self, d: Duration) -> Flow {
        let target = self.intended.checked_add(d).unwrap_or_else(far_future);
        if !sleep_until(&self.run.stopping, target).await {
            return Flow::Exit;
        }
        self.intended = target;
        Flow::Next
    }

    async fn pace(&mut self, index: usize, d: Duration) -> Flow {
        if self.pace.len() <= index {
            self.pace.resize(index + 1, None);
        }
        let now = Instant::now();
        let target = match self.pace[index] {
            Some(last) => last.checked_add(d).unwrap_or_else(far_future).max(now),
            None => now,
        };
        if target > now {
            if !sleep_until(&self.run.stopping, target).await {
                return Flow::Exit;
            }
            // The wait is the plan: the next request is intended at the pace instant.
            self.intended = self.intended.max(target);
        }
        self.pace[index] = Some(target);
        Flow::Next
    }

    /// Runs iteration `i` of a loop body with its counter set; `Some(flow)` leaves the loop.
    async fn iteration(
        &mut self,
        counter: &Option<String>,
        i: u64,
        body: &[Action],
    ) -> Option<Flow> {
        self.set_counter(counter, i);
        match self.block(body).await {
            Flow::Next => None,
            flow => Some(flow),
        }
    }

    fn set_counter(&mut self, counter: &Option<String>, i: u64) {
        if let Some(name) = counter {
            self.session.set(name.clone(), Value::from(i));
        }
    }

    fn user_error(&mut self, message: &str) {
        self.run
            .recorder
            .record_user_error(&self.run.redactor.text(message));
        self.failed = true;
    }
}

/// Appends `name=value`, both URL-encoded, after `separator` (query strings and form bodies).
fn push_encoded_pair(out: &mut String, separator: Option<char>, name: &str, value: &str) {
    if let Some(c) = separator {
        out.push(c);
    }
    out.push_str(&crate::expr::url_encode(name));
    out.push('=');
    out.push_str(&crate::expr::url_encode(value));
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

fn as_count(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

const SAMPLE_BODY: usize = 2048;

/// A request as an error sample shows it: credentials redacted.
fn describe_request(r: &PreparedRequest, redactor: &Redactor) -> String {
    let mut text = format!("{} {}\n", r.method, redactor.text(&r.url));
    append_headers(&mut text, r.headers.iter().map(|(n, v)| (n, v)), redactor);
    append_body(&mut text, &r.body, redactor);
    text
}

/// A response as an error sample shows it: credentials redacted.
fn describe_response(r: &Response, redactor: &Redactor) -> String {
    let mut text = format!("{}\n", r.status);
    append_headers(&mut text, &r.headers, redactor);
    append_body(&mut text, &r.body, redactor);
    text
}

fn append_headers<'a>(
    text: &mut String,
    headers: impl IntoIterator<Item = (&'a HeaderName, &'a HeaderValue)>,
    redactor: &Redactor,
) {
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        text.push_str(&format!(
            "{name}: {}\n",
            redactor.header_value(name.as_str(), &value)
        ));
    }
}

fn append_body(text: &mut String, body: &[u8], redactor: &Redactor) {
    if body.is_empty() {
        return;
    }
    text.push('\n');
    // Redacted whole, then cut: a secret across the cut is hidden too.
    let whole = String::from_utf8_lossy(body);
    let redacted = redactor.text(&whole);
    let mut end = redacted.len().min(SAMPLE_BODY);
    while !redacted.is_char_boundary(end) {
        end -= 1;
    }
    text.push_str(&redacted[..end]);
    if body.len() > SAMPLE_BODY {
        text.push_str(&format!("\n… ({} bytes in all)", body.len()));
    }
}
