//! Secrets and targets end to end, with real processes on loopback: a project's secret goes
//! into a request's header and query, reaches the target (which echoes it back), and appears
//! nowhere else — not in anything the API returns about the job (result, reports, JUnit, task
//! logs, the live stream) nor in the masters' and workers' debug logs. A project's target list
//! confines its jobs, checked by the worker on every connection.

mod common;

use std::time::{Duration, Instant};

use broadside_client::api::{JobState, ProjectSettings};
use broadside_harness::{target, Cluster, Timings};
use common::*;

const SECRET: &str = "s3cr3t-Ahx9quee7Ohx";

/// Every body the API returns about job `id` (its task 0), as text.
async fn everything_about(cluster: &Cluster, id: u64) -> Vec<(String, String)> {
    let client = cluster.client();
    let mut out = Vec::new();
    for path in [
        format!("/api/v1/jobs/{id}"),
        format!("/api/v1/jobs/{id}/tasks"),
        format!("/api/v1/jobs/{id}/result"),
        format!("/api/v1/jobs/{id}/tasks/0/result"),
        format!("/api/v1/jobs/{id}/tasks/0/logs"),
        format!("/api/v1/jobs/{id}/report.html"),
        format!("/api/v1/jobs/{id}/junit.xml"),
        "/api/v1/projects/vault/secrets".to_owned(),
        "/api/v1/audit".to_owned(),
    ] {
        let reply = client.call("GET", &path, &[], Vec::new()).await;
        let reply = reply.unwrap_or_else(|e| panic!("GET {path}: {e}"));
        out.push((path, String::from_utf8_lossy(&reply.body).into_owned()));
    }
    // The live stream of the finished job: everything so far, then its end.
    let mut events = client
        .events(&format!("/api/v1/jobs/{id}/live"))
        .await
        .expect("live stream");
    let mut live = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline.into(), events.next()).await {
        live.push_str(&event.data);
        if event.event == "end" {
            break;
        }
    }
    assert!(!live.is_empty(), "the live stream said nothing");
    out.push(("live".to_owned(), live));
    out
}

fn write_simulation(dir: &std::path::Path, base: &str, name: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    let text = format!(
        r##"name: {name}
http:
  base_url: "{base}"
  sensitive_headers: [x-session]
scenarios:
  - name: s
    injection:
      - at_once: 4
    steps:
      - request:
          name: proof
          url: /echo
          headers: {{ x-api-key: "#{{secret('api_key')}}" }}
          checks:
            - body_contains: "#{{secret('api_key')}}"
      - request:
          name: leak
          url: /echo
          query: {{ k: "#{{secret('api_key')}}" }}
          headers:
            x-api-key: "#{{secret('api_key')}}"
            authorization: "Bearer #{{secret('api_key')}}"
            x-session: plain-session-value
          checks:
            - status: 299
"##
    );
    std::fs::write(&path, text).expect("write simulation");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_reaches_the_target_and_nothing_else() {
    let target = target().await;
    let mut cluster = Cluster::start_with_flags(binary(), 3, &Timings::fast(), &["-v"]);
    cluster.leader().await;
    cluster.add_worker("default", 1, &["-v"]).await;
    cluster.wait_for_workers(1).await;
    let client = cluster.client();
    client.ensure_project("vault").await.expect("project");
    client
        .put_secret("vault", "api_key", SECRET)
        .await
        .expect("secret set");
    assert_eq!(client.secrets("vault").await.unwrap(), ["api_key"]);

    let dir = tempfile::tempdir().unwrap();
    let sim = write_simulation(dir.path(), &target.base_url(), "secrets");
    let out = submit(&cluster, &sim, &["--project", "vault", "--wait"]);
    let id = job_id(&out);
    let done = finished(&cluster, &client, id).await;
    assert_eq!(done.state, JobState::Completed, "{}", text(&out));
    assert_eq!(
        target.stats().snapshot().total,
        8,
        "the target got every request"
    );
    // The target received the secret (its echo holds it); every `leak` failed its check.
    let stats = result(&client, id).await.report.stats;
    assert_eq!(stats.requests["proof"].ok, 4, "{stats:?}");
    assert_eq!(stats.requests["leak"].ko, 4, "{stats:?}");

    let bodies = everything_about(&cluster, id).await;
    for (path, body) in &bodies {
        assert!(!body.contains(SECRET), "{path} shows the secret:\n{body}");
        assert!(
            !body.contains("plain-session-value"),
            "{path} shows a sensitive header"
        );
    }
    // The samples were redacted, not dropped: the echo carried the secret back, and the
    // report names where it was.
    let report = &bodies
        .iter()
        .find(|(p, _)| p.ends_with("/report.html"))
        .unwrap()
        .1;
    assert!(
        report.contains("[secret:api_key]"),
        "no redaction marker in the report"
    );
    let logs = cluster.logs();
    assert!(
        logs.contains("DEBUG"),
        "the processes did not log at debug level"
    );
    assert!(!logs.contains(SECRET), "a log shows the secret");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(SECRET));
    target.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_loads_only_its_targets() {
    let target = target().await;
    let cluster = cluster_with(1).await;
    let client = cluster.client();
    client.ensure_project("confined").await.expect("project");
    // The target listens on 127.0.0.1; the project allows only 127.0.0.2.
    let settings = ProjectSettings {
        targets: vec!["127.0.0.2".to_owned()],
    };
    client
        .set_settings("confined", &settings)
        .await
        .expect("settings");
    let dir = tempfile::tempdir().unwrap();
    let sim = simulation(
        dir.path(),
        "confined",
        &target.base_url(),
        "      - at_once: 3",
        "",
    );
    let out = submit(&cluster, &sim, &["--project", "confined", "--wait"]);
    let id = job_id(&out);
    finished(&cluster, &client, id).await;
    let summary = result(&client, id).await;
    assert_eq!(summary.requests(), 3, "{}", summary.summary);
    assert_eq!(
        target.stats().snapshot().total,
        0,
        "a request left the project's targets"
    );
    let errors = serde_json::to_string(&summary.report.stats).unwrap();
    assert!(
        errors.contains("not among the project's targets"),
        "{errors}"
    );

    // Its own target is allowed; a bad entry is refused where it is set.
    let settings = ProjectSettings {
        targets: vec![format!("127.0.0.1:{}", target.local_addr().port())],
    };
    client
        .set_settings("confined", &settings)
        .await
        .expect("settings");
    let bad = ProjectSettings {
        targets: vec!["127.0.0.0/33".to_owned()],
    };
    let refused = client.set_settings("confined", &bad).await.unwrap_err();
    assert!(refused.to_string().contains("127.0.0.0/33"), "{refused}");
    let out = submit(&cluster, &sim, &["--project", "confined", "--wait"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(target.stats().snapshot().total, 3);
    target.shutdown().await.unwrap();
}
