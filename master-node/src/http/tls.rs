//! The REST API over TLS. The certificate and key files are read at start, and again when
//! either file changes (checked every [`CHECK_EVERY`]) or the master receives SIGHUP, so that
//! a renewed certificate is served without a restart; connections already open keep theirs. A
//! pair that does not load leaves the previous one in service and is logged.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// How often the files are checked for a change.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(2);

/// The REST API's certificate and key files (PEM).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestTlsFiles {
    /// The certificate chain, the server's certificate first.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// The configuration in service, and what it was loaded from.
pub(crate) struct RestTls {
    files: RestTlsFiles,
    current: RwLock<Arc<ServerConfig>>,
    /// Modification times of the pair last read (loaded or not), to notice a change.
    seen: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn load(files: &RestTlsFiles) -> Result<Arc<ServerConfig>, String> {
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    broadside_pki::tls::rest_server_config(&read(&files.cert)?, &read(&files.key)?)
        .map_err(|e| format!("{}: {e}", files.cert.display()))
}

impl RestTls {
    /// Reads the pair; fails with what is wrong with it.
    pub(crate) fn load(files: RestTlsFiles) -> Result<Arc<RestTls>, String> {
        let seen = (modified(&files.cert), modified(&files.key));
        let config = load(&files)?;
        Ok(Arc::new(RestTls {
            files,
            current: RwLock::new(config),
            seen: Mutex::new(seen),
        }))
    }

    /// An acceptor with the configuration in service.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.read().clone())
    }

    /// Reads the pair again: when `always`, or when a file changed since it was last read.
    fn reload(&self, always: bool) {
        let stamp = (modified(&self.files.cert), modified(&self.files.key));
        {
            let mut seen = self.seen.lock();
            if !always && *seen == stamp {
                return;
            }
            *seen = stamp;
        }
        match load(&self.files) {
            Ok(config) => {
                *self.current.write() = config;
                tracing::info!(cert = %self.files.cert.display(), "REST TLS certificate reloaded");
            }
            Err(e) => tracing::error!(
                error = %e,
                "REST TLS certificate not reloaded; the previous one stays in service"
            ),
        }
    }

    /// Reloads on a file change or SIGHUP until `stop`.
    pub(crate) async fn watch(self: Arc<Self>, stop: CancellationToken) {
        let mut hangups =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let hangup = async {
                match hangups.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                _ = hangup => self.reload(true),
                _ = tick.tick() => self.reload(false),
            }
        }
    }
}
