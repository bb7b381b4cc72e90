//! State shared by every virtual user of one run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::{HeaderName, HeaderValue};

use super::plan::Plan;
use crate::feeder::Feeder;
use crate::metrics::Recorder;
use crate::protocol::http::HttpProtocol;
use crate::redact::Redactor;
use crate::schedule::Throttle;
use crate::secrets::Secrets;

/// What users of one run share: the plan, the protocol (and its shared pool, if any), the
/// recorder, feeders, the throttle.
pub(crate) struct RunShared {
    pub plan: Arc<Plan>,
    pub protocol: HttpProtocol,
    pub recorder: Recorder,
    pub feeders: Vec<Feeder>,
    pub throttle: Option<Throttle>,
    pub base_urls: Vec<Arc<str>>,
    pub default_headers: Vec<(HeaderName, HeaderValue)>,
    /// Asked before every request (see [`super::Gate`]).
    pub gate: super::Gate,
    /// Cancelled when the run is asked to stop: no driver starts a user, no user sends another
    /// request or stays in a pause, and exchanges already sent finish (their responses are
    /// counted) until the run's hard cancellation, [`super::STOP_GRACE`] later.
    pub stopping: tokio_util::sync::CancellationToken,
    /// What error samples and messages must not show.
    pub redactor: Redactor,
    /// What `secret('name')` reads.
    pub secrets: Secrets,
    /// Where the run stands on each scenario's schedule.
    pub positions: super::position::Positions,
    feeder_exhausted: Vec<AtomicBool>,
}

impl RunShared {
    pub(crate) fn new(
        plan: Arc<Plan>,
        protocol: HttpProtocol,
        recorder: Recorder,
        feeders: Vec<Feeder>,
        throttle: Option<Throttle>,
        secrets: Secrets,
        positions: super::position::Positions,
    ) -> Result<Self, String> {
        let mut default_headers = Vec::new();
        for (name, value) in &plan.http.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid header name `{name}`"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("invalid value for header `{name}`"))?;
            default_headers.push((name, value));
        }
        let base_urls = plan
            .base_urls
            .iter()
            .map(|u| Arc::from(u.as_str()))
            .collect();
        let feeder_exhausted = feeders.iter().map(|_| AtomicBool::new(false)).collect();
        let redactor = Redactor::new(
            plan.http.sensitive_headers.iter().map(String::as_str),
            secrets.iter().map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        Ok(RunShared {
            plan,
            protocol,
            recorder,
            feeders,
            throttle,
            base_urls,
            default_headers,
            gate: super::Gate::default(),
            stopping: tokio_util::sync::CancellationToken::new(),
            redactor,
            secrets,
            positions,
            feeder_exhausted,
        })
    }

    /// Notes (once per feeder) that a queue feeder ran out of records.
    pub(crate) fn note_feeder_exhausted(&self, index: usize) {
        let name = &self.plan.feeders[index].name;
        if !self.feeder_exhausted[index].swap(true, Ordering::Relaxed) {
            tracing::warn!(feeder = %name, "feeder ran out of records; users that need one stop");
        }
        self.recorder
            .record_user_error(&format!("feeder `{name}` is empty"));
    }
}
