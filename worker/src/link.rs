//! The worker's connection to the leading master.
//!
//! A worker knows a few master addresses. It talks to the leader only: a follower answers
//! `NotLeader` with the leader's address and the link moves there at once; a master that
//! cannot be reached, answers `Unavailable` (no quorum, shutting down) or breaks the
//! connection is left for the next address after a jittered, growing pause (50 ms to 1 s), so
//! that a fleet of workers re-finding a new leader never floods it. A call that misses its
//! deadline also moves the link on (a paused or cut-off master keeps its connections open):
//! another master either names the same leader again (it was only slow: one more chance) or
//! the new one; a second miss in a row sets the master aside for two deadlines (while the
//! others elect a new leader, their stale hints do not lead back to it, nor does the
//! rotation); after that it is a candidate again — a leader that was only out of reach (a
//! healed partition) is named by the others and found again. One tarpc client is
//! kept and dropped on any transport error (tarpc has no reconnect of its own).
//!
//! With TLS, a seed address must answer with any master's certificate and a leader hint with
//! the certificate of the master it names (by node id; a hint without one is not followed): a
//! forged hint cannot send the worker anywhere but to a master of the cluster's CA.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use broadside_rpc::transport::{self, context_with_timeout, Reach, Security};
use broadside_rpc::{CallError, LeaderHint, ServiceKind, WorkerRpcClient};
use rand::Rng;
use tarpc::client::RpcError;
use tarpc::context::Context;

/// First pause after a failed attempt.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Longest pause between attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Deadline of a connection attempt.
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);
/// How many call deadlines a master that missed two in a row is set aside: long enough for
/// the others to elect a new leader, short enough that a leader that was only out of reach
/// is found again well within a lease.
const QUARANTINE_DEADLINES: u32 = 2;

/// Why a call through the link failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The leader answered, and refused (bad request, conflict, stale attempt).
    #[error(transparent)]
    Refused(CallError),
    /// No leader answered within the call's patience.
    #[error("no leader answered within {patience:?}: {last}")]
    NoLeader {
        /// How long the call tried.
        patience: Duration,
        /// The last failure.
        last: String,
    },
}

struct Current {
    addr: String,
    /// Who must answer there.
    reach: Reach,
    client: Option<WorkerRpcClient>,
}

/// The link to the leader.
pub struct Link {
    masters: Vec<String>,
    security: Security,
    current: tokio::sync::Mutex<Current>,
    /// Index in `masters` of the next address to try after a failure.
    next: parking_lot::Mutex<usize>,
    /// Calls in a row that got no answer before their deadline.
    timeouts: AtomicU32,
    /// The master set aside after two missed deadlines, and until when
    /// ([`QUARANTINE_DEADLINES`] deadlines): meanwhile a stale "the leader is there" hint
    /// pointing back at it (from a follower that has not noticed yet) is not followed.
    unresponsive: parking_lot::Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("masters", &self.masters)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// A link to the masters at `masters` (`host:port` of their tarpc listeners), connecting
    /// as `security` says.
    pub fn new(masters: Vec<String>, security: Security) -> Link {
        let first = masters.first().cloned().unwrap_or_default();
        Link {
            masters,
            security,
            current: tokio::sync::Mutex::new(Current {
                addr: first,
                reach: Reach::AnyMaster,
                client: None,
            }),
            next: parking_lot::Mutex::new(1),
            timeouts: AtomicU32::new(0),
            unresponsive: parking_lot::Mutex::new(None),
        }
    }

    /// The address the link talks to now.
    pub async fn leader_addr(&self) -> String {
        self.current.lock().await.addr.clone()
    }

    /// The master set aside as unresponsive, while it is.
    fn avoided(&self) -> Option<String> {
        let mut unresponsive = self.unresponsive.lock();
        if unresponsive
            .as_ref()
            .is_some_and(|(_, until)| Instant::now() >= *until)
        {
            *unresponsive = None;
        }
        unresponsive.as_ref().map(|(addr, _)| addr.clone())
    }

    /// Moves to the next address in the list, passing over the current one and the one left
    /// aside as unresponsive (a paused master still accepts connections: going back to it
    /// would cost two more deadlines) unless no other is left.
    fn rotate(&self, current: &mut Current) {
        let len = self.masters.len();
        if len == 0 {
            return;
        }
        let avoid = self.avoided();
        let mut next = self.next.lock();
        let order: Vec<usize> = (0..len).map(|i| (*next + i) % len).collect();
        let usable = |i: &&usize| avoid.as_deref() != Some(self.masters[**i].as_str());
        let pick = order
            .iter()
            .filter(usable)
            .find(|i| self.masters[**i] != current.addr)
            .or_else(|| order.iter().find(usable))
            .copied()
            .unwrap_or(order[0]);
        current.addr = self.masters[pick].clone();
        current.reach = Reach::AnyMaster;
        *next = (pick + 1) % len;
        current.client = None;
    }

    /// The client of the current address, dialled (outside the lock, within `timeout`) when
    /// there is none.
    async fn client(&self, timeout: Duration) -> Result<WorkerRpcClient, String> {
        let (addr, reach) = {
            let current = self.current.lock().await;
            if let Some(c) = &current.client {
                return Ok(c.clone());
            }
            (current.addr.clone(), current.reach)
        };
        let dialled = transport::connect(
            &addr,
            ServiceKind::Worker,
            reach,
            &self.security,
            timeout.min(DIAL_TIMEOUT),
        )
        .await;
        let mut current = self.current.lock().await;
        match dialled {
            Ok(stream) => {
                let client = WorkerRpcClient::new(
                    tarpc::client::Config::default(),
                    transport::framed(stream, ServiceKind::Worker),
                )
                .spawn();
                if current.addr == addr && current.client.is_none() {
                    current.client = Some(client.clone());
                }
                Ok(client)
            }
            Err(e) => {
                if current.addr == addr {
                    self.rotate(&mut current);
                }
                Err(format!("cannot connect to {addr}: {e}"))
            }
        }
    }

    /// Follows a follower's hint (true), or moves on to the next address when there is none,
    /// it names the master just asked or the one left as unresponsive (false).
    async fn redirect(&self, hint: &LeaderHint) -> bool {
        let avoid = self.avoided();
        // With TLS a hint is followed only with the node id it names (a real master always
        // sends it), so that the handshake proves the master there is that node.
        let addr = hint
            .raft_addr
            .clone()
            .filter(|_| !self.security.is_tls() || hint.id.is_some())
            .filter(|h| avoid.as_deref() != Some(h.as_str()));
        let mut current = self.current.lock().await;
        match addr {
            Some(addr) if addr != current.addr => {
                tracing::info!(leader = %addr, id = ?hint.id, "following the leader");
                current.addr = addr;
                current.reach = hint.id.map_or(Reach::AnyMaster, Reach::Master);
                current.client = None;
                true
            }
            _ => {
                self.rotate(&mut current);
                false
            }
        }
    }

    async fn drop_client(&self) {
        let mut current = self.current.lock().await;
        self.rotate(&mut current);
    }

    /// Calls the leader with `call(client, context)`, following redirections and retrying
    /// across masters for up to `patience`; each attempt has a deadline of `deadline`.
    pub async fn call<T, F, Fut>(
        &self,
        patience: Duration,
        deadline: Duration,
        mut call: F,
    ) -> Result<T, LinkError>
    where
        F: FnMut(WorkerRpcClient, Context) -> Fut,
        Fut: Future<Output = Result<Result<T, CallError>, RpcError>>,
    {
        let give_up = Instant::now() + patience;
        let mut pause = BACKOFF_MIN;
        let mut last = String::new();
        loop {
            let remaining = give_up.saturating_duration_since(Instant::now());
            let answer = match self.client(remaining.max(BACKOFF_MIN)).await {
                Ok(client) => Some(call(client, context_with_timeout(deadline)).await),
                Err(e) => {
                    last = e;
                    None
                }
            };
            let mut wait = true;
            // A real answer (not a redirection) clears the suspicion.
            if let Some(Ok(result)) = &answer {
                if !matches!(result, Err(CallError::NotLeader(_))) {
                    self.timeouts.store(0, Ordering::Relaxed);
                    *self.unresponsive.lock() = None;
                }
            }
            match answer {
                Some(Ok(Ok(v))) => return Ok(v),
                Some(Ok(Err(CallError::NotLeader(hint)))) => {
                    // Straight to the leader when it is known; pause otherwise (an election,
                    // or a follower still naming the unresponsive master).
                    last = format!("not the leader (leader: {:?})", hint.raft_addr);
                    wait = !self.redirect(&hint).await;
                }
                Some(Ok(Err(CallError::Unavailable(e)))) => {
                    last = format!("unavailable: {e}");
                    self.drop_client().await;
                }
                Some(Ok(Err(refused))) => return Err(LinkError::Refused(refused)),
                // A paused or cut-off leader keeps its connections open and answers nothing:
                // after a missed deadline, ask another master who leads. One that names the
                // same master sends the link back (a slow leader gets a second chance); a
                // second miss with no real answer in between marks it unresponsive, and
                // neither hints nor the rotation lead back to it until a real answer.
                Some(Err(RpcError::DeadlineExceeded)) => {
                    last = "no answer before the deadline".to_owned();
                    let missed = self.timeouts.fetch_add(1, Ordering::Relaxed) + 1;
                    if missed >= 2 {
                        self.timeouts.store(0, Ordering::Relaxed);
                        let until = Instant::now() + deadline * QUARANTINE_DEADLINES;
                        *self.unresponsive.lock() = Some((self.leader_addr().await, until));
                    }
                    self.drop_client().await;
                }
                Some(Err(e)) => {
                    last = format!("transport: {e}");
                    self.drop_client().await;
                }
                None => {}
            }
            if Instant::now() >= give_up {
                return Err(LinkError::NoLeader { patience, last });
            }
            if wait {
                let jitter = rand::rng().random_range(0.5..1.5);
                let sleep = pause
                    .mul_f64(jitter)
                    .min(give_up.saturating_duration_since(Instant::now()));
                tokio::time::sleep(sleep).await;
                pause = (pause * 2).min(BACKOFF_MAX);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::net::TcpListener;

    /// How a fake master answers a call.
    #[derive(Clone, Copy)]
    enum Fake {
        /// Answers nothing (paused): the call runs into its deadline.
        Silent,
        /// A follower naming the master at this index as leader.
        Names(usize),
        /// The leader.
        Leads,
    }

    /// Three loopback listeners that never accept (connections complete in the backlog, as
    /// with a paused process) standing for masters whose answers the test scripts.
    async fn masters() -> (Vec<TcpListener>, Vec<String>) {
        let mut listeners = Vec::new();
        for _ in 0..3 {
            listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        let addrs = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().to_string())
            .collect();
        (listeners, addrs)
    }

    /// One call through `link` where master `i` behaves as `script[i]`; returns whether it
    /// succeeded and the masters called, in order.
    async fn call_once(link: &Link, addrs: &[String], script: &[Fake]) -> (bool, Vec<usize>) {
        const DEADLINE: Duration = Duration::from_millis(100);
        let called = Mutex::new(Vec::new());
        let result = link
            // Patience shorter than the deadline, as in heartbeats: one miss ends the call.
            .call(Duration::from_millis(50), DEADLINE, |_client, _ctx| {
                let called = &called;
                async move {
                    let addr = link.leader_addr().await;
                    let i = addrs.iter().position(|a| *a == addr).unwrap();
                    called.lock().unwrap().push(i);
                    match script[i] {
                        Fake::Silent => {
                            tokio::time::sleep(DEADLINE).await;
                            Err(RpcError::DeadlineExceeded)
                        }
                        Fake::Names(leader) => Ok(Err(CallError::NotLeader(LeaderHint {
                            id: Some(leader as u64),
                            raft_addr: Some(addrs[leader].clone()),
                            http_addr: None,
                        }))),
                        Fake::Leads => Ok(Ok(())),
                    }
                }
            })
            .await;
        (result.is_ok(), called.into_inner().unwrap())
    }

    #[tokio::test]
    async fn a_leader_that_stops_answering_is_left_after_one_missed_deadline() {
        let (_listeners, addrs) = masters().await;
        let link = Link::new(addrs.clone(), Security::Plain);
        // Master 0 led and is paused; master 1 already names the new leader, master 2.
        let script = [Fake::Silent, Fake::Names(2), Fake::Leads];
        let (ok, called) = call_once(&link, &addrs, &script).await;
        assert!(!ok, "the paused leader cannot answer");
        assert_eq!(called, [0]);
        let (ok, called) = call_once(&link, &addrs, &script).await;
        assert!(ok);
        assert_eq!(called, [1, 2], "asked another master, then followed it");
    }

    #[tokio::test]
    async fn a_slow_leader_named_again_gets_one_more_chance_then_is_avoided() {
        let (_listeners, addrs) = masters().await;
        let link = Link::new(addrs.clone(), Security::Plain);
        // The followers have not noticed yet: both name the silent master 0.
        let stale = [Fake::Silent, Fake::Names(0), Fake::Names(0)];
        let (ok, called) = call_once(&link, &addrs, &stale).await;
        assert!(!ok);
        assert_eq!(called, [0]);
        let (ok, called) = call_once(&link, &addrs, &stale).await;
        assert!(!ok);
        assert_eq!(called, [1, 0], "sent back to the master the follower names");
        // Two misses in a row: master 0 is unresponsive; a stale hint no longer leads there.
        let (_, called) = call_once(&link, &addrs, &stale).await;
        assert!(
            !called.contains(&0),
            "went back to the silent master: {called:?}"
        );
        // Master 2 wins the election: the link reaches it.
        let elected = [Fake::Silent, Fake::Names(0), Fake::Leads];
        let (ok, called) = call_once(&link, &addrs, &elected).await;
        assert!(ok, "{called:?}");
        assert_eq!(called.last(), Some(&2));
    }

    #[tokio::test]
    async fn a_leader_set_aside_is_found_again_when_the_others_keep_naming_it() {
        let (_listeners, addrs) = masters().await;
        let link = Link::new(addrs.clone(), Security::Plain);
        // The worker is cut off from the leader (master 0) for two deadlines: set aside.
        let cut = [Fake::Silent, Fake::Names(0), Fake::Names(0)];
        for _ in 0..2 {
            call_once(&link, &addrs, &cut).await;
        }
        assert_eq!(link.avoided().as_deref(), Some(addrs[0].as_str()));
        // The cut heals and no election happened: the followers keep naming master 0, and the
        // link must go back to it (before the fix it never did: the worker was declared dead).
        let healed = [Fake::Leads, Fake::Names(0), Fake::Names(0)];
        let give_up = Instant::now() + PATIENCE;
        loop {
            let (ok, called) = call_once(&link, &addrs, &healed).await;
            if ok {
                assert_eq!(called.last(), Some(&0));
                break;
            }
            assert!(Instant::now() < give_up, "never went back to the leader");
        }
        assert_eq!(link.avoided(), None, "a real answer clears the mark");
    }

    impl Link {
        fn set_aside(&self, addr: &str) {
            *self.unresponsive.lock() = Some((addr.to_owned(), Instant::now() + PATIENCE));
        }
    }

    const PATIENCE: Duration = Duration::from_secs(5);

    fn link(masters: &[&str]) -> Link {
        Link::new(
            masters.iter().map(|m| m.to_string()).collect(),
            Security::Plain,
        )
    }

    #[tokio::test]
    async fn rotation_walks_the_list_and_skips_the_current_address() {
        let link = link(&["a", "b", "c"]);
        let mut seen = Vec::new();
        for _ in 0..4 {
            link.drop_client().await;
            seen.push(link.leader_addr().await);
        }
        assert_eq!(seen, ["b", "c", "a", "b"]);
        // After a redirection the walk does not land on the address just left.
        link.redirect(&LeaderHint {
            id: None,
            raft_addr: Some("c".into()),
            http_addr: None,
        })
        .await;
        link.drop_client().await;
        assert_ne!(link.leader_addr().await, "c");
    }

    #[tokio::test]
    async fn rotation_never_goes_back_to_the_unresponsive_master_while_another_is_left() {
        let link = link(&["a", "b", "c"]);
        link.redirect(&LeaderHint {
            id: None,
            raft_addr: Some("c".into()),
            http_addr: None,
        })
        .await;
        link.set_aside("c");
        for _ in 0..6 {
            link.drop_client().await;
            assert_ne!(link.leader_addr().await, "c");
        }
        // A single master is retried even when it was unresponsive.
        let alone = self::link(&["a"]);
        alone.set_aside("a");
        alone.drop_client().await;
        assert_eq!(alone.leader_addr().await, "a");
    }
}
