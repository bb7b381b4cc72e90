//! The nemesis: faults injected into a [`Cluster`] on a seeded schedule, each undone after its
//! pause, and recorded (what, to whom, when) so that the oracle can tell a consequence of a
//! fault from a spurious one.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use broadside_harness::{signal, Cluster, LinkState, Peer};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// A fault the nemesis can inject; each is undone after the pause it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL the leader, restart it.
    KillLeader,
    /// SIGKILL a follower, restart it.
    KillFollower,
    /// Cut the leader from every other master (a minority of one), heal.
    IsolateLeader,
    /// Cut only what the leader sends to the other masters (they still reach it), heal.
    LeaderCannotSend,
    /// SIGSTOP the leader, SIGCONT it.
    PauseLeader,
    /// Delay every master↔master link by 50–200 ms, heal.
    SlowLinks,
    /// SIGKILL every master at once, restart them all.
    CrashAll,
    /// Add a new master, then remove the leader from the membership and stop it (not undone;
    /// the new master's links are not proxied).
    ReplaceLeader,
    /// SIGSTOP worker `n` (1-based), SIGCONT it.
    PauseWorker(usize),
    /// Cut worker `n` off from every master, heal.
    CutWorker(usize),
    /// SIGKILL worker `n`, restart it (same id and cache).
    KillWorker(usize),
}

impl Fault {
    /// Whether it makes the cluster elect another leader (or elect again after a crash).
    pub fn hits_leader(self) -> bool {
        matches!(
            self,
            Fault::KillLeader
                | Fault::IsolateLeader
                | Fault::LeaderCannotSend
                | Fault::PauseLeader
                | Fault::CrashAll
                | Fault::ReplaceLeader
        )
    }

    /// The worker it hits, if any.
    pub fn worker(self) -> Option<usize> {
        match self {
            Fault::PauseWorker(n) | Fault::CutWorker(n) | Fault::KillWorker(n) => Some(n),
            _ => None,
        }
    }
}

/// One injected fault.
#[derive(Clone, Debug)]
pub struct Injected {
    /// Which.
    pub fault: Fault,
    /// The leader when it was injected (for faults on the leader).
    pub leader: Option<u64>,
    /// When it began.
    pub began: Instant,
    /// When it began, Unix milliseconds (to compare with the masters' records).
    pub began_unix_ms: u64,
    /// When it was undone.
    pub ended: Instant,
    /// When it was undone, Unix milliseconds.
    pub ended_unix_ms: u64,
    /// What happened, for the log.
    pub description: String,
}

impl Injected {
    /// From when the cluster is expected to recover: the fault's start, or its end when the
    /// fault itself keeps every master down (a crash of all: no leader can exist until the
    /// restart).
    pub fn recovery_from(&self) -> Instant {
        match self.fault {
            Fault::CrashAll => self.ended,
            _ => self.began,
        }
    }
}

/// Now, in Unix milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Injects `fault`, waits `pause`, undoes it.
pub async fn inject(cluster: &mut Cluster, fault: Fault, pause: Duration) -> Injected {
    let l = cluster.leader().await;
    let began = Instant::now();
    let began_unix_ms = unix_ms();
    let description = match fault {
        Fault::KillLeader => {
            cluster.kill(l);
            tokio::time::sleep(pause).await;
            cluster.restart(l).await;
            format!("killed leader {l}, restarted after {pause:?}")
        }
        Fault::KillFollower => {
            let follower = cluster
                .masters
                .iter()
                .find(|m| m.id != l && m.is_running())
                .map(|m| m.id)
                .expect("a running follower");
            cluster.kill(follower);
            tokio::time::sleep(pause).await;
            cluster.restart(follower).await;
            format!("killed follower {follower}, restarted after {pause:?}")
        }
        Fault::IsolateLeader => {
            cluster.isolate(Peer::Master(l));
            tokio::time::sleep(pause).await;
            cluster.heal();
            format!("isolated leader {l} for {pause:?}")
        }
        Fault::LeaderCannotSend => {
            for m in cluster.masters.iter().filter(|m| m.id != l) {
                cluster.set_link(Peer::Master(l), m.id, LinkState::Cut);
            }
            tokio::time::sleep(pause).await;
            cluster.heal();
            format!("cut what leader {l} sends to the others for {pause:?}")
        }
        Fault::PauseLeader => {
            let pid = cluster.master(l).pid().expect("the leader runs");
            signal(pid, "STOP");
            tokio::time::sleep(pause).await;
            signal(pid, "CONT");
            format!("paused leader {l} for {pause:?}")
        }
        Fault::SlowLinks => {
            let delay = Duration::from_millis(50 + pause.as_millis() as u64 % 151);
            let ids: Vec<u64> = cluster.masters.iter().map(|m| m.id).collect();
            for from in &ids {
                for to in ids.iter().filter(|to| *to != from) {
                    cluster.set_link(Peer::Master(*from), *to, LinkState::Delay(delay));
                }
            }
            tokio::time::sleep(pause).await;
            cluster.heal();
            format!("delayed every master link by {delay:?} for {pause:?}")
        }
        Fault::CrashAll => {
            let ids: Vec<u64> = cluster
                .masters
                .iter()
                .filter(|m| m.is_running())
                .map(|m| m.id)
                .collect();
            for id in &ids {
                cluster.kill(*id);
            }
            tokio::time::sleep(pause).await;
            for id in &ids {
                cluster.start_master(*id);
            }
            format!(
                "crashed all {} masters, restarted after {pause:?}",
                ids.len()
            )
        }
        Fault::ReplaceLeader => {
            let new = cluster.add_master().await;
            cluster.remove_master(l).await;
            format!("added master {new}, removed leader {l}")
        }
        Fault::PauseWorker(n) => {
            let pid = cluster.worker(n).pid().expect("the worker runs");
            signal(pid, "STOP");
            tokio::time::sleep(pause).await;
            signal(pid, "CONT");
            format!("paused worker {n} for {pause:?}")
        }
        Fault::CutWorker(n) => {
            cluster.isolate(Peer::Worker(n));
            tokio::time::sleep(pause).await;
            cluster.heal();
            format!("cut worker {n} off for {pause:?}")
        }
        Fault::KillWorker(n) => {
            cluster.kill_worker(n);
            tokio::time::sleep(pause).await;
            cluster.restart_worker(n);
            format!("killed worker {n}, restarted after {pause:?}")
        }
    };
    Injected {
        fault,
        leader: fault.hits_leader().then_some(l),
        began,
        began_unix_ms,
        ended: Instant::now(),
        ended_unix_ms: unix_ms(),
        description,
    }
}

/// A seeded schedule of `count` faults drawn from `faults`, with pauses between `min` and
/// `max`.
pub fn schedule(
    seed: u64,
    faults: &[Fault],
    count: usize,
    min: Duration,
    max: Duration,
) -> Vec<(Fault, Duration)> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let fault = faults[rng.random_range(0..faults.len())];
            let pause = Duration::from_millis(
                rng.random_range(min.as_millis() as u64..=max.as_millis() as u64),
            );
            (fault, pause)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_is_reproducible_from_its_seed_and_stays_in_bounds() {
        let faults = [Fault::KillLeader, Fault::PauseWorker(2), Fault::SlowLinks];
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(15));
        let a = schedule(42, &faults, 50, min, max);
        assert_eq!(a, schedule(42, &faults, 50, min, max));
        assert_ne!(a, schedule(43, &faults, 50, min, max));
        assert!(a.iter().all(|(_, p)| (min..=max).contains(p)));
        for f in faults {
            assert!(a.iter().any(|(g, _)| *g == f), "{f:?} never drawn");
        }
    }

    #[test]
    fn faults_know_what_they_hit() {
        assert!(Fault::PauseLeader.hits_leader());
        assert!(Fault::ReplaceLeader.hits_leader());
        assert!(!Fault::KillFollower.hits_leader());
        assert_eq!(Fault::CutWorker(3).worker(), Some(3));
        assert_eq!(Fault::CrashAll.worker(), None);
    }

    #[test]
    fn recovery_counts_from_the_restart_only_after_a_crash_of_every_master() {
        let began = Instant::now();
        let ended = began + Duration::from_secs(9);
        let injected = |fault| Injected {
            fault,
            leader: None,
            began,
            began_unix_ms: 0,
            ended,
            ended_unix_ms: 9_000,
            description: String::new(),
        };
        assert_eq!(injected(Fault::CrashAll).recovery_from(), ended);
        for fault in [Fault::KillLeader, Fault::PauseLeader, Fault::IsolateLeader] {
            assert_eq!(injected(fault).recovery_from(), began, "{fault:?}");
        }
    }
}
