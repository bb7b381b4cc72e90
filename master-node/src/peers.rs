//! Connections to other masters: one lazily dialled tarpc client per address, dropped and
//! redialled after a transport error (tarpc never reconnects by itself), with a jittered
//! backoff between failed dials so that an unreachable peer is not hammered. A client serves
//! the node id it was dialled for: with TLS the connection reaches only the master whose
//! certificate names that id, and a call for another id at the same address redials.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use broadside_rpc::transport::{self, context_with_timeout, Reach, Security};
use broadside_rpc::{RaftRpcClient, ServiceKind};
use parking_lot::Mutex;
use rand::Rng;
use tarpc::client::RpcError;

/// Longest a dial may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// First and largest pause after a failed dial.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Why a call to a peer did not produce an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PeerError {
    /// No connection could be made (or it broke): the peer may be down.
    #[error("{addr} unreachable: {detail}")]
    Unreachable { addr: String, detail: String },
    /// The deadline passed before the answer came.
    #[error("{addr} did not answer within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    /// The peer answered with a refusal (e.g. this master is not a member it knows).
    #[error("{addr} refused: {detail}")]
    Refused { addr: String, detail: String },
    /// The call failed in transit (e.g. a message over the frame limit).
    #[error("call to {addr} failed: {detail}")]
    Network { addr: String, detail: String },
}

#[derive(Default)]
struct Slot {
    /// The client, and the node id it was dialled for.
    client: Option<(u64, RaftRpcClient)>,
    failures: u32,
    retry_at: Option<Instant>,
    /// Calls in a row that got no answer before their deadline.
    timeouts: u32,
}

/// Calls in a row without an answer after which a connection counts as half-open (the peer
/// paused or cut off, the socket still up) and is redialled.
const TIMEOUTS_BEFORE_REDIAL: u32 = 3;

/// The client pool.
pub(crate) struct Peers {
    security: Security,
    slots: Mutex<HashMap<String, Slot>>,
}

impl Peers {
    /// A pool whose connections are secured as `security` says.
    pub(crate) fn new(security: Security) -> Peers {
        Peers {
            security,
            slots: Mutex::default(),
        }
    }

    /// A connected client for master `id` at `addr`, dialling it when there is none.
    async fn client(&self, id: u64, addr: &str) -> Result<RaftRpcClient, PeerError> {
        {
            let slots = self.slots.lock();
            if let Some(slot) = slots.get(addr) {
                if let Some((_, client)) = slot.client.as_ref().filter(|(n, _)| *n == id) {
                    return Ok(client.clone());
                }
                if slot.retry_at.is_some_and(|t| Instant::now() < t) {
                    return Err(PeerError::Unreachable {
                        addr: addr.to_owned(),
                        detail: format!("backing off after {} failed dials", slot.failures),
                    });
                }
            }
        }
        let dialled = transport::connect(
            addr,
            ServiceKind::Raft,
            Reach::Master(id),
            &self.security,
            CONNECT_TIMEOUT,
        )
        .await;
        let mut slots = self.slots.lock();
        let slot = slots.entry(addr.to_owned()).or_default();
        match dialled {
            Ok(stream) => {
                let client = RaftRpcClient::new(
                    tarpc::client::Config::default(),
                    transport::framed(stream, ServiceKind::Raft),
                )
                .spawn();
                slot.client = Some((id, client.clone()));
                slot.failures = 0;
                slot.retry_at = None;
                Ok(client)
            }
            Err(e) => {
                slot.failures = slot.failures.saturating_add(1);
                let exp = BACKOFF_MIN.saturating_mul(1 << slot.failures.min(6));
                let pause = exp.min(BACKOFF_MAX);
                let jitter = rand::rng().random_range(0..=pause.as_millis() as u64 / 2);
                slot.retry_at = Some(Instant::now() + pause + Duration::from_millis(jitter));
                Err(PeerError::Unreachable {
                    addr: addr.to_owned(),
                    detail: e.to_string(),
                })
            }
        }
    }

    /// Forgets the client of `addr` so that the next call redials.
    fn reset(&self, addr: &str) {
        if let Some(slot) = self.slots.lock().get_mut(addr) {
            slot.client = None;
            slot.timeouts = 0;
        }
    }

    /// Calls master `id` at `addr` with a deadline of `timeout`.
    pub(crate) async fn call<R, F, Fut>(
        &self,
        id: u64,
        addr: &str,
        timeout: Duration,
        f: F,
    ) -> Result<R, PeerError>
    where
        F: FnOnce(RaftRpcClient, tarpc::context::Context) -> Fut,
        Fut: Future<Output = Result<R, RpcError>>,
    {
        let client = self.client(id, addr).await?;
        let call = f(client, context_with_timeout(timeout));
        let outcome = match tokio::time::timeout(timeout, call).await {
            Ok(outcome) => outcome,
            Err(_) => Err(RpcError::DeadlineExceeded),
        };
        match outcome {
            Ok(r) => {
                if let Some(slot) = self.slots.lock().get_mut(addr) {
                    slot.timeouts = 0;
                }
                Ok(r)
            }
            Err(RpcError::DeadlineExceeded) => {
                let half_open = self.slots.lock().get_mut(addr).is_some_and(|slot| {
                    slot.timeouts += 1;
                    slot.timeouts >= TIMEOUTS_BEFORE_REDIAL
                });
                if half_open {
                    tracing::debug!(%addr, "no answer {TIMEOUTS_BEFORE_REDIAL} times in a row; redialling");
                    self.reset(addr);
                }
                Err(PeerError::Timeout {
                    addr: addr.to_owned(),
                    timeout,
                })
            }
            Err(e @ (RpcError::Shutdown | RpcError::Channel(_))) => {
                self.reset(addr);
                Err(PeerError::Unreachable {
                    addr: addr.to_owned(),
                    detail: e.to_string(),
                })
            }
            Err(e) => Err(PeerError::Network {
                addr: addr.to_owned(),
                detail: e.to_string(),
            }),
        }
    }
}
