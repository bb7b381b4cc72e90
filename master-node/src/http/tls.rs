//! The REST API over TLS. The certificate and key files are read at start, and again when
//! either file changes or the master receives SIGHUP (`broadside_rpc::reload`), so that a
//! renewed certificate is served without a restart; connections already open keep theirs. A
//! pair that does not load leaves the previous one in service and is logged.

use std::path::PathBuf;
use std::sync::Arc;

use broadside_rpc::reload::Watched;
use parking_lot::RwLock;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

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
        let config = load(&files)?;
        Ok(Arc::new(RestTls {
            files,
            current: RwLock::new(config),
        }))
    }

    /// An acceptor with the configuration in service.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.read().clone())
    }

    /// Reloads on a file change or SIGHUP until `stop`.
    pub(crate) async fn watch(self: Arc<Self>, stop: CancellationToken) {
        let paths = vec![self.files.cert.clone(), self.files.key.clone()];
        let watched = Watched::new("REST API", paths, move || {
            *self.current.write() = load(&self.files)?;
            Ok(())
        });
        watched.watch(async move { stop.cancelled().await }).await;
    }
}
