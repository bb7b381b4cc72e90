//! Certificate files read again without a restart: when any of them changes (modification
//! time, checked every [`CHECK_EVERY`]) or the process receives SIGHUP. Connections already open
//! keep what they were made with; a set of files that does not load leaves the previous one in
//! service and is logged. Used for the cluster port ([`crate::transport::Security`]) and for the
//! masters' REST API.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

/// How often the files are checked for a change.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

/// Files to watch, and what reads them again.
pub struct Watched<F> {
    /// What they are, for the log.
    what: &'static str,
    paths: Vec<PathBuf>,
    /// Modification times of the files last read (loaded or not), to notice a change.
    seen: Mutex<Vec<Option<SystemTime>>>,
    reload: F,
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl<F> Watched<F>
where
    F: Fn() -> Result<(), String>,
{
    /// `paths`, read again by `reload` (which puts what it read in service, or says what is
    /// wrong). The files as they are now count as read.
    pub fn new(what: &'static str, paths: Vec<PathBuf>, reload: F) -> Self {
        let seen = paths.iter().map(|p| modified(p)).collect();
        Watched {
            what,
            paths,
            seen: Mutex::new(seen),
            reload,
        }
    }

    /// Reads the files again: when `always`, or when one changed since they were last read.
    /// Whether a new set was put in service.
    pub fn check(&self, always: bool) -> bool {
        let stamp: Vec<_> = self.paths.iter().map(|p| modified(p)).collect();
        {
            let mut seen = self.seen.lock();
            if !always && *seen == stamp {
                return false;
            }
            *seen = stamp;
        }
        match (self.reload)() {
            Ok(()) => {
                tracing::info!(what = self.what, file = %self.paths[0].display(), "certificate reloaded");
                true
            }
            Err(e) => {
                tracing::error!(what = self.what, error = %e, "certificate not reloaded; the previous one stays in service");
                false
            }
        }
    }

    /// Checks on every [`CHECK_EVERY`] and on SIGHUP until `stop` completes.
    pub async fn watch(self, stop: impl Future<Output = ()>) {
        let mut hangups =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            let hangup = async {
                match hangups.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut stop => return,
                _ = hangup => { self.check(true); }
                _ = tick.tick() => { self.check(false); }
            }
        }
    }
}
