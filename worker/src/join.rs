//! First contact with a join token (`docs/security.md#join-tokens`): a worker without a
//! certificate of its own connects with only the cluster CA and asks the leader for an identity
//! with the token, its name (`DATA/worker-id`) and a secret it made. The secret is written to
//! `DATA/worker-join` (mode 0600) before it asks, so that asking again after a lost answer gets
//! the same identity. What it is given — its worker id `NAME@POOL` and its pool — is kept with
//! the secret in `DATA/worker-credential` (mode 0600); from then on the worker presents that
//! credential on every connection, and a restart on the same data directory uses it again
//! without the token.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use broadside_rpc::transport::Credential;
use broadside_rpc::worker::JoinRequest;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::WorkerConfig;
use crate::link::{Link, LinkError};
use crate::worker::WorkerError;

/// File of the credential in the data directory.
pub const CREDENTIAL_FILE: &str = "worker-credential";

/// File of the secret of a join under way.
const PENDING_FILE: &str = "worker-join";

/// How long a join waits for a leader before it gives up.
const JOIN_PATIENCE: Duration = Duration::from_secs(120);

#[derive(Serialize, Deserialize)]
struct Stored {
    worker_id: String,
    pool: String,
    secret: String,
}

#[derive(Serialize, Deserialize)]
struct Pending {
    secret: String,
}

fn read<T: DeserializeOwned>(file: &Path) -> Result<Option<T>, WorkerError> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(WorkerError::Data(format!("{}: {e}", file.display()))),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| WorkerError::Data(format!("{}: {e}", file.display())))
}

/// Writes `value` to `file` readable by its owner only, atomically.
fn write(file: &Path, value: &impl Serialize) -> Result<(), WorkerError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let failed = |e: std::io::Error| WorkerError::Data(format!("{}: {e}", file.display()));
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let tmp = file.with_extension("tmp");
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(failed)?;
    let text = serde_json::to_vec(value).map_err(|e| WorkerError::Data(e.to_string()))?;
    out.write_all(&text).map_err(failed)?;
    out.sync_all().map_err(failed)?;
    std::fs::rename(&tmp, file).map_err(failed)
}

/// Whether `data` holds a credential from an earlier join.
pub(crate) fn has_credential(data: &Path) -> bool {
    data.join(CREDENTIAL_FILE).exists()
}

/// Asks for an identity with `token` under `name`, with the secret of a join under way if an
/// earlier attempt left one.
async fn join(config: &WorkerConfig, token: &str, name: &str) -> Result<Stored, WorkerError> {
    let pending_file = config.data.join(PENDING_FILE);
    let secret = match read::<Pending>(&pending_file)? {
        Some(pending) => pending.secret,
        None => {
            let bytes: [u8; 32] = rand::random();
            let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
            write(
                &pending_file,
                &Pending {
                    secret: secret.clone(),
                },
            )?;
            secret
        }
    };
    let link = Link::new(config.masters.clone(), config.security.clone());
    let request = JoinRequest {
        token: token.to_owned(),
        name: name.to_owned(),
        secret: secret.clone(),
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
        secret,
    };
    write(&config.data.join(CREDENTIAL_FILE), &stored)?;
    let _ = std::fs::remove_file(&pending_file);
    tracing::info!(worker = %stored.worker_id, pool = %stored.pool, "joined the cluster with the join token");
    Ok(stored)
}

/// The configuration to run with and the worker id: unchanged without a join token or a
/// credential; else presenting the credential kept in the data directory, or the one a join
/// with the token gives now (`name` asked for), and serving the pool it is bound to.
pub async fn ensure(
    mut config: WorkerConfig,
    name: String,
) -> Result<(WorkerConfig, String), WorkerError> {
    if !config.security.is_tls() {
        return Ok((config, name));
    }
    let stored = match (
        read::<Stored>(&config.data.join(CREDENTIAL_FILE))?,
        &config.join_token,
    ) {
        (Some(stored), _) => stored,
        (None, Some(token)) => join(&config, &token.0, &name).await?,
        (None, None) => return Ok((config, name)),
    };
    if stored.pool != config.pool {
        tracing::info!(pool = %stored.pool, asked = %config.pool, "serving the pool this worker joined");
    }
    config.pool = stored.pool;
    config.security = config.security.with_credential(Credential {
        worker_id: stored.worker_id.clone(),
        secret: stored.secret,
    });
    Ok((config, stored.worker_id))
}
