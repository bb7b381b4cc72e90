//! The worker's connection to the leading master.
//!
//! A worker knows a few master addresses. It talks to the leader only: a follower answers
//! `NotLeader` with the leader's address and the link moves there at once; a master that
//! cannot be reached, answers `Unavailable` (no quorum, shutting down) or breaks the
//! connection is left for the next address after a jittered, growing pause (50 ms to 1 s), so
//! that a fleet of workers re-finding a new leader never floods it. One tarpc client is kept
//! and dropped on any transport error (tarpc has no reconnect of its own).

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use broadside_rpc::transport::{self, context_with_timeout};
use broadside_rpc::{CallError, ServiceKind, WorkerRpcClient};
use rand::Rng;
use tarpc::client::RpcError;
use tarpc::context::Context;

/// First pause after a failed attempt.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Longest pause between attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Deadline of a connection attempt.
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

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
    client: Option<WorkerRpcClient>,
}

/// The link to the leader.
pub struct Link {
    masters: Vec<String>,
    current: tokio::sync::Mutex<Current>,
    /// Index in `masters` of the next address to try after a failure.
    next: parking_lot::Mutex<usize>,
    /// Calls in a row that got no answer before their deadline.
    timeouts: AtomicU32,
    /// The master left after timeouts: a stale "the leader is there" hint pointing back at it
    /// (from a follower that has not noticed yet) is not followed.
    unresponsive: parking_lot::Mutex<Option<String>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("masters", &self.masters)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// A link to the masters at `masters` (`host:port` of their tarpc listeners).
    pub fn new(masters: Vec<String>) -> Link {
        let first = masters.first().cloned().unwrap_or_default();
        Link {
            masters,
            current: tokio::sync::Mutex::new(Current {
                addr: first,
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

    fn rotate(&self, current: &mut Current) {
        let mut next = self.next.lock();
        if self.masters.is_empty() {
            return;
        }
        current.addr = self.masters[*next % self.masters.len()].clone();
        *next = (*next + 1) % self.masters.len();
        current.client = None;
    }

    /// The client of the current address, dialled (outside the lock, within `timeout`) when
    /// there is none.
    async fn client(&self, timeout: Duration) -> Result<WorkerRpcClient, String> {
        let addr = {
            let current = self.current.lock().await;
            if let Some(c) = &current.client {
                return Ok(c.clone());
            }
            current.addr.clone()
        };
        let dialled =
            transport::connect(&addr, ServiceKind::Worker, timeout.min(DIAL_TIMEOUT)).await;
        let mut current = self.current.lock().await;
        match dialled {
            Ok(stream) => {
                let client = WorkerRpcClient::new(
                    tarpc::client::Config::default(),
                    transport::framed(stream),
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

    async fn redirect(&self, hint: Option<String>) {
        let hint = hint.filter(|h| self.unresponsive.lock().as_deref() != Some(h.as_str()));
        let mut current = self.current.lock().await;
        match hint {
            Some(addr) if addr != current.addr => {
                tracing::info!(leader = %addr, "following the leader");
                current.addr = addr;
                current.client = None;
            }
            _ => self.rotate(&mut current),
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
            if let Some(Ok(result)) = &answer {
                self.timeouts.store(0, Ordering::Relaxed);
                // A real answer (not a redirection) clears the suspicion.
                if !matches!(result, Err(CallError::NotLeader(_))) {
                    *self.unresponsive.lock() = None;
                }
            }
            match answer {
                Some(Ok(Ok(v))) => return Ok(v),
                Some(Ok(Err(CallError::NotLeader(hint)))) => {
                    // Straight to the leader when it is known; pause otherwise (an election).
                    wait = hint.raft_addr.is_none();
                    last = format!("not the leader (leader: {:?})", hint.raft_addr);
                    self.redirect(hint.raft_addr).await;
                }
                Some(Ok(Err(CallError::Unavailable(e)))) => {
                    last = format!("unavailable: {e}");
                    self.drop_client().await;
                }
                Some(Ok(Err(refused))) => return Err(LinkError::Refused(refused)),
                // One slow answer is not a dead master: keep the connection. Two in a row (a
                // paused or cut-off leader keeps its connections open) move to the next master.
                Some(Err(RpcError::DeadlineExceeded)) => {
                    last = "no answer before the deadline".to_owned();
                    let missed = self.timeouts.fetch_add(1, Ordering::Relaxed) + 1;
                    if missed >= 2 {
                        self.timeouts.store(0, Ordering::Relaxed);
                        *self.unresponsive.lock() = Some(self.leader_addr().await);
                        self.drop_client().await;
                    }
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
