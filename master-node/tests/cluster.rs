//! The in-process cluster: election, writes through followers, linearizable reads elsewhere,
//! idempotent retries, membership changes, and a leader kill that loses no acknowledged write.

mod common;

use common::{eventually, get, post_json, request, Sandbox};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_on_a_follower_is_read_back_from_another_master() {
    let sandbox = Sandbox::start(3).await;
    let leader = sandbox.leader().await;
    let followers: Vec<u64> = sandbox
        .running()
        .into_iter()
        .filter(|id| *id != leader)
        .collect();

    let created = post_json(
        sandbox.http(followers[0]),
        "/api/v1/projects",
        json!({"name": "team-a", "description": "first"}),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        created.headers.get("location").unwrap(),
        "/api/v1/projects/team-a"
    );

    let read = get(
        sandbox.http(followers[1]),
        "/api/v1/projects/team-a?consistent=true",
    )
    .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.json()["description"], "first");

    // Every master knows the same leader and three reachable voters.
    for id in sandbox.running() {
        let view = get(sandbox.http(id), "/api/v1/cluster").await.json();
        assert_eq!(view["leader"], leader);
        let members = view["members"].as_array().unwrap();
        assert_eq!(members.len(), 3);
        assert!(members
            .iter()
            .all(|m| m["voter"] == true && m["reachable"] == true));
    }
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_problem_details_never_a_500() {
    let sandbox = Sandbox::start(3).await;
    sandbox.leader().await;
    let addr = sandbox.http(1);
    let cases = [
        ("POST", "/api/v1/projects", "{not json", 400),
        ("POST", "/api/v1/projects", r#"{"name":"Bad Name"}"#, 400),
        ("POST", "/api/v1/projects", r#"{"name":"x","extra":1}"#, 400),
        ("GET", "/api/v1/projects/missing", "", 404),
        ("GET", "/api/v1/projects?limit=100000", "", 400),
        ("GET", "/api/v1/projects?after=zz", "", 400),
        ("GET", "/api/v1/projects?consistent=maybe", "", 400),
        ("GET", "/api/v1/cluster?probe=maybe", "", 400),
        ("DELETE", "/api/v1/projects/missing", "", 404),
        ("DELETE", "/api/v1/cluster/members/x", "", 400),
        ("DELETE", "/api/v1/cluster/members/9", "", 404),
        (
            "POST",
            "/api/v1/cluster/members",
            r#"{"id":0,"raft_addr":"a"}"#,
            400,
        ),
        ("GET", "/api/v1/nothing-here", "", 404),
    ];
    for (method, path, body, status) in cases {
        let reply = request(
            addr,
            method,
            path,
            &[("content-type", "application/json")],
            body.to_owned(),
        )
        .await;
        assert_eq!(reply.status, status, "{method} {path}: {:?}", reply.body);
        assert_eq!(
            reply.content_type(),
            "application/problem+json",
            "{method} {path}"
        );
        let problem = reply.json();
        assert_eq!(problem["status"], status);
        assert!(!problem["detail"].as_str().unwrap().is_empty());
    }
    // A JSON body beyond the limit: a 413 problem, not a 400.
    let huge = format!(r#"{{"name":"x","description":"{}"}}"#, "x".repeat(3 << 20));
    let reply = request(
        addr,
        "POST",
        "/api/v1/projects",
        &[("content-type", "application/json")],
        huge,
    )
    .await;
    assert_eq!(reply.status, 413, "{:?}", reply.text());
    assert_eq!(reply.content_type(), "application/problem+json");
    let dup = post_json(addr, "/api/v1/projects", json!({"name": "dup"})).await;
    assert_eq!(dup.status, 201);
    let again = post_json(addr, "/api/v1/projects", json!({"name": "dup"})).await;
    assert_eq!(again.status, 409);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_write_through_another_master_is_applied_once() {
    let sandbox = Sandbox::start(3).await;
    sandbox.leader().await;
    let key = [
        ("content-type", "application/json"),
        ("idempotency-key", "k-1"),
    ];
    let body = json!({"name": "once"}).to_string();
    let first = request(
        sandbox.http(1),
        "POST",
        "/api/v1/projects",
        &key,
        body.clone(),
    )
    .await;
    assert_eq!(first.status, 201);
    // The retry reaches another master: the first outcome, not a conflict.
    let retry = request(sandbox.http(2), "POST", "/api/v1/projects", &key, body).await;
    assert_eq!(retry.status, 201, "{:?}", retry.body);
    assert_eq!(retry.json()["created_at_ms"], first.json()["created_at_ms"]);
    // The same key with another body is refused, through any master, and changes nothing.
    let other = json!({"name": "other"}).to_string();
    let reused = request(sandbox.http(3), "POST", "/api/v1/projects", &key, other).await;
    assert_eq!(reused.status, 422, "{:?}", reused.body);
    assert_eq!(reused.content_type(), "application/problem+json");
    assert!(
        reused.text().contains("Idempotency-Key"),
        "{}",
        reused.text()
    );
    let missing = get(sandbox.http(1), "/api/v1/projects/other?consistent=true").await;
    assert_eq!(missing.status, 404);
    // Without the key, the same write is a new request and conflicts.
    let fresh = post_json(sandbox.http(3), "/api/v1/projects", json!({"name": "once"})).await;
    assert_eq!(fresh.status, 409);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_loses_no_acknowledged_write() {
    let mut sandbox = Sandbox::start(3).await;
    let old = sandbox.leader().await;
    let mut acknowledged = Vec::new();
    for i in 0..12u64 {
        let via = sandbox.running()[(i % 3) as usize];
        let name = format!("p{i}");
        let reply = post_json(sandbox.http(via), "/api/v1/projects", json!({"name": name})).await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        acknowledged.push(name);
    }

    sandbox.stop(old).await;
    let new = sandbox.leader().await;
    assert_ne!(new, old);
    // The full view probes every member and finds the old leader gone; `probe=false` names the
    // leader and lists the members without asking them (only the answering master's status).
    let member = |view: &serde_json::Value, id: u64| {
        view["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap()
    };
    let third = sandbox.running().into_iter().find(|id| *id != new).unwrap();
    let probed = get(sandbox.http(new), "/api/v1/cluster").await.json();
    assert_eq!(member(&probed, old)["reachable"], false);
    assert_eq!(member(&probed, third)["reachable"], true);
    let local = get(sandbox.http(new), "/api/v1/cluster?probe=false")
        .await
        .json();
    assert_eq!(local["leader"], new);
    assert_eq!(local["members"].as_array().unwrap().len(), 3);
    assert_eq!(member(&local, new)["reachable"], true);
    for id in [old, third] {
        let m = member(&local, id);
        assert!(m.get("reachable").is_none() && m["status"].is_null(), "{m}");
    }
    for id in sandbox.running() {
        for name in &acknowledged {
            let reply = get(
                sandbox.http(id),
                &format!("/api/v1/projects/{name}?consistent=true"),
            )
            .await;
            assert_eq!(reply.status, 200, "{name} on master {id}");
        }
    }
    let after = post_json(
        sandbox.http(sandbox.other_than(new)),
        "/api/v1/projects",
        json!({"name": "after-failover"}),
    )
    .await;
    assert_eq!(after.status, 201);

    // The old leader comes back as a follower and catches up.
    sandbox.restart(old).await;
    let addr = sandbox.http(old);
    eventually("the restarted master to catch up", || async {
        let reply = get(addr, "/api/v1/projects/after-failover").await;
        (reply.status == 200).then_some(())
    })
    .await;
    let page = get(addr, "/api/v1/projects?limit=100").await.json();
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        acknowledged.len() + 1
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_master_is_added_and_another_removed_at_run_time() {
    let mut sandbox = Sandbox::start(3).await;
    sandbox.leader().await;
    let created = post_json(sandbox.http(2), "/api/v1/projects", json!({"name": "kept"})).await;
    assert_eq!(created.status, 201);

    let raft_addr = sandbox.start_joiner(4).await;
    let added = post_json(
        sandbox.http(3),
        "/api/v1/cluster/members",
        json!({"id": 4, "raft_addr": raft_addr.to_string()}),
    )
    .await;
    assert_eq!(added.status, 200, "{:?}", added.body);
    let voters = |view: &serde_json::Value| {
        view["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["voter"] == true)
            .map(|m| m["id"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(voters(&added.json()), vec![1, 2, 3, 4]);
    // The new master has the state replicated to it.
    let addr4 = sandbox.http(4);
    eventually("the new master to hold the data", || async {
        (get(addr4, "/api/v1/projects/kept").await.status == 200).then_some(())
    })
    .await;

    let again = post_json(
        sandbox.http(1),
        "/api/v1/cluster/members",
        json!({"id": 4, "raft_addr": raft_addr.to_string()}),
    )
    .await;
    assert_eq!(again.status, 409);

    let removed = request(
        sandbox.http(4),
        "DELETE",
        "/api/v1/cluster/members/1",
        &[],
        "",
    )
    .await;
    assert_eq!(removed.status, 200, "{:?}", removed.body);
    assert_eq!(voters(&removed.json()), vec![2, 3, 4]);
    sandbox.stop(1).await;
    let leader = sandbox.leader().await;
    assert_ne!(leader, 1);
    let write = post_json(
        sandbox.http(4),
        "/api/v1/projects",
        json!({"name": "after"}),
    )
    .await;
    assert_eq!(write.status, 201);
    sandbox.shutdown().await;
}

/// The OpenAPI document and the router agree, checked on a live master: every documented
/// operation reaches a handler (never the fallback's "no such endpoint", never a 405), with
/// path parameters that name nothing, so that no call changes anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_documented_operation_reaches_a_handler() {
    let sandbox = Sandbox::start(3).await;
    sandbox.leader().await;
    let addr = sandbox.http(sandbox.other_than(sandbox.leader().await));
    let document = get(addr, "/api/v1/openapi.json").await;
    assert_eq!(document.status, 200);
    let document = document.json();
    let paths = document["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, item) in paths {
        let concrete = path
            .replace("{project}", "absent-project")
            .replace("{name}", "absent-project")
            .replace("{path}", "sims/absent.yaml")
            .replace("{index}", "0")
            .replace("{id}", "999999")
            .replace("{version}", "0000000000000000");
        assert!(!concrete.contains('{'), "unknown parameter in {path}");
        for method in item.as_object().expect("path item").keys() {
            let method = method.to_uppercase();
            if !["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&method.as_str()) {
                continue;
            }
            let body = if method == "POST" { "{}" } else { "" };
            let reply = request(
                addr,
                &method,
                &concrete,
                &[("content-type", "application/json")],
                body.to_owned(),
            )
            .await;
            let problem = reply.json();
            assert_ne!(
                reply.status, 405,
                "{method} {path} is documented, not routed"
            );
            assert_ne!(
                problem["detail"], "no such endpoint",
                "{method} {path} is documented, not routed"
            );
            assert!(reply.status < 500, "{method} {path}: {:?}", reply.body);
            checked += 1;
        }
    }
    assert!(checked > 25, "only {checked} operations documented");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn browsers_reach_a_master_only_by_its_names_and_without_cors() {
    let sandbox = Sandbox::start(1).await;
    let addr = sandbox.http(sandbox.leader().await);
    let port = addr.port();
    for (host, status) in [
        (format!("localhost:{port}"), 200),
        (format!("127.0.0.1:{port}"), 200),
        (format!("rebound.attacker.test:{port}"), 400),
    ] {
        let reply = request(addr, "GET", "/api/v1/whoami", &[("host", &host)], "").await;
        assert_eq!(reply.status, status, "Host {host}: {}", reply.text());
    }
    // No CORS unless configured: a preflight gets no allowance.
    let preflight = request(
        addr,
        "OPTIONS",
        "/api/v1/projects",
        &[
            ("origin", "https://elsewhere.test"),
            ("access-control-request-method", "POST"),
        ],
        "",
    )
    .await;
    assert!(
        preflight
            .headers
            .get("access-control-allow-origin")
            .is_none(),
        "{:?}",
        preflight.headers
    );
    // HEAD is GET without a body.
    let head = request(addr, "HEAD", "/healthz", &[("authorization", "")], "").await;
    assert_eq!(head.status, 200);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_master_without_authentication_still_refuses_cross_site_posts() {
    use broadside_master::{AuthConfig, MasterConfig, Timings};
    let dir = tempfile::tempdir().unwrap();
    let raft = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (raft_addr, addr) = (raft.local_addr().unwrap(), http.local_addr().unwrap());
    let config = MasterConfig {
        id: 1,
        listen_raft: raft_addr,
        listen_http: addr,
        advertise_raft: raft_addr.to_string(),
        advertise_http: addr.to_string(),
        peers: [(1, raft_addr.to_string())].into(),
        data: dir.path().join("m1"),
        timings: Timings::fast(),
        max_upload_bytes: 1 << 20,
        auth: AuthConfig {
            required: false,
            ..AuthConfig::default()
        },
        rest_tls: None,
        cluster_tls: broadside_rpc::transport::Security::Plain,
    };
    let master = broadside_master::start_on(config, raft, http)
        .await
        .unwrap();
    let no_token = ("authorization", "");
    // Without a token, everything is allowed…
    eventually("the lone master to lead", || async {
        let reply = request(addr, "GET", "/api/v1/cluster", &[no_token], "").await;
        (reply.status == 200 && reply.json()["leader"] == 1).then_some(())
    })
    .await;
    let json = [no_token, ("content-type", "application/json")];
    let created = request(addr, "POST", "/api/v1/projects", &json, r#"{"name":"p"}"#).await;
    assert_eq!(created.status, 201, "{}", created.text());
    // …but not a state change a page elsewhere could make a browser send: a form post.
    let form = [
        no_token,
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let posted = request(addr, "POST", "/api/v1/projects", &form, "name=q").await;
    assert_eq!(posted.status, 403, "{}", posted.text());
    assert!(posted.text().contains("cross-site"), "{}", posted.text());
    master.shutdown().await;
}
