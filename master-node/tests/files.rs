//! Files through the REST API: streaming upload on one master, download from another,
//! versions, content-addressed deduplication, deletion, and refusals (traversal names,
//! oversize uploads, unknown projects).

mod common;

use common::{get, post_json, request, Sandbox, UPLOAD_LIMIT};
use serde_json::json;

/// Deterministic, incompressible-looking content.
fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upload_on_one_master_download_from_another() {
    let sandbox = Sandbox::start(3).await;
    let leader = sandbox.leader().await;
    let (a, b) = (sandbox.other_than(leader), leader);
    assert_eq!(
        post_json(sandbox.http(a), "/api/v1/projects", json!({"name": "team"}))
            .await
            .status,
        201
    );

    // 2.5 MiB: three chunks.
    let data = content(5 << 19, 1);
    let put = request(
        sandbox.http(a),
        "PUT",
        "/api/v1/projects/team/files/data/users.csv",
        &[],
        data.clone(),
    )
    .await;
    assert_eq!(put.status, 201, "{:?}", put.body);
    let view = put.json();
    assert_eq!(view["version"], 1);
    assert_eq!(view["size"], data.len());
    assert_eq!(view["kind"], "data");

    let got = get(
        sandbox.http(b),
        "/api/v1/projects/team/files/data/users.csv?consistent=true",
    )
    .await;
    assert_eq!(got.status, 200);
    assert!(
        got.body.as_ref() == data.as_slice(),
        "downloaded bytes differ"
    );
    assert_eq!(got.headers["x-broadside-version"], "1");

    // The same content again: no new version. New content: version 2; both downloadable.
    let same = request(
        sandbox.http(b),
        "PUT",
        "/api/v1/projects/team/files/data/users.csv",
        &[],
        data.clone(),
    )
    .await;
    assert_eq!(same.json()["version"], 1);
    let other = content(1000, 2);
    let v2 = request(
        sandbox.http(b),
        "PUT",
        "/api/v1/projects/team/files/data/users.csv",
        &[],
        other.clone(),
    )
    .await;
    assert_eq!(v2.json()["version"], 2);
    let old = get(
        sandbox.http(a),
        "/api/v1/projects/team/files/data/users.csv?version=1&consistent=true",
    )
    .await;
    assert!(old.body.as_ref() == data.as_slice());
    let versions = get(
        sandbox.http(a),
        "/api/v1/projects/team/file-versions/data/users.csv?consistent=true",
    )
    .await
    .json();
    assert_eq!(versions.as_array().unwrap().len(), 2);

    // A simulation file is recognised by its extension; the list shows latest versions.
    let sim = request(
        sandbox.http(a),
        "PUT",
        "/api/v1/projects/team/files/sims/smoke.yaml",
        &[],
        "scenarios: []",
    )
    .await;
    assert_eq!(sim.json()["kind"], "simulation");
    let list = get(
        sandbox.http(b),
        "/api/v1/projects/team/files?consistent=true",
    )
    .await
    .json();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["path"], "data/users.csv");
    assert_eq!(items[0]["version"], 2);

    let deleted = request(
        sandbox.http(b),
        "DELETE",
        "/api/v1/projects/team/files/data/users.csv",
        &[],
        "",
    )
    .await;
    assert_eq!(deleted.status, 204);
    let gone = get(
        sandbox.http(a),
        "/api/v1/projects/team/files/data/users.csv?consistent=true",
    )
    .await;
    assert_eq!(gone.status, 404);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_uploads_are_refused_with_problems() {
    let sandbox = Sandbox::start(3).await;
    sandbox.leader().await;
    let addr = sandbox.http(1);
    assert_eq!(
        post_json(addr, "/api/v1/projects", json!({"name": "team"}))
            .await
            .status,
        201
    );
    let cases: [(&str, u16); 7] = [
        (
            "/api/v1/projects/team/files/a/%2e%2e/%2e%2e/etc/passwd",
            400,
        ),
        ("/api/v1/projects/team/files/%2Fetc/passwd", 400),
        ("/api/v1/projects/team/files/a%5Cb", 400),
        ("/api/v1/projects/team/files/a%00b", 400),
        ("/api/v1/projects/team/files/x.csv?kind=weird", 400),
        ("/api/v1/projects/nobody/files/x.csv", 404),
        ("/api/v1/projects/Bad%20Name/files/x.csv", 400),
    ];
    for (path, status) in cases {
        let reply = request(addr, "PUT", path, &[], "x").await;
        assert_eq!(reply.status, status, "{path}: {:?}", reply.body);
        assert_eq!(reply.content_type(), "application/problem+json");
    }
    let too_big = vec![7u8; UPLOAD_LIMIT as usize + 1];
    let reply = request(
        addr,
        "PUT",
        "/api/v1/projects/team/files/big.bin",
        &[],
        too_big,
    )
    .await;
    assert_eq!(reply.status, 413, "{:?}", reply.body);
    assert_eq!(reply.content_type(), "application/problem+json");
    // Nothing was stored, and no spool file is left behind.
    let list = get(addr, "/api/v1/projects/team/files").await.json();
    assert!(list["items"].as_array().unwrap().is_empty());
    let spool = sandbox.config(1).data.join("uploads");
    let leftovers = std::fs::read_dir(&spool).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0);
    sandbox.shutdown().await;
}
