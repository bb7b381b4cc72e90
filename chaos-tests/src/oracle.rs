//! The oracle of the write workload: after the faults heal, every acknowledged write must be on
//! every master, identical; nothing refused may be anywhere; every master must hold the same
//! projects and files; and no linearizable read may have missed an acknowledged write.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use broadside_client::api::{FileVersion, Project};
use broadside_client::{Client, ClientError};
use broadside_harness::Cluster;
use serde::de::DeserializeOwned;

use crate::history::{History, Op, Outcome, Write, FILES_PROJECT};
use crate::masters::Masters;

/// What the oracle found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Operations attempted.
    pub attempted: usize,
    /// Acknowledged.
    pub ok: usize,
    /// Refused.
    pub failed: usize,
    /// Why they were refused.
    pub refusals: Vec<String>,
    /// Without an answer.
    pub unknown: usize,
    /// Linearizable read-backs that answered.
    pub reads: u64,
    /// Read-backs that missed an acknowledged write (must be 0).
    pub stale_reads: Vec<String>,
    /// Acknowledged but missing on some master (must be 0).
    pub lost: Vec<Write>,
    /// Refused but present (must be 0).
    pub phantom: Vec<Write>,
    /// Masters whose projects or files differ from the first one's (must be 0).
    pub diverged: Vec<u64>,
}

impl Verdict {
    /// Whether the run is correct.
    pub fn passed(&self) -> bool {
        self.lost.is_empty()
            && self.phantom.is_empty()
            && self.diverged.is_empty()
            && self.stale_reads.is_empty()
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "writes: {} attempted, {} ok, {} failed, {} unknown; acknowledged lost: {}; refused but present: {}; diverged masters: {:?}; linearizable reads: {}, stale: {}",
            self.attempted,
            self.ok,
            self.failed,
            self.unknown,
            self.lost.len(),
            self.phantom.len(),
            self.diverged,
            self.reads,
            self.stale_reads.len()
        )?;
        for refusal in self.refusals.iter().take(3) {
            write!(f, "\n  refused: {refusal}")?;
        }
        Ok(())
    }
}

/// Every item of the paged listing at `path` (which has a query already); a listing of a
/// project that does not exist (404) is empty.
pub(crate) async fn all_items<T: DeserializeOwned>(
    client: &Client,
    path: &str,
) -> Result<Vec<T>, ClientError> {
    match client.all(path).await {
        Err(ClientError::Api { status: 404, .. }) => Ok(Vec::new()),
        other => other,
    }
}

/// What `read` (given a client of one master) finds on every running master, by id; each
/// master is retried for up to a minute (one that just restarted may still be catching up).
pub(crate) async fn on_every_master<T, F, Fut>(cluster: &Cluster, read: F) -> Vec<(u64, T)>
where
    F: Fn(Client) -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let mut found = Vec::new();
    for m in cluster.masters.iter().filter(|m| m.is_running()) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let value = loop {
            let client = Masters::of(cluster).one(&m.http.to_string(), Duration::from_secs(10));
            match read(client).await {
                Ok(v) => break v,
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "master {} cannot be read after the faults healed: {e}\n{}",
                        m.id,
                        cluster.logs()
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        found.push((m.id, value));
    }
    found
}

/// Every project and file (latest versions) on master `addr`, read linearizably.
async fn state_of(client: Client) -> Result<BTreeSet<Write>, ClientError> {
    let projects: Vec<Project> =
        all_items(&client, "/api/v1/projects?limit=1000&consistent=true").await?;
    let files: Vec<FileVersion> = all_items(
        &client,
        &format!("/api/v1/projects/{FILES_PROJECT}/files?limit=1000&consistent=true"),
    )
    .await?;
    let projects = projects.into_iter().map(|p| Write::Project(p.name));
    let files = files.into_iter().map(|f| Write::File {
        path: f.path,
        sha256: f.sha256,
    });
    Ok(projects.chain(files).collect())
}

/// Checks the history against every running master (after the faults healed). Retries reads
/// for a while: a master that just restarted may still be catching up.
pub async fn check(cluster: &Cluster, history: &History) -> Verdict {
    let ops = history.ops();
    let count = |o: Outcome| ops.iter().filter(|op| op.outcome == o).count();
    let mut verdict = Verdict {
        attempted: ops.len(),
        ok: count(Outcome::Ok),
        failed: count(Outcome::Failed),
        unknown: count(Outcome::Unknown),
        reads: history.reads.load(std::sync::atomic::Ordering::Relaxed),
        stale_reads: history.stale_reads.lock().clone(),
        refusals: history.refusals.lock().clone(),
        ..Verdict::default()
    };
    let states = on_every_master(cluster, state_of).await;
    judge(&mut verdict, &ops, &states);
    verdict
}

/// Judges `ops` against the state of every master (`(id, what it holds)`).
fn judge(verdict: &mut Verdict, ops: &[Op], states: &[(u64, BTreeSet<Write>)]) {
    for op in ops {
        let everywhere = states.iter().all(|(_, s)| s.contains(&op.write));
        let anywhere = states.iter().any(|(_, s)| s.contains(&op.write));
        match op.outcome {
            Outcome::Ok if !everywhere => verdict.lost.push(op.write.clone()),
            Outcome::Failed if anywhere => verdict.phantom.push(op.write.clone()),
            _ => {}
        }
    }
    if let Some((_, first)) = states.first() {
        verdict.diverged = states
            .iter()
            .filter(|(_, s)| s != first)
            .map(|(id, _)| *id)
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(write: Write, outcome: Outcome) -> Op {
        let now = Instant::now();
        Op {
            write,
            outcome,
            sent: now,
            ended: now,
        }
    }

    fn project(name: &str) -> Write {
        Write::Project(name.to_owned())
    }

    #[test]
    fn an_acknowledged_write_missing_on_one_master_is_lost() {
        let ops = [
            op(project("a"), Outcome::Ok),
            op(project("b"), Outcome::Ok),
            op(project("c"), Outcome::Unknown),
        ];
        let full: BTreeSet<Write> = [project("a"), project("b")].into();
        let short: BTreeSet<Write> = [project("a")].into();
        let mut v = Verdict::default();
        judge(&mut v, &ops, &[(1, full.clone()), (2, short), (3, full)]);
        assert_eq!(v.lost, vec![project("b")]);
        assert_eq!(v.diverged, vec![2]);
        assert!(!v.passed());
    }

    #[test]
    fn a_file_with_other_content_is_lost_and_a_refused_write_present_is_a_phantom() {
        let file = |sha: &str| Write::File {
            path: "f/x.txt".into(),
            sha256: sha.into(),
        };
        let ops = [
            op(file("aa"), Outcome::Ok),
            op(project("refused"), Outcome::Failed),
        ];
        let state: BTreeSet<Write> = [file("bb"), project("refused")].into();
        let mut v = Verdict::default();
        judge(&mut v, &ops, &[(1, state.clone()), (2, state)]);
        assert_eq!(v.lost, vec![file("aa")]);
        assert_eq!(v.phantom, vec![project("refused")]);
        assert!(v.diverged.is_empty());
    }

    #[test]
    fn unknown_outcomes_may_or_may_not_have_happened() {
        let ops = [
            op(project("maybe"), Outcome::Unknown),
            op(project("ok"), Outcome::Ok),
        ];
        let with: BTreeSet<Write> = [project("maybe"), project("ok")].into();
        let mut v = Verdict::default();
        judge(&mut v, &ops, &[(1, with.clone()), (2, with)]);
        assert!(v.passed(), "{v}");
        let without: BTreeSet<Write> = [project("ok")].into();
        let mut v = Verdict::default();
        judge(&mut v, &ops, &[(1, without.clone()), (2, without)]);
        assert!(v.passed(), "{v}");
    }
}
