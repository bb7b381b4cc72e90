//! First contact with a join token (`docs/security.md#join-tokens`): a worker without a
//! certificate of its own connects with only the cluster CA, asks the leader for an identity
//! with the token, and keeps what it is given — its worker id, its pool and a secret — in
//! `DATA/worker-credential` (mode 0600). From then on it presents that credential on every
//! connection, and a restart on the same data directory uses it again without joining.

use std::path::Path;
use std::time::Duration;

use broadside_rpc::transport::{Credential, Security};
use broadside_rpc::worker::JoinRequest;
use serde::{Deserialize, Serialize};

use crate::config::WorkerConfig;
use crate::link::{Link, LinkError};
use crate::worker::WorkerError;

/// File of the credential in the data directory.
pub const CREDENTIAL_FILE: &str = "worker-credential";

/// How long a join waits for a leader before it gives up.
const JOIN_PATIENCE: Duration = Duration::from_secs(120);

#[derive(Serialize, Deserialize)]
struct Stored {
    worker_id: String,
    pool: String,
    secret: String,
}

fn read(file: &Path) -> Result<Option<Stored>, WorkerError> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(WorkerError::Data(format!("{}: {e}", file.display()))),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| WorkerError::Data(format!("{}: {e}", file.display())))
}

fn write(file: &Path, stored: &Stored) -> Result<(), WorkerError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let failed = |e: std::io::Error| WorkerError::Data(format!("{}: {e}", file.display()));
    let tmp = file.with_extension("tmp");
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(failed)?;
    let text = serde_json::to_vec(stored).map_err(|e| WorkerError::Data(e.to_string()))?;
    out.write_all(&text).map_err(failed)?;
    out.sync_all().map_err(failed)?;
    std::fs::rename(&tmp, file).map_err(failed)
}

/// The configuration to run with: unchanged without a join token; else presenting the
/// credential kept in the data directory, or the one a join with the token gives now, and
/// serving the pool the token is for.
pub async fn ensure(
    mut config: WorkerConfig,
    worker_id: &str,
) -> Result<WorkerConfig, WorkerError> {
    let Some(token) = config.join_token.clone() else {
        return Ok(config);
    };
    let file = config.data.join(CREDENTIAL_FILE);
    let stored = match read(&file)? {
        Some(stored) if stored.worker_id == worker_id => stored,
        Some(stored) => {
            return Err(WorkerError::Data(format!(
                "{} holds the credential of worker {:?}, not of {worker_id:?}",
                file.display(),
                stored.worker_id
            )))
        }
        None => {
            let link = Link::new(config.masters.clone(), config.security.clone());
            let request = JoinRequest {
                token,
                worker_id: worker_id.to_owned(),
            };
            let joined = link
                .call(JOIN_PATIENCE, Duration::from_secs(10), |c, ctx| {
                    let request = request.clone();
                    async move { c.join(ctx, request).await }
                })
                .await
                .map_err(|e| match e {
                    LinkError::Refused(e) => WorkerError::Refused(format!("join: {e}")),
                    other => WorkerError::Refused(format!("join: {other}")),
                })?;
            let stored = Stored {
                worker_id: joined.worker_id,
                pool: joined.pool,
                secret: joined.secret,
            };
            std::fs::create_dir_all(&config.data)
                .map_err(|e| WorkerError::Data(format!("{}: {e}", config.data.display())))?;
            write(&file, &stored)?;
            tracing::info!(worker = %stored.worker_id, pool = %stored.pool, "joined the cluster with the join token");
            stored
        }
    };
    if stored.pool != config.pool {
        tracing::info!(pool = %stored.pool, asked = %config.pool, "serving the join token's pool");
    }
    config.pool = stored.pool;
    config.security = match &config.security {
        Security::Plain => Security::Plain,
        tls => tls.with_credential(Credential {
            worker_id: stored.worker_id,
            secret: stored.secret,
        }),
    };
    Ok(config)
}
