//! Typed methods, one per API operation the tools use; each decodes the resource of
//! [`broadside_api`].

use broadside_api::{
    AbortRequest, AddMember, AuditEntry, ClusterView, CompareQuery, Comparison, CreatedJoinToken,
    CreatedToken, FileKind, FileVersion, Job, JobDetails, JobListQuery, JobResult, JoinTokenInfo,
    NewJoinToken, NewProject, NewToken, Page, PageQuery, Project, ProjectSettings, SecretValue,
    Submission, Task, TokenInfo, Validation, ValidationRequest, Whoami, Worker,
};
use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::de::DeserializeOwned;

use crate::{Client, ClientError};

/// A query string (`?a=1&b=x`, empty when nothing is set) of a serializable query.
fn query(q: &impl serde::Serialize) -> String {
    match serde_urlencoded::to_string(q) {
        Ok(s) if !s.is_empty() => format!("?{s}"),
        _ => String::new(),
    }
}

/// Characters left as they are in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a path segment.
fn encode(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A file path in the project, its segments percent-encoded.
fn file_path(path: &str) -> String {
    path.split('/').map(encode).collect::<Vec<_>>().join("/")
}

const CONSISTENT: &str = "?consistent=true";

impl Client {
    /// The cluster as a master sees it (`probe`: ask every member for its status).
    pub async fn cluster(&self, probe: bool) -> Result<ClusterView, ClientError> {
        let probe = if probe { "" } else { "?probe=false" };
        self.get_json(&format!("/api/v1/cluster{probe}")).await
    }

    /// Adds the master `id` at `raft_addr` to the cluster.
    pub async fn add_member(&self, id: u64, raft_addr: &str) -> Result<ClusterView, ClientError> {
        let body = AddMember {
            id,
            raft_addr: raft_addr.to_owned(),
        };
        self.send_json("POST", "/api/v1/cluster/members", &body, None)
            .await
    }

    /// Removes the master `id` from the cluster.
    pub async fn remove_member(&self, id: u64) -> Result<ClusterView, ClientError> {
        self.call(
            "DELETE",
            &format!("/api/v1/cluster/members/{id}"),
            &[],
            Bytes::new(),
        )
        .await?
        .decode()
    }

    /// One page of projects.
    pub async fn projects(&self, page: &PageQuery) -> Result<Page<Project>, ClientError> {
        self.get_json(&format!("/api/v1/projects{}", query(page)))
            .await
    }

    /// Project `name`, read after a read barrier.
    pub async fn project(&self, name: &str) -> Result<Project, ClientError> {
        self.get_json(&format!("/api/v1/projects/{}{CONSISTENT}", encode(name)))
            .await
    }

    /// Creates a project; with an idempotency key, a retry creates it once.
    pub async fn create_project(
        &self,
        project: &NewProject,
        idempotency_key: Option<&str>,
    ) -> Result<Project, ClientError> {
        self.send_json("POST", "/api/v1/projects", project, idempotency_key)
            .await
    }

    /// Creates project `name` unless it exists.
    pub async fn ensure_project(&self, name: &str) -> Result<(), ClientError> {
        match self.project(name).await {
            Ok(_) => Ok(()),
            Err(ClientError::Api { status: 404, .. }) => {
                let project = NewProject {
                    name: name.to_owned(),
                    description: String::new(),
                };
                self.create_project(&project, Some(&format!("create-project-{name}")))
                    .await
                    .map(drop)
            }
            Err(e) => Err(e),
        }
    }

    /// Uploads `content` as a new version of `project/path` (its kind guessed from the name
    /// when `kind` is `None`).
    pub async fn upload(
        &self,
        project: &str,
        path: &str,
        content: impl Into<Bytes>,
        kind: Option<FileKind>,
        idempotency_key: Option<&str>,
    ) -> Result<FileVersion, ClientError> {
        let kind = kind
            .and_then(|k| serde_json::to_value(k).ok())
            .and_then(|v| v.as_str().map(|k| format!("?kind={k}")))
            .unwrap_or_default();
        let mut headers = vec![("content-type", "application/octet-stream")];
        if let Some(key) = idempotency_key {
            headers.push((broadside_api::IDEMPOTENCY_KEY, key));
        }
        let url = format!(
            "/api/v1/projects/{}/files/{}{kind}",
            encode(project),
            file_path(path)
        );
        self.call("PUT", &url, &headers, content).await?.decode()
    }

    /// One page of a project's files (the latest version of each path).
    pub async fn files(
        &self,
        project: &str,
        page: &PageQuery,
    ) -> Result<Page<FileVersion>, ClientError> {
        let url = format!("/api/v1/projects/{}/files{}", encode(project), query(page));
        self.get_json(&url).await
    }

    /// The content of `project/path` (the latest version, or `version`).
    pub async fn download(
        &self,
        project: &str,
        path: &str,
        version: Option<u64>,
    ) -> Result<Bytes, ClientError> {
        let version = version.map(|v| format!("&version={v}")).unwrap_or_default();
        let url = format!(
            "/api/v1/projects/{}/files/{}{CONSISTENT}{version}",
            encode(project),
            file_path(path)
        );
        Ok(self.call("GET", &url, &[], Bytes::new()).await?.body)
    }

    /// Submits a job in `project`.
    pub async fn submit(
        &self,
        project: &str,
        submission: &Submission,
        idempotency_key: Option<&str>,
    ) -> Result<Job, ClientError> {
        let url = format!("/api/v1/projects/{}/jobs", encode(project));
        self.send_json("POST", &url, submission, idempotency_key)
            .await
    }

    /// One page of a project's jobs.
    pub async fn jobs(&self, project: &str, q: &JobListQuery) -> Result<Page<Job>, ClientError> {
        let url = format!("/api/v1/projects/{}/jobs{}", encode(project), query(q));
        self.get_json(&url).await
    }

    /// Job `id`, read after a read barrier.
    pub async fn job(&self, id: u64) -> Result<JobDetails, ClientError> {
        self.get_json(&format!("/api/v1/jobs/{id}{CONSISTENT}"))
            .await
    }

    /// Every item of a paged listing at `path` (which has a query already), following the
    /// `next` cursors.
    pub async fn all<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, ClientError> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page_path = match &after {
                Some(cursor) => format!("{path}&after={cursor}"),
                None => path.to_owned(),
            };
            let page: Page<T> = self.get_json(&page_path).await?;
            items.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// Every task of job `id`, read after a read barrier.
    pub async fn tasks(&self, id: u64) -> Result<Vec<Task>, ClientError> {
        self.all(&format!("/api/v1/jobs/{id}/tasks{CONSISTENT}&limit=1000"))
            .await
    }

    /// Aborts job `id`.
    pub async fn abort(
        &self,
        id: u64,
        reason: Option<&str>,
        idempotency_key: Option<&str>,
    ) -> Result<Job, ClientError> {
        let body = AbortRequest {
            reason: reason.map(str::to_owned),
        };
        self.send_json(
            "POST",
            &format!("/api/v1/jobs/{id}/abort"),
            &body,
            idempotency_key,
        )
        .await
    }

    /// Deletes finished job `id`.
    pub async fn delete_job(&self, id: u64) -> Result<(), ClientError> {
        self.call("DELETE", &format!("/api/v1/jobs/{id}"), &[], Bytes::new())
            .await
            .map(drop)
    }

    /// The merged result of job `id`, read after a read barrier.
    pub async fn result(&self, id: u64) -> Result<JobResult, ClientError> {
        self.get_json(&format!("/api/v1/jobs/{id}/result{CONSISTENT}"))
            .await
    }

    /// Job `candidate` compared with `q.baseline` under `q`'s thresholds.
    pub async fn compare(
        &self,
        candidate: u64,
        q: &CompareQuery,
    ) -> Result<Comparison, ClientError> {
        self.get_json(&format!("/api/v1/jobs/{candidate}/compare{}", query(q)))
            .await
    }

    /// Every problem of a simulation in `project`, without submitting it.
    pub async fn validate(
        &self,
        project: &str,
        request: &ValidationRequest,
    ) -> Result<Validation, ClientError> {
        let url = format!("/api/v1/projects/{}/validate", encode(project));
        self.send_json("POST", &url, request, None).await
    }

    /// The final report of task `index` of job `id`.
    pub async fn task_result(&self, id: u64, index: u32) -> Result<JobResult, ClientError> {
        self.get_json(&format!("/api/v1/jobs/{id}/tasks/{index}/result"))
            .await
    }

    /// The HTML report of job `id`.
    pub async fn report_html(&self, id: u64) -> Result<Bytes, ClientError> {
        let url = format!("/api/v1/jobs/{id}/report.html{CONSISTENT}");
        Ok(self.call("GET", &url, &[], Bytes::new()).await?.body)
    }

    /// The JUnit XML report of job `id`.
    pub async fn junit_xml(&self, id: u64) -> Result<Bytes, ClientError> {
        let url = format!("/api/v1/jobs/{id}/junit.xml{CONSISTENT}");
        Ok(self.call("GET", &url, &[], Bytes::new()).await?.body)
    }

    /// Every registered worker, read after a read barrier.
    pub async fn workers(&self) -> Result<Vec<Worker>, ClientError> {
        self.all(&format!("/api/v1/workers{CONSISTENT}&limit=1000"))
            .await
    }

    /// Worker `id`.
    pub async fn worker(&self, id: &str) -> Result<Worker, ClientError> {
        self.get_json(&format!("/api/v1/workers/{}", encode(id)))
            .await
    }

    /// Drains worker `id`: no new task; its running ones finish.
    pub async fn drain(&self, id: &str) -> Result<Worker, ClientError> {
        let url = format!("/api/v1/workers/{}/drain", encode(id));
        let json = [("content-type", "application/json")];
        self.call("POST", &url, &json, Bytes::new()).await?.decode()
    }

    /// Revokes worker `id`'s identity: its later calls are refused.
    pub async fn revoke_worker(&self, id: &str) -> Result<(), ClientError> {
        let url = format!("/api/v1/workers/{}/revoke", encode(id));
        self.call("POST", &url, &[], Bytes::new()).await.map(drop)
    }

    /// Every join token.
    pub async fn join_tokens(&self) -> Result<Vec<JoinTokenInfo>, ClientError> {
        self.all(&format!("/api/v1/join-tokens{CONSISTENT}&limit=1000"))
            .await
    }

    /// Creates a join token; the answer holds its string, shown this once.
    pub async fn create_join_token(
        &self,
        token: &NewJoinToken,
    ) -> Result<CreatedJoinToken, ClientError> {
        self.send_json("POST", "/api/v1/join-tokens", token, None)
            .await
    }

    /// Revokes join token `id` and every worker identity it gave.
    pub async fn revoke_join_token(&self, id: &str) -> Result<(), ClientError> {
        let url = format!("/api/v1/join-tokens/{}", encode(id));
        self.call("DELETE", &url, &[], Bytes::new()).await.map(drop)
    }

    /// The caller, as its token says.
    pub async fn whoami(&self) -> Result<Whoami, ClientError> {
        self.get_json("/api/v1/whoami").await
    }

    /// Every token (the cluster admin's view).
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, ClientError> {
        self.all(&format!("/api/v1/tokens{CONSISTENT}&limit=1000"))
            .await
    }

    /// The tokens holding a role on `project`.
    pub async fn project_tokens(&self, project: &str) -> Result<Vec<TokenInfo>, ClientError> {
        let url = format!(
            "/api/v1/projects/{}/tokens{CONSISTENT}&limit=1000",
            encode(project)
        );
        self.all(&url).await
    }

    /// Creates a token; the answer holds its secret, shown this once.
    pub async fn create_token(&self, token: &NewToken) -> Result<CreatedToken, ClientError> {
        self.send_json("POST", "/api/v1/tokens", token, None).await
    }

    /// Revokes token `id`.
    pub async fn revoke_token(&self, id: &str) -> Result<(), ClientError> {
        let url = format!("/api/v1/tokens/{}", encode(id));
        self.call("DELETE", &url, &[], Bytes::new()).await.map(drop)
    }

    /// The names of `project`'s secrets.
    pub async fn secrets(&self, project: &str) -> Result<Vec<String>, ClientError> {
        let url = format!("/api/v1/projects/{}/secrets{CONSISTENT}", encode(project));
        self.get_json(&url).await
    }

    /// Sets `project`'s secret `name`.
    pub async fn put_secret(
        &self,
        project: &str,
        name: &str,
        value: &str,
    ) -> Result<(), ClientError> {
        let url = format!(
            "/api/v1/projects/{}/secrets/{}",
            encode(project),
            encode(name)
        );
        let body = serde_json::to_vec(&SecretValue {
            value: value.to_owned(),
        })
        .map_err(|e| ClientError::Decode(e.to_string()))?;
        let json = [("content-type", "application/json")];
        self.call("PUT", &url, &json, body).await.map(drop)
    }

    /// Deletes `project`'s secret `name`.
    pub async fn delete_secret(&self, project: &str, name: &str) -> Result<(), ClientError> {
        let url = format!(
            "/api/v1/projects/{}/secrets/{}",
            encode(project),
            encode(name)
        );
        self.call("DELETE", &url, &[], Bytes::new()).await.map(drop)
    }

    /// `project`'s settings.
    pub async fn settings(&self, project: &str) -> Result<ProjectSettings, ClientError> {
        let url = format!("/api/v1/projects/{}/settings{CONSISTENT}", encode(project));
        self.get_json(&url).await
    }

    /// Replaces `project`'s settings.
    pub async fn set_settings(
        &self,
        project: &str,
        settings: &ProjectSettings,
    ) -> Result<ProjectSettings, ClientError> {
        let url = format!("/api/v1/projects/{}/settings", encode(project));
        self.send_json("PUT", &url, settings, None).await
    }

    /// One page of the audit log (of `project`, or of the whole cluster).
    pub async fn audit(
        &self,
        project: Option<&str>,
        page: &PageQuery,
    ) -> Result<Page<AuditEntry>, ClientError> {
        let url = match project {
            Some(p) => format!("/api/v1/projects/{}/audit{}", encode(p), query(page)),
            None => format!("/api/v1/audit{}", query(page)),
        };
        self.get_json(&url).await
    }

    /// Forgets dead or draining worker `id`.
    pub async fn forget(&self, id: &str) -> Result<(), ClientError> {
        let url = format!("/api/v1/workers/{}", encode(id));
        self.call("DELETE", &url, &[], Bytes::new()).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_carry_only_what_is_set() {
        assert_eq!(query(&PageQuery::default()), "");
        let q = JobListQuery {
            limit: Some(5),
            state: Some(broadside_api::JobState::WaitingForWorkers),
            consistent: true,
            ..JobListQuery::default()
        };
        assert_eq!(
            query(&q),
            "?limit=5&state=waiting_for_workers&consistent=true"
        );
        assert_eq!(file_path("data/a b.csv"), "data/a%20b.csv");
    }
}
