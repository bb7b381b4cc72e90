//! How a distributed run's tasks were run: every attempt of every task, when it sent load, what
//! it reported and what arrived late; the windows in which a task had no attempt sending; and
//! per scenario, every planned arrival accounted for (sent, skipped between attempts, not
//! reported by a lost attempt, or not reached). A local run has none of this
//! (`RunReport::distribution` is absent).

use serde::{Deserialize, Serialize};

use crate::wire::ScenarioPosition;

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
    /// Every scenario's schedule accounted for across the attempts of every task.
    #[serde(default)]
    pub scenarios: Vec<ScenarioAccount>,
}

/// Where the whole schedule of one scenario went, summed over the tasks: for an open model in
/// arrivals, for a closed model in planned user-milliseconds. `planned = sent +
/// skipped_by_reassignment + refused_by_lease + unaccounted + not_reached`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ScenarioAccount {
    /// The scenario.
    pub name: String,
    /// `arrivals` (open model) or `user_ms` (closed model).
    pub unit: String,
    /// The schedule of every task.
    pub planned: u64,
    /// Run by an attempt (open: users started).
    pub sent: u64,
    /// Fell in a window in which no attempt of its task was running, after an attempt that
    /// reported everything it did (a reassignment's gap).
    pub skipped_by_reassignment: u64,
    /// Offered to an attempt while its lease had run out (it refused them, then went on).
    #[serde(default)]
    pub refused_by_lease: u64,
    /// Fell after the last report of an attempt whose worker never delivered the rest (a
    /// killed worker): sent or not, nobody can say.
    pub unaccounted: u64,
    /// Lay after the point the task had reached when the job ended (an abort, a failure, the
    /// simulation's maximum duration) or, while it runs, still to come.
    pub not_reached: u64,
    /// Requests of the scenario's users, reported.
    pub requests: u64,
    /// Of those, requests reported after their attempt had ended (late deltas).
    pub reported_late: u64,
}

/// What the deltas of one attempt said about its scenarios.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttemptPositions {
    /// Task index.
    pub task: u32,
    /// Attempt number.
    pub attempt: u32,
    /// Its latest position on each scenario (from its latest delta that said), if any.
    pub positions: Vec<ScenarioPosition>,
    /// Requests its deltas reported, per scenario.
    pub requests: Vec<u64>,
    /// Of those, requests in deltas that arrived after it ended.
    pub late_requests: Vec<u64>,
    /// Whether nothing it measured can be missing: its last delta arrived, it ended before it
    /// could send anything, or it still runs.
    pub accounted: bool,
}

/// Every scenario's schedule accounted for over the attempts (sorted by task and attempt), and
/// per attempt and scenario what fell in the window before it in which no attempt of its task
/// ran (skipped, or unaccounted after an attempt that did not report everything).
pub fn account_scenarios(
    names: &[String],
    attempts: &[AttemptPositions],
) -> (Vec<ScenarioAccount>, Vec<Vec<u64>>) {
    let mut out: Vec<ScenarioAccount> = names
        .iter()
        .map(|name| ScenarioAccount {
            name: name.clone(),
            ..ScenarioAccount::default()
        })
        .collect();
    let mut before = vec![vec![0; names.len()]; attempts.len()];
    let mut i = 0;
    while i < attempts.len() {
        let task = attempts[i].task;
        let end = i + attempts[i..].iter().take_while(|a| a.task == task).count();
        for (s, account) in out.iter_mut().enumerate() {
            let gaps = account_task(s, account, &attempts[i..end]);
            for (row, gap) in before[i..end].iter_mut().zip(gaps) {
                row[s] = gap;
            }
        }
        i = end;
    }
    (out, before)
}

/// Adds one task's attempts to scenario `s`'s account; returns the gap before each attempt.
fn account_task(
    s: usize,
    account: &mut ScenarioAccount,
    attempts: &[AttemptPositions],
) -> Vec<u64> {
    let mut gaps = vec![0; attempts.len()];
    let mut reached = 0u64;
    let mut planned = None;
    // Whether everything up to `reached` is known (the previous attempt reported it all).
    let mut known = true;
    for (a, gap_before) in attempts.iter().zip(gaps.iter_mut()) {
        account.requests += a.requests.get(s).copied().unwrap_or(0);
        account.reported_late += a.late_requests.get(s).copied().unwrap_or(0);
        let Some(p) = a.positions.get(s) else {
            known &= a.accounted;
            continue;
        };
        account.unit = if p.open { "arrivals" } else { "user_ms" }.into();
        planned = Some(p.planned);
        let gap = p.before.saturating_sub(reached);
        *gap_before = gap;
        if known {
            account.skipped_by_reassignment += gap;
        } else {
            account.unaccounted += gap;
        }
        account.sent += p.run;
        let reach = p.reached.max(p.before + p.run);
        account.refused_by_lease += reach - p.before - p.run;
        reached = reached.max(reach);
        known = a.accounted;
    }
    let rest = planned.unwrap_or(0).saturating_sub(reached);
    account.planned += planned.unwrap_or(0);
    if known {
        account.not_reached += rest;
    } else {
        account.unaccounted += rest;
    }
    gaps
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
    /// Per scenario (in the order of [`Distribution::scenarios`], in its unit): what fell
    /// between the point the previous attempts of its task reached and this attempt's start.
    #[serde(default)]
    pub skipped_before: Vec<u64>,
    /// Requests it reported.
    pub requests: u64,
    /// Of those, requests in deltas that arrived after it ended.
    pub late_requests: u64,
    /// Deltas that arrived after it ended.
    pub late_deltas: u64,
    /// When the first and the last late delta were committed (Unix milliseconds).
    pub late_between_unix_ms: Option<(u64, u64)>,
    /// Whether nothing it measured can be missing (its last delta arrived, it ended before it
    /// could send anything — before the job's start — or it still runs).
    #[serde(default = "yes")]
    pub accounted: bool,
    /// For an attempt that is not accounted for: from the moment its last delivered delta
    /// covers to its end (Unix milliseconds), the window whose requests nobody reported.
    #[serde(default)]
    pub unaccounted_unix_ms: Option<(u64, u64)>,
}

fn yes() -> bool {
    true
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

    fn open(planned: u64, before: u64, run: u64) -> ScenarioPosition {
        ScenarioPosition {
            open: true,
            planned,
            before,
            run,
            reached: before + run,
        }
    }

    fn positions(
        task: u32,
        attempt: u32,
        p: Option<ScenarioPosition>,
        accounted: bool,
    ) -> AttemptPositions {
        AttemptPositions {
            task,
            attempt,
            requests: p.iter().map(|p| p.run).collect(),
            positions: p.into_iter().collect(),
            late_requests: Vec::new(),
            accounted,
        }
    }

    #[test]
    fn every_planned_arrival_is_sent_skipped_unaccounted_or_not_reached() {
        let names = ["browse".to_string()];
        let attempts = [
            // Task 0: cut off after 400 arrivals; 100 skipped while nobody ran it; resumed.
            AttemptPositions {
                late_requests: vec![50],
                ..positions(0, 1, Some(open(1000, 0, 400)), true)
            },
            positions(0, 2, Some(open(1000, 500, 500)), true),
            // Task 1: killed after reporting 300; its successor started at 450.
            positions(1, 1, Some(open(1000, 0, 300)), false),
            positions(1, 2, Some(open(1000, 450, 550)), true),
            // Task 2: an attempt that never reported, then the job was aborted at 900.
            positions(2, 1, None, true),
            positions(2, 2, Some(open(1000, 0, 900)), true),
        ];
        let (accounts, before) = account_scenarios(&names, &attempts);
        let [a] = accounts.try_into().unwrap();
        assert_eq!(before, [[0], [100], [0], [150], [0], [0]]);
        assert_eq!(a.unit, "arrivals");
        assert_eq!(a.planned, 3000);
        assert_eq!(a.sent, 400 + 500 + 300 + 550 + 900);
        assert_eq!(a.skipped_by_reassignment, 100);
        assert_eq!(a.unaccounted, 150);
        assert_eq!(a.not_reached, 100);
        assert_eq!(
            a.planned,
            a.sent + a.skipped_by_reassignment + a.unaccounted + a.not_reached
        );
        assert_eq!(a.refused_by_lease, 0);
        assert_eq!(a.requests, a.sent);
        assert_eq!(a.reported_late, 50);
    }

    #[test]
    fn arrivals_an_attempt_refused_while_its_lease_had_run_out_are_stated() {
        let names = ["s".to_string()];
        // Started 400 of the first 450 it was offered (50 refused while its lease was out),
        // then went on to the end.
        let p = ScenarioPosition {
            reached: 1000,
            ..open(1000, 0, 950)
        };
        let (accounts, _) = account_scenarios(&names, &[positions(0, 1, Some(p), true)]);
        let a = &accounts[0];
        assert_eq!((a.sent, a.refused_by_lease, a.not_reached), (950, 50, 0));
        // Refused at the end (a paused worker waking up): the next attempt's gap, not a hole.
        let woke = ScenarioPosition {
            reached: 300,
            ..open(1000, 0, 300)
        };
        let attempts = [
            positions(0, 1, Some(woke), true),
            positions(0, 2, Some(open(1000, 450, 550)), true),
        ];
        let (accounts, before) = account_scenarios(&names, &attempts);
        let a = &accounts[0];
        assert_eq!(
            (a.sent, a.refused_by_lease, a.skipped_by_reassignment),
            (850, 0, 150)
        );
        assert_eq!(before, [[0], [150]]);
    }

    #[test]
    fn a_lost_last_attempt_leaves_the_rest_of_its_task_unaccounted() {
        let names = ["a".to_string(), "b".to_string()];
        let both = |run| vec![open(100, 0, run), open(10, 0, run / 10)];
        let attempts = [AttemptPositions {
            positions: both(60),
            ..positions(0, 1, None, false)
        }];
        let (accounts, _) = account_scenarios(&names, &attempts);
        assert_eq!(accounts[0].unaccounted, 40);
        assert_eq!(accounts[1].unaccounted, 4);
        assert_eq!(accounts[0].not_reached + accounts[1].not_reached, 0);
    }
}
