//! Blocking work (RocksDB reads, simulation validation, report building) off the async
//! threads, with a bound on how much runs at once: a burst of heavy requests waits for a
//! permit instead of taking every blocking thread, and never stalls heartbeats or Raft, which
//! run on the async threads.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// A bounded lane of blocking work. A permit is held by the closure itself, not by the caller:
/// a caller that gives up (a client gone, a deadline) does not free its slot while the closure
/// still runs.
pub(crate) struct Blocking {
    permits: Arc<Semaphore>,
    what: &'static str,
}

impl Blocking {
    /// A lane running at most `permits` closures at once.
    pub(crate) fn new(what: &'static str, permits: usize) -> Blocking {
        Blocking {
            permits: Arc::new(Semaphore::new(permits)),
            what,
        }
    }

    /// Runs `f` on a blocking thread once a permit is free.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::Unavailable(format!("{} lane closed", self.what)))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|e| Error::internal(format_args!("{}: {e}", self.what)))?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_beyond_the_permits_waits_for_one() {
        let lane = Arc::new(Blocking::new("test", 2));
        let mut gates = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let (release, gate) = std::sync::mpsc::channel::<()>();
            gates.push(release);
            let lane = lane.clone();
            tasks.push(tokio::spawn(async move {
                lane.run(move || {
                    let _ = gate.recv();
                    Ok(())
                })
                .await
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while lane.permits.available_permits() > 0 {
            assert!(Instant::now() < deadline, "the two closures never started");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // A third waits for a permit: it is pending until one of the two ends.
        let third = lane.run(|| Ok(3));
        tokio::pin!(third);
        assert!(futures::poll!(&mut third).is_pending());
        gates.pop().expect("a gate").send(()).expect("released");
        assert_eq!(third.await.expect("ran"), 3);
        gates.pop().expect("a gate").send(()).expect("released");
        for t in tasks {
            t.await.expect("joined").expect("ran");
        }
    }
}
