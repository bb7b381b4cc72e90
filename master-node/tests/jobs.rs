//! Job submission through the REST API: validation with located errors, automatic pinning
//! of the files a simulation names, listing with a state filter, tasks, abort.

mod common;

use common::{get, post_json, request, Sandbox};
use serde_json::json;

const SIMULATION: &str = "\
name: smoke
http:
  base_url: http://127.0.0.1:9
feeders:
  users: { csv: data/users.csv, strategy: circular }
scenarios:
  - name: s
    injection:
      - at_once: 3
    steps:
      - request: { name: home, url: / }
";

const BROKEN: &str = "\
name: broken
scenarios:
  - name: s
    injection:
      - at_once: -1
    steps:
      - request: { name: home }
";

async fn put(sandbox: &Sandbox, via: u64, path: &str, body: &str) {
    let reply = request(
        sandbox.http(via),
        "PUT",
        &format!("/api/v1/projects/team/files/{path}"),
        &[],
        body.to_owned(),
    )
    .await;
    assert_eq!(reply.status, 201, "{path}: {:?}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn submit_validate_list_and_abort() {
    let sandbox = Sandbox::start(3).await;
    let leader = sandbox.leader().await;
    let via = sandbox.other_than(leader);
    let addr = sandbox.http(via);
    assert_eq!(
        post_json(addr, "/api/v1/projects", json!({"name": "team"}))
            .await
            .status,
        201
    );
    put(&sandbox, via, "sims/smoke.yaml", SIMULATION).await;
    put(&sandbox, via, "sims/data/users.csv", "name\nada\ngrace\n").await;
    put(&sandbox, via, "sims/broken.yaml", BROKEN).await;

    let submitted = post_json(
        addr,
        "/api/v1/projects/team/jobs",
        json!({"simulation": "sims/smoke.yaml", "parallelism": 3, "pool": "default"}),
    )
    .await;
    assert_eq!(submitted.status, 201, "{:?}", submitted.body);
    let job = submitted.json();
    assert_eq!(job["state"], "queued");
    assert_eq!(job["mode"], "split");
    let pinned: Vec<&str> = job["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(pinned, ["sims/smoke.yaml", "sims/data/users.csv"]);
    let id = job["id"].as_u64().unwrap();

    // Readable on another master; three pending tasks.
    let other = sandbox.http(leader);
    let tasks = get(other, &format!("/api/v1/jobs/{id}/tasks?consistent=true"))
        .await
        .json();
    let tasks = tasks["items"].as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    assert!(tasks
        .iter()
        .all(|t| t["state"] == "pending" && t["attempt"] == 1));

    // A broken simulation: 422 with every problem located.
    let invalid = post_json(
        addr,
        "/api/v1/projects/team/jobs",
        json!({"simulation": "sims/broken.yaml"}),
    )
    .await;
    assert_eq!(invalid.status, 422, "{:?}", invalid.body);
    assert_eq!(invalid.content_type(), "application/problem+json");
    let errors = invalid.json()["errors"].as_array().unwrap().clone();
    assert!(!errors.is_empty());
    assert!(errors
        .iter()
        .all(|e| e["file"] == "sims/broken.yaml" && e["line"].is_u64()));

    for (body, status) in [
        (json!({"simulation": "sims/missing.yaml"}), 404),
        (json!({"simulation": "../etc/passwd"}), 400),
        (
            json!({"simulation": "sims/smoke.yaml", "parallelism": 0}),
            400,
        ),
        (
            json!({"simulation": "sims/smoke.yaml", "mode": "sideways"}),
            400,
        ),
        (
            json!({"simulation": "sims/smoke.yaml", "start": {"timeout": "0s"}}),
            400,
        ),
        (json!({"simulation": "sims/smoke.yaml", "bogus": 1}), 400),
    ] {
        let reply = post_json(addr, "/api/v1/projects/team/jobs", body.clone()).await;
        assert_eq!(reply.status, status, "{body}: {:?}", reply.body);
    }
    let missing_data = {
        put(
            &sandbox,
            via,
            "sims/lonely.yaml",
            &SIMULATION.replace("data/users.csv", "data/none.csv"),
        )
        .await;
        post_json(
            addr,
            "/api/v1/projects/team/jobs",
            json!({"simulation": "sims/lonely.yaml"}),
        )
        .await
    };
    assert_eq!(missing_data.status, 422);
    assert!(missing_data.json()["detail"]
        .as_str()
        .unwrap()
        .contains("sims/data/none.csv"));

    // Queued until the scheduler's next look moves it to waiting_for_workers (no worker
    // here): the listing of its state holds it, another state's does not.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let state = get(addr, &format!("/api/v1/jobs/{id}")).await.json()["state"]
            .as_str()
            .unwrap()
            .to_owned();
        let page = get(addr, &format!("/api/v1/projects/team/jobs?state={state}"))
            .await
            .json();
        let items = page["items"].as_array().unwrap();
        assert!(
            items.iter().all(|j| j["state"] == state.as_str()),
            "{items:?}"
        );
        if items.len() == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{state}: {items:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let none = get(addr, "/api/v1/projects/team/jobs?state=completed")
        .await
        .json();
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    let aborted = request(
        other,
        "POST",
        &format!("/api/v1/jobs/{id}/abort"),
        &[("content-type", "application/json")],
        json!({"reason": "changed my mind"}).to_string(),
    )
    .await;
    assert_eq!(aborted.status, 200, "{:?}", aborted.body);
    assert_eq!(aborted.json()["state"], "aborted");
    assert_eq!(aborted.json()["reason"], "changed my mind");
    let queued = get(
        addr,
        "/api/v1/projects/team/jobs?state=queued&consistent=true",
    )
    .await
    .json();
    assert!(queued["items"].as_array().unwrap().is_empty());
    assert_eq!(get(addr, "/api/v1/jobs/999").await.status, 404);
    assert_eq!(get(addr, "/api/v1/jobs/abc").await.status, 400);
    assert_eq!(
        get(addr, "/api/v1/projects/team/jobs?state=sleeping")
            .await
            .status,
        400
    );
    sandbox.shutdown().await;
}
