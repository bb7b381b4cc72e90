//! State shared by every connection of one target: counters, the stall
//! switch, the token issuer and pre-rendered bodies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::auth::Auth;
use crate::stats::Stats;

/// Longest stall (and longest `/delay`) the target accepts.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(60);

/// Everything a request handler needs.
pub(crate) struct AppState {
    /// Live counters (shared with the public [`Stats`] handles).
    pub(crate) stats: Arc<Stats>,
    /// The `/admin/stall` switch.
    pub(crate) stall: Stall,
    /// Issues and checks `/login` tokens.
    pub(crate) auth: Auth,
    /// Pre-rendered body of `GET /json`.
    pub(crate) json_doc: Bytes,
}

impl AppState {
    /// Fresh state with empty counters.
    pub(crate) fn new() -> Self {
        Self {
            stats: Arc::new(Stats::new()),
            stall: Stall::new(),
            auth: Auth::new(),
            json_doc: crate::handlers::render_json_doc(),
        }
    }
}

/// Makes requests that arrive before a deadline wait until it.
///
/// The deadline is stored as nanoseconds after `base` (plus one, so that 0
/// means "no stall ever set"); checking it costs one atomic load.
pub(crate) struct Stall {
    base: Instant,
    until: AtomicU64,
}

impl Stall {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            until: AtomicU64::new(0),
        }
    }

    /// Stalls requests arriving from now until `now + duration` (capped at
    /// [`MAX_WAIT`]), replacing any previous stall. Returns the duration used.
    pub(crate) fn start(&self, duration: Duration) -> Duration {
        let duration = duration.min(MAX_WAIT);
        let deadline = Instant::now() + duration;
        let nanos = deadline.saturating_duration_since(self.base).as_nanos();
        let stored = u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1;
        self.until.store(stored, Ordering::Release);
        duration
    }

    /// Waits until the current stall (if any) ends.
    pub(crate) async fn wait(&self) {
        let stored = self.until.load(Ordering::Acquire);
        if stored == 0 {
            return;
        }
        let Some(deadline) = self.base.checked_add(Duration::from_nanos(stored - 1)) else {
            return;
        };
        if deadline > Instant::now() {
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stall_waits_until_deadline_and_caps() {
        let stall = Stall::new();
        let started = Instant::now();
        stall.wait().await; // no stall set: immediate
        assert_eq!(
            stall.start(Duration::from_millis(50)),
            Duration::from_millis(50)
        );
        stall.wait().await;
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(stall.start(Duration::from_secs(3600)), MAX_WAIT);
        stall.start(Duration::ZERO); // replaces: no more stall
        let before = Instant::now();
        stall.wait().await;
        assert!(before.elapsed() < Duration::from_secs(30));
    }
}
