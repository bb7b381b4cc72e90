//! What a worker reports about the segment it runs, and how it is encoded on the wire and in
//! the master's log.
//!
//! * [`TaskDelta`]: one heartbeat interval of one task attempt — the exact, mergeable
//!   [`RunStats`] recorded since the previous delta ([`crate::metrics::Recorder::take_delta`]),
//!   the log lines of that interval and the progress (elapsed time, active users). Deltas are
//!   numbered by the worker and folded by the master once each, so the sum of an attempt's
//!   deltas is exactly what it measured, and the sum over every attempt of every task is the
//!   job's result.
//!   Each delta also says where the attempt stands on every scenario's schedule
//!   ([`ScenarioPosition`], cumulative), so the masters can tell which planned arrivals were
//!   sent, which fell in a gap between attempts and which were never reported; the last delta
//!   of an attempt is marked ([`TaskDelta::last`]).
//! * The final [`RunReport`] of an attempt (its segment's report).
//!
//! Both are encoded with bincode 2 (serde, standard configuration) behind a one-byte format
//! version, so a master refuses a report from an incompatible worker with a clear error instead
//! of misreading it.

use serde::{Deserialize, Serialize};

use crate::metrics::RunStats;
use crate::report::RunReport;

/// Version byte in front of every encoded delta and report.
pub const WIRE_VERSION: u8 = 2;
/// Longest log message kept (longer ones are cut, with a marker).
pub const MAX_LOG_MESSAGE: usize = 4096;
/// Most log lines one delta carries (the rest are counted in [`TaskDelta::logs_dropped`]).
pub const MAX_LOG_LINES: usize = 100;

/// Severity of a task log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Progress information.
    Info,
    /// A failed check or request, with its sample.
    Warn,
    /// The engine could not do what the simulation asked.
    Error,
}

/// One log line of a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Worker wall clock, Unix milliseconds.
    pub at_ms: u64,
    /// Severity.
    pub level: LogLevel,
    /// Text, at most [`MAX_LOG_MESSAGE`] bytes.
    pub message: String,
}

impl LogLine {
    /// A line with `message` cut to [`MAX_LOG_MESSAGE`] bytes (on a character boundary).
    pub fn new(at_ms: u64, level: LogLevel, message: &str) -> Self {
        let message = if message.len() > MAX_LOG_MESSAGE {
            let mut end = MAX_LOG_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}… (cut)", &message[..end])
        } else {
            message.to_owned()
        };
        LogLine {
            at_ms,
            level,
            message,
        }
    }
}

/// One heartbeat interval of one task attempt.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct TaskDelta {
    /// Milliseconds into the schedule when the delta was taken.
    pub elapsed_ms: u64,
    /// Virtual users active then.
    pub users: u64,
    /// What was measured since the previous delta.
    pub stats: RunStats,
    /// Log lines of the interval, at most [`MAX_LOG_LINES`].
    pub logs: Vec<LogLine>,
    /// Lines beyond [`MAX_LOG_LINES`] that were not sent.
    pub logs_dropped: u64,
    /// Where the attempt stands on each scenario's schedule (in the plan's order), cumulative
    /// since the attempt started; empty when the sender does not say.
    pub scenarios: Vec<ScenarioPosition>,
    /// The attempt's last delta: nothing it measured is left unsent after it.
    pub last: bool,
}

/// Where one attempt stands on one scenario's schedule, cumulative since it started. For an
/// open model the unit is arrivals; for a closed model it is planned user-milliseconds (the
/// schedule's concurrency integrated over time), so that in both the attempts of a task and
/// the gaps between them add up to the whole schedule of the task's segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ScenarioPosition {
    /// Whether the unit is arrivals (open model) or user-milliseconds (closed model).
    pub open: bool,
    /// The whole schedule of the segment.
    pub planned: u64,
    /// The part that lies before the attempt's start offset (run by earlier attempts, or
    /// skipped).
    pub before: u64,
    /// The part this attempt has run since its start (open: users started).
    pub run: u64,
    /// How far into the schedule it got: `before` plus everything up to its last started
    /// arrival (open), or `before + run` (closed). Between `before + run` and `reached` lie the
    /// arrivals it was offered but refused because its lease had run out.
    pub reached: u64,
}

/// A delta or report that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Empty input.
    #[error("empty {0}")]
    Empty(&'static str),
    /// Another format version.
    #[error("{what} has format version {found}; this build reads version {WIRE_VERSION}")]
    Version {
        /// What was decoded.
        what: &'static str,
        /// Version found.
        found: u8,
    },
    /// A value that could not be encoded (a histogram the HDR encoder refused).
    #[error("cannot encode {what}: {message}")]
    Unencodable {
        /// What was encoded.
        what: &'static str,
        /// Encoder's message.
        message: String,
    },
    /// Malformed bytes.
    #[error("malformed {what}: {message}")]
    Malformed {
        /// What was decoded.
        what: &'static str,
        /// Decoder's message.
        message: String,
    },
}

fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, WireError> {
    let mut out = vec![WIRE_VERSION];
    let bytes = bincode::serde::encode_to_vec(value, bincode::config::standard()).map_err(|e| {
        WireError::Unencodable {
            what,
            message: e.to_string(),
        }
    })?;
    out.extend(bytes);
    Ok(out)
}

fn decode<T: serde::de::DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, WireError> {
    let (&version, body) = bytes.split_first().ok_or(WireError::Empty(what))?;
    if version != WIRE_VERSION {
        return Err(WireError::Version {
            what,
            found: version,
        });
    }
    let (value, read) = bincode::serde::decode_from_slice(body, bincode::config::standard())
        .map_err(|e| WireError::Malformed {
            what,
            message: e.to_string(),
        })?;
    if read != body.len() {
        return Err(WireError::Malformed {
            what,
            message: format!("{} trailing bytes", body.len() - read),
        });
    }
    Ok(value)
}

impl TaskDelta {
    /// The encoded delta.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        encode("task delta", self)
    }

    /// Decodes a delta.
    pub fn decode(bytes: &[u8]) -> Result<TaskDelta, WireError> {
        decode("task delta", bytes)
    }
}

/// The encoded final report of a task attempt.
pub fn encode_report(report: &RunReport) -> Result<Vec<u8>, WireError> {
    encode("task report", report)
}

/// Decodes a task attempt's final report.
pub fn decode_report(bytes: &[u8]) -> Result<RunReport, WireError> {
    decode("task report", bytes)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::{RequestStats, SecondStats};

    fn stats(latencies_ms: &[u64]) -> RunStats {
        let mut s = RunStats::default();
        let mut r = RequestStats::default();
        let mut second = SecondStats::new(3);
        for ms in latencies_ms {
            r.record(Duration::from_millis(*ms), ms % 2 == 0);
            second.latency.record_micros(ms * 1000);
            second.ok += 1;
        }
        s.requests.insert("home".into(), r);
        s.series.push(second);
        s.add_error("status 500", 2);
        s.users_started = 4;
        s
    }

    #[test]
    fn deltas_round_trip_exactly() {
        let delta = TaskDelta {
            elapsed_ms: 3_500,
            users: 7,
            stats: stats(&[1, 2, 3, 250, 900]),
            logs: vec![LogLine::new(1, LogLevel::Warn, "check failed: status 500")],
            logs_dropped: 3,
            scenarios: vec![ScenarioPosition {
                open: true,
                planned: 60,
                before: 20,
                run: 4,
                reached: 25,
            }],
            last: true,
        };
        let decoded = TaskDelta::decode(&delta.encode().unwrap()).expect("decodes");
        assert_eq!(decoded, delta);
        assert_eq!(
            decoded.stats.requests["home"].latency.percentile_ms(99.0),
            delta.stats.requests["home"].latency.percentile_ms(99.0)
        );
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        assert_eq!(TaskDelta::decode(&[]), Err(WireError::Empty("task delta")));
        let mut other = TaskDelta::default().encode().unwrap();
        other[0] = 9;
        assert!(matches!(
            TaskDelta::decode(&other),
            Err(WireError::Version { found: 9, .. })
        ));
        let mut trailing = TaskDelta::default().encode().unwrap();
        trailing.push(0);
        assert!(matches!(
            TaskDelta::decode(&trailing),
            Err(WireError::Malformed { .. })
        ));
        assert!(matches!(
            decode_report(&[WIRE_VERSION, 0xff, 0xff]),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn long_log_messages_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_LOG_MESSAGE);
        let line = LogLine::new(0, LogLevel::Info, &long);
        assert!(line.message.len() <= MAX_LOG_MESSAGE + "… (cut)".len());
        assert!(line.message.ends_with("(cut)"));
    }
}
