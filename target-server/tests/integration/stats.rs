//! Counting: exact per path/route/status/method/attribution counts after
//! concurrent load, the `/stats` endpoint, reset and the distinct-path cap.

use std::collections::BTreeMap;

use broadside_target::stats::{MAX_DISTINCT_PATHS, OTHER_KEY};
use broadside_target::{StatsSnapshot, ATTRIBUTION_HEADER};
use http::{Method, StatusCode};

use crate::client::{request, spawn_target, wait_for_stats, within, H1, H2};

/// One request of the mixed workload and what the target should record.
struct Case {
    method: &'static str,
    uri: &'static str,
    path: &'static str,
    route: &'static str,
    status: u16,
}

const fn case(
    method: &'static str,
    uri: &'static str,
    path: &'static str,
    route: &'static str,
    status: u16,
) -> Case {
    Case {
        method,
        uri,
        path,
        route,
        status,
    }
}

const CASES: &[Case] = &[
    case("GET", "/", "/", "/", 200),
    case("GET", "/?q=1", "/", "/", 200),
    case("HEAD", "/", "/", "/", 200),
    case("GET", "/json", "/json", "/json", 200),
    case("GET", "/items/1", "/items/1", "/items/{id}", 200),
    case("GET", "/items/2", "/items/2", "/items/{id}", 200),
    case("GET", "/items/x", "/items/x", "/items/{id}", 404),
    case("POST", "/echo", "/echo", "/echo", 200),
    case("OPTIONS", "/echo", "/echo", "/echo", 200),
    case("PUT", "/status/201", "/status/201", "/status/{code}", 201),
    case(
        "DELETE",
        "/status/503",
        "/status/503",
        "/status/{code}",
        503,
    ),
    case("GET", "/status/abc", "/status/abc", "/status/{code}", 400),
    case("PATCH", "/delay/1", "/delay/1", "/delay/{ms}", 200),
    case("GET", "/redirect/1", "/redirect/1", "/redirect/{n}", 302),
    case("GET", "/missing", "/missing", "(unmatched)", 404),
    case("GET", "/account", "/account", "/account", 401),
    case("POST", "/login", "/login", "/login", 401),
    case("PURGE", "/echo", "/echo", "/echo", 200),
];

fn expected<K: Ord>(key: impl Fn(&Case) -> K, times: u64) -> BTreeMap<K, u64> {
    let mut map = BTreeMap::new();
    for case in CASES {
        *map.entry(key(case)).or_default() += times;
    }
    map
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_are_exact_after_concurrent_load() {
    const WORKERS: u64 = 8;
    const ROUNDS: u64 = 5;
    let target = spawn_target().await;
    let started_ms = now_ms();

    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        let addr = target.addr;
        tasks.push(tokio::spawn(async move {
            let attribution = format!("worker-{worker}");
            let headers = [(ATTRIBUTION_HEADER, attribution.as_str())];
            // Half the workers use HTTP/1.1, half HTTP/2.
            let (mut h1, mut h2) = if worker % 2 == 0 {
                (Some(H1::connect(addr).await), None)
            } else {
                (None, Some(H2::connect(addr).await))
            };
            for _ in 0..ROUNDS {
                for case in CASES {
                    let method = Method::from_bytes(case.method.as_bytes()).expect("method");
                    let req = request(method, case.uri, &headers, "");
                    let reply = match (&mut h1, &mut h2) {
                        (Some(h1), _) => h1.send(req).await,
                        (_, Some(h2)) => h2.send(req).await,
                        _ => unreachable!(),
                    };
                    assert_eq!(
                        reply.status.as_u16(),
                        case.status,
                        "{} {}",
                        case.method,
                        case.uri
                    );
                }
            }
        }));
    }
    // Stats reads while the load runs: never counted, never blocking.
    let mut observer = H1::connect(target.addr).await;
    for _ in 0..20 {
        assert_eq!(observer.get("/stats").await.status, StatusCode::OK);
    }
    for task in tasks {
        within(task).await.expect("worker");
    }
    let finished_ms = now_ms();

    let per_case = WORKERS * ROUNDS;
    let snapshot = target.stats().snapshot();
    assert_eq!(snapshot.total, per_case * CASES.len() as u64);
    assert_eq!(
        snapshot.by_path,
        string_keys(expected(|c| c.path, per_case))
    );
    assert_eq!(
        snapshot.by_route,
        string_keys(expected(|c| c.route, per_case))
    );
    assert_eq!(
        snapshot.by_method,
        string_keys(expected(|c| c.method, per_case))
    );
    assert_eq!(snapshot.by_status, expected(|c| c.status, per_case));
    assert_eq!(snapshot.in_flight, 0);

    assert_eq!(snapshot.by_attribution.len(), WORKERS as usize);
    for worker in 0..WORKERS {
        let stats = snapshot
            .attribution(&format!("worker-{worker}"))
            .expect("attributed");
        assert_eq!(stats.count, ROUNDS * CASES.len() as u64);
        assert_eq!(stats.per_second.values().sum::<u64>(), stats.count);
        assert_eq!(stats.per_second_dropped, 0);
        assert!(
            started_ms <= stats.first_unix_ms,
            "first arrival after the start"
        );
        assert!(stats.first_unix_ms <= stats.last_unix_ms);
        assert!(
            stats.last_unix_ms <= finished_ms,
            "last arrival before the end"
        );
        let first_second = stats.per_second.keys().next().copied();
        assert_eq!(first_second, Some(stats.first_unix_ms / 1000));
    }

    // The endpoint serves the same numbers.
    let served: StatsSnapshot =
        serde_json::from_slice(&observer.get("/stats").await.body).expect("stats JSON");
    assert!(served.taken_at_unix_ms >= snapshot.taken_at_unix_ms);
    assert_eq!(
        StatsSnapshot {
            taken_at_unix_ms: 0,
            ..served
        },
        StatsSnapshot {
            taken_at_unix_ms: 0,
            ..snapshot
        }
    );
}

#[tokio::test]
async fn sequential_attempts_do_not_overlap() {
    let target = spawn_target().await;
    let mut conn = H1::connect(target.addr).await;
    for attempt in ["attempt-1", "attempt-2"] {
        for i in 0..20 {
            let path = format!("/items/{i}");
            let reply = conn
                .send(request(
                    Method::GET,
                    &path,
                    &[(ATTRIBUTION_HEADER, attempt)],
                    "",
                ))
                .await;
            assert_eq!(reply.status, StatusCode::OK);
        }
    }
    let snapshot = target.stats().snapshot();
    let first = snapshot.attribution("attempt-1").expect("attempt-1");
    let second = snapshot.attribution("attempt-2").expect("attempt-2");
    assert_eq!((first.count, second.count), (20, 20));
    assert!(first.last_unix_ms <= second.first_unix_ms);
    assert_eq!(snapshot.path("/items/0"), 2);
    assert_eq!(snapshot.route("/items/{id}"), 40);
}

#[tokio::test]
async fn reset_zeroes_everything() {
    let target = spawn_target().await;
    let mut conn = H1::connect(target.addr).await;
    let tagged = [(ATTRIBUTION_HEADER, "before")];
    for _ in 0..5 {
        conn.send(request(Method::GET, "/items/3", &tagged, ""))
            .await;
    }
    let before = target.stats().snapshot();
    assert_eq!(before.total, 5);

    let reset = conn
        .send(request(Method::POST, "/stats/reset", &[], ""))
        .await;
    assert_eq!(reset.status, StatusCode::OK);
    let after = target.stats().snapshot();
    assert_eq!(
        StatsSnapshot {
            since_unix_ms: 0,
            taken_at_unix_ms: 0,
            ..after.clone()
        },
        StatsSnapshot::default()
    );
    assert!(after.since_unix_ms >= before.since_unix_ms);

    conn.get("/").await;
    conn.get("/nope").await;
    let fresh = target.stats().snapshot();
    assert_eq!(fresh.total, 2);
    assert_eq!(
        fresh.by_path,
        string_keys(BTreeMap::from([("/", 1), ("/nope", 1)]))
    );
    assert_eq!(fresh.by_status, BTreeMap::from([(200, 1), (404, 1)]));
    assert!(fresh.by_attribution.is_empty());

    // The library handle resets too.
    target.stats().reset();
    assert_eq!(target.stats().snapshot().total, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_paths_are_capped() {
    const EXTRA: usize = 25;
    let target = spawn_target().await;
    let conn = H2::connect(target.addr).await;
    let total = MAX_DISTINCT_PATHS + EXTRA;
    let tasks: Vec<_> = (0..4)
        .map(|lane| {
            let mut conn = conn.clone();
            tokio::spawn(async move {
                for i in (lane..total).step_by(4) {
                    assert_eq!(
                        conn.get(&format!("/items/{i}")).await.status,
                        StatusCode::OK
                    );
                }
            })
        })
        .collect();
    for task in tasks {
        within(task).await.expect("lane");
    }
    // Repeats of an already known path are still counted under it.
    let mut conn = conn.clone();
    conn.get("/").await;
    let snapshot = wait_for_stats(&target, "all requests", |s| s.total == total as u64 + 1).await;
    assert_eq!(snapshot.route("/items/{id}"), total as u64);
    assert_eq!(snapshot.path(OTHER_KEY), EXTRA as u64);
    assert_eq!(snapshot.path("/"), 1);
    let distinct_items = snapshot
        .by_path
        .keys()
        .filter(|k| k.starts_with("/items/"))
        .count();
    assert_eq!(distinct_items, MAX_DISTINCT_PATHS);
    assert_eq!(snapshot.by_path.values().sum::<u64>(), total as u64 + 1);
}

fn string_keys(map: BTreeMap<&str, u64>) -> BTreeMap<String, u64> {
    map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
