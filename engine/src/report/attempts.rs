//! How a distributed run's tasks were run: every attempt of every task, when it sent load, what
//! it reported and what arrived late; the windows in which a task had no attempt sending. A
//! local run has none of this (`RunReport::distribution` is absent).

use serde::{Deserialize, Serialize};

/// Every attempt of every task of a distributed run, and the report's amendments.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Distribution {
    /// Attempts by task and attempt number.
    pub attempts: Vec<AttemptSummary>,
    /// Requests counted from deltas that arrived after their attempt had ended (delivered by a
    /// worker that was cut off, paused or restarted): the report was amended by them.
    pub late_requests: u64,
    /// Those deltas.
    pub late_deltas: u64,
    /// Whole seconds in which a task had no attempt sending while another attempt of it came
    /// later, summed over the tasks (the load missing from the run's shape).
    pub gap_seconds: u64,
}

impl Distribution {
    /// Whether deltas arrived after their attempt ended.
    pub fn amended(&self) -> bool {
        self.late_deltas > 0
    }
}

/// One attempt of one task.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct AttemptSummary {
    /// Task index.
    pub task: u32,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// The worker that ran it.
    pub worker: String,
    /// When it was claimed (Unix milliseconds).
    pub claimed_at_unix_ms: u64,
    /// When its worker reported the load running.
    pub started_at_unix_ms: Option<u64>,
    /// When it ended, if it did.
    pub ended_at_unix_ms: Option<u64>,
    /// How: `succeeded`, `failed`, `stopped` (with its job) or `reassigned`.
    pub end: Option<String>,
    /// Why, when it says.
    pub reason: String,
    /// First and last second of the run (from its start) in which it sent requests.
    pub sending: Option<(u64, u64)>,
    /// Whole seconds between the previous attempt's last sending second and this one's first.
    pub gap_before_seconds: u64,
    /// Requests it reported.
    pub requests: u64,
    /// Of those, requests in deltas that arrived after it ended.
    pub late_requests: u64,
    /// Deltas that arrived after it ended.
    pub late_deltas: u64,
    /// When the first and the last late delta were committed (Unix milliseconds).
    pub late_between_unix_ms: Option<(u64, u64)>,
}

/// Fills each attempt's `gap_before_seconds` (attempts sorted by task and attempt) and returns
/// the sum.
pub fn measure_gaps(attempts: &mut [AttemptSummary]) -> u64 {
    let mut total = 0;
    let mut previous: Option<(u32, u64)> = None;
    for a in attempts.iter_mut() {
        let Some((first, last)) = a.sending else {
            continue;
        };
        if let Some((task, prev_last)) = previous {
            if task == a.task {
                a.gap_before_seconds = first.saturating_sub(prev_last + 1);
                total += a.gap_before_seconds;
            }
        }
        previous = Some((a.task, last));
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(task: u32, attempt: u32, sending: Option<(u64, u64)>) -> AttemptSummary {
        AttemptSummary {
            task,
            attempt,
            sending,
            ..AttemptSummary::default()
        }
    }

    #[test]
    fn gaps_are_the_silent_seconds_between_attempts_of_a_task() {
        let mut attempts = vec![
            attempt(0, 1, Some((0, 9))),
            attempt(0, 2, None),
            attempt(0, 3, Some((15, 30))),
            attempt(1, 1, Some((0, 30))),
            attempt(2, 1, Some((0, 4))),
            attempt(2, 2, Some((5, 30))),
        ];
        assert_eq!(measure_gaps(&mut attempts), 5);
        let gaps: Vec<u64> = attempts.iter().map(|a| a.gap_before_seconds).collect();
        assert_eq!(gaps, [0, 0, 5, 0, 0, 0]);
    }
}
