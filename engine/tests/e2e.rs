//! End to end: simulations run by the engine against the built-in target on loopback; what
//! the target counted is compared with what the engine reported.

use std::sync::Arc;
use std::time::Duration;

use broadside_engine::runtime::{run, NoFiles, Plan, RunConfig, RunOutcome};
use broadside_engine::simulation::load_text;
use broadside_engine::Segment;
use broadside_target::{Target, TargetConfig, TargetHandle};

async fn target() -> TargetHandle {
    Target::spawn(TargetConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        tls: false,
    })
    .await
    .expect("target starts")
}

fn plan(yaml: &str, base: &str) -> Arc<Plan> {
    let text = yaml.replace("{base}", base);
    match load_text(&text, "test.yaml", &NoFiles) {
        Ok((_, plan)) => Arc::new(plan),
        Err(e) => panic!("test simulation is invalid:\n{e}"),
    }
}

async fn run_segment(plan: Arc<Plan>, segment: Segment, from: Duration) -> RunOutcome {
    run(
        plan,
        RunConfig {
            segment,
            from,
            ..Default::default()
        },
    )
    .await
    .expect("run completes")
}

async fn run_whole(plan: Arc<Plan>) -> RunOutcome {
    run_segment(plan, Segment::WHOLE, Duration::ZERO).await
}

fn count(outcome: &RunOutcome, name: &str) -> (u64, u64) {
    let s = outcome
        .stats
        .requests
        .get(name)
        .unwrap_or_else(|| panic!("no stats for `{name}`"));
    (s.ok, s.ko)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_counts_equal_report_counts_per_request_and_status() {
    let t = target().await;
    let p = plan(
        r##"
name: counts
http: { base_url: "{base}" }
scenarios:
  - name: s
    injection: [ { at_once: 20 } ]
    steps:
      - repeat:
          times: 5
          steps:
            - request: { name: home, url: / }
            - request: { name: missing, url: /status/404, checks: [ { status: 404 } ] }
            - request: { name: broken, url: /status/500 }
"##,
        &t.base_url(),
    );
    let outcome = run_whole(p).await;
    let stats = t.stats().snapshot();
    assert_eq!(count(&outcome, "home"), (100, 0));
    assert_eq!(count(&outcome, "missing"), (100, 0));
    assert_eq!(count(&outcome, "broken"), (0, 100));
    assert_eq!(stats.by_path.get("/").copied(), Some(100));
    assert_eq!(stats.by_path.get("/status/404").copied(), Some(100));
    assert_eq!(stats.by_status.get(&404).copied(), Some(100));
    assert_eq!(stats.by_status.get(&500).copied(), Some(100));
    assert_eq!(stats.total, 300);
    assert_eq!(outcome.stats.users_started, 20);
    assert_eq!(outcome.stats.users_finished, 20);
    assert!(
        outcome.stats.errors.keys().any(|e| e.contains("500")),
        "errors: {:?}",
        outcome.stats.errors
    );
    t.shutdown().await.expect("target stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_token_chain_reaches_the_protected_resource() {
    let t = target().await;
    let p = plan(
        r##"
name: chain
http: { base_url: "{base}" }
feeders:
  users: { records: [ { name: ada }, { name: bob } ], strategy: circular }
scenarios:
  - name: s
    injection: [ { at_once: 6 } ]
    steps:
      - feed: users
      - request:
          name: login
          method: POST
          url: /login
          json: { username: "#{name}", password: secret }
          checks: [ { status: 200 }, { json_path: $.token, save_as: token } ]
      - exit_here_if_failed
      - request:
          name: account
          url: /account
          headers: { authorization: "Bearer #{token}" }
          checks: [ { status: 200 }, { body_contains: "#{name}" } ]
      - request:
          name: no token
          url: /account
          checks: [ { status: 401 } ]
"##,
        &t.base_url(),
    );
    let outcome = run_whole(p).await;
    assert_eq!(count(&outcome, "login"), (6, 0));
    assert_eq!(
        count(&outcome, "account"),
        (6, 0),
        "errors: {:?}",
        outcome.stats.errors
    );
    assert_eq!(count(&outcome, "no token"), (6, 0));
    assert_eq!(t.stats().snapshot().by_status.get(&401).copied(), Some(6));
    t.shutdown().await.expect("target stops");
}

fn feeder_plan(base: &str, strategy: &str, users: u64) -> Arc<Plan> {
    let records: Vec<String> = (0..10).map(|i| format!("{{ id: r{i} }}")).collect();
    plan(
        &format!(
            r##"
name: feeders
http: {{ base_url: "{{base}}" }}
seed: 7
feeders:
  f: {{ records: [ {} ], strategy: {strategy} }}
scenarios:
  - name: s
    injection: [ {{ at_once: {users} }} ]
    steps:
      - feed: f
      - request: {{ name: echo, url: /echo, headers: {{ x-broadside-attribution: "#{{id}}" }} }}
"##,
            records.join(", ")
        ),
        base,
    )
}

/// Requests per feeder record, as the target saw them (each request carries its record id in
/// the attribution header).
fn echo_paths(t: &TargetHandle) -> std::collections::BTreeMap<String, u64> {
    t.stats()
        .snapshot()
        .by_attribution
        .into_iter()
        .map(|(k, v)| (k, v.count))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeders_hand_out_records_by_strategy() {
    // queue and shuffle: every record once; users beyond the records stop at the feed.
    for strategy in ["queue", "shuffle"] {
        let t = target().await;
        let outcome = run_whole(feeder_plan(&t.base_url(), strategy, 12)).await;
        let paths = echo_paths(&t);
        assert_eq!(paths.len(), 10, "{strategy}: {paths:?}");
        assert!(
            paths.values().all(|&n| n == 1),
            "{strategy}: a record was used twice: {paths:?}"
        );
        assert_eq!(count(&outcome, "echo"), (10, 0));
        t.shutdown().await.expect("target stops");
    }
    // circular: 25 users over 10 records use each 2 or 3 times.
    let t = target().await;
    run_whole(feeder_plan(&t.base_url(), "circular", 25)).await;
    let paths = echo_paths(&t);
    assert_eq!(paths.len(), 10);
    assert_eq!(paths.values().sum::<u64>(), 25);
    assert!(paths.values().all(|&n| n == 2 || n == 3), "{paths:?}");
    t.shutdown().await.expect("target stops");
    // random: every user gets some record of the set.
    let t = target().await;
    run_whole(feeder_plan(&t.base_url(), "random", 30)).await;
    let paths = echo_paths(&t);
    assert_eq!(paths.values().sum::<u64>(), 30);
    assert!(paths.keys().all(|p| p.starts_with('r')), "{paths:?}");
    t.shutdown().await.expect("target stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_together_make_the_whole_simulation() {
    let t = target().await;
    let records: Vec<String> = (0..30).map(|i| format!("{{ id: r{i} }}")).collect();
    let yaml = format!(
        r##"
name: segments
http: {{ base_url: "{{base}}" }}
feeders:
  f: {{ records: [ {} ] }}
scenarios:
  - name: open
    injection:
      - at_once: 4
      - ramp_users: {{ users: 11, during: 500ms }}
      - constant_users_per_sec: {{ rate: 30, during: 500ms }}
    steps:
      - feed: f
      - request: {{ name: echo, url: /echo, headers: {{ x-broadside-attribution: "#{{id}}" }} }}
  - name: closed
    injection: [ {{ constant_concurrent_users: {{ users: 5, during: 300ms }} }} ]
    steps:
      - request: {{ name: home, url: / }}
      - pause: 100ms
"##,
        records.join(", ")
    );
    let p = plan(&yaml, &t.base_url());
    let n = 3;
    let runs = (0..n).map(|i| {
        tokio::spawn(run_segment(
            p.clone(),
            Segment::new(i, n).unwrap(),
            Duration::ZERO,
        ))
    });
    let mut started = 0;
    for r in runs {
        let outcome = r.await.unwrap();
        started += outcome.scenarios[0].started_users;
    }
    // 4 + 11 + 15 = 30 arrivals in the open scenario, split over the segments.
    assert_eq!(started, 30);
    let paths = echo_paths(&t);
    assert_eq!(paths.len(), 30, "every queue record used: {paths:?}");
    assert!(
        paths.values().all(|&n| n == 1),
        "no record used twice: {paths:?}"
    );
    t.shutdown().await.expect("target stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_from_an_offset_runs_only_the_rest_of_the_schedule() {
    let t = target().await;
    let p = plan(
        r##"
name: resume
http: { base_url: "{base}" }
scenarios:
  - name: s
    injection: [ { constant_users_per_sec: { rate: 20, during: 2s } } ]
    steps: [ { request: { name: home, url: / } } ]
"##,
        &t.base_url(),
    );
    let outcome = run_segment(p, Segment::WHOLE, Duration::from_millis(1500)).await;
    // Arrivals at 1.50, 1.55, …, 1.95 s.
    assert_eq!(outcome.scenarios[0].started_users, 10);
    assert_eq!(t.stats().snapshot().by_path.get("/").copied(), Some(10));
    t.shutdown().await.expect("target stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_target_shows_up_in_open_model_latencies() {
    let t = target().await;
    let p = plan(
        r##"
name: stall
http: { base_url: "{base}" }
scenarios:
  - name: s
    injection: [ { constant_users_per_sec: { rate: 100, during: 2s } } ]
    steps: [ { request: { name: home, url: / } } ]
"##,
        &t.base_url(),
    );
    let stall_url = format!("{}/admin/stall?ms=600", t.base_url());
    let run = tokio::spawn(run_whole(p));
    // Stall the target once a third of the arrivals have been served.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while t.stats().snapshot().by_path.get("/").copied().unwrap_or(0) < 60 {
        assert!(std::time::Instant::now() < deadline, "load never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    post(&stall_url).await;
    let outcome = run.await.unwrap();
    let home = &outcome.stats.requests["home"];
    assert_eq!(home.ok, 200);
    // Arrivals during the 600 ms stall wait for it: their latency is measured from their
    // scheduled instant, so p95 reflects the stall.
    assert!(
        home.latency.percentile(95.0) >= Duration::from_millis(200),
        "p95 {:?}",
        home.latency.percentile(95.0)
    );
    assert!(home.latency.percentile(50.0) < home.latency.percentile(95.0));
    t.shutdown().await.expect("target stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_duration_interrupts_users() {
    let t = target().await;
    let p = plan(
        r##"
name: max
http: { base_url: "{base}" }
max_duration: 500ms
scenarios:
  - name: s
    injection: [ { at_once: 2 } ]
    steps:
      - during: { duration: 60s, steps: [ { request: { url: / } }, { pause: 50ms } ] }
"##,
        &t.base_url(),
    );
    let outcome = run_whole(p).await;
    assert!(outcome.interrupted);
    assert!(outcome.duration < Duration::from_secs(30));
    assert_eq!(outcome.stats.users_finished, 2);
    t.shutdown().await.expect("target stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_model_keeps_the_concurrency_level() {
    let t = target().await;
    let p = plan(
        r##"
name: closed
http: { base_url: "{base}" }
scenarios:
  - name: s
    injection: [ { constant_concurrent_users: { users: 4, during: 1s } } ]
    steps:
      - request: { name: slow, url: /delay/100 }
"##,
        &t.base_url(),
    );
    let outcome = run_whole(p).await;
    // Four slots, each running users of ~100 ms back to back for about a second.
    let started = outcome.scenarios[0].started_users;
    assert!((16..=48).contains(&started), "started {started}");
    let max_active = outcome
        .stats
        .series
        .iter()
        .map(|s| s.active_users)
        .max()
        .unwrap_or(0);
    assert!(
        max_active <= 4,
        "active users never exceed the level: {max_active}"
    );
    t.shutdown().await.expect("target stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_control_constructs_run_as_written() {
    let t = target().await;
    let p = plan(
        r##"
name: flow
http: { base_url: "{base}" }
seed: 3
scenarios:
  - name: s
    injection: [ { at_once: 1 } ]
    steps:
      - set: { n: 0 }
      - as_long_as:
          condition: "#{n < 3}"
          steps:
            - request: { name: loop, url: "/items/#{n}" }
            - set: { n: "#{n + 1}" }
      - if: { condition: "#{n == 3}", then: [ { request: { name: then, url: / } } ], else: [ { request: { name: else, url: / } } ] }
      - switch: { value: "#{n}", cases: { "3": [ { request: { name: case3, url: / } } ] }, default: [ { request: { name: dflt, url: / } } ] }
      - random_switch: [ { weight: 100, steps: [ { request: { name: always, url: / } } ] } ]
      - try_max:
          times: 3
          counter: attempt
          steps:
            - if:
                condition: "#{attempt < 2}"
                then: [ { request: { name: flaky, url: /status/503 } } ]
                else: [ { request: { name: flaky, url: / } } ]
      - group: { name: g, steps: [ { request: { name: grouped, url: /json } } ] }
      - request: { name: redirected, url: /redirect/2, checks: [ { status: 200 } ] }
      - request: { name: fail, url: /status/500 }
      - exit_here_if_failed
      - request: { name: unreachable, url: / }
"##,
        &t.base_url(),
    );
    let outcome = run_whole(p).await;
    let s = &outcome.stats.requests;
    assert_eq!(s["loop"].ok, 3);
    assert_eq!(s["then"].ok, 1);
    assert!(!s.contains_key("else") || s["else"].ok + s["else"].ko == 0);
    assert_eq!(s["case3"].ok, 1);
    assert_eq!(s["always"].ok, 1);
    assert_eq!((s["flaky"].ok, s["flaky"].ko), (1, 2));
    assert_eq!(s["grouped"].ok, 1);
    assert_eq!(outcome.stats.groups["g"].ok, 1);
    assert_eq!(s["redirected"].ok, 1);
    assert_eq!(s["fail"].ko, 1);
    assert!(!s.contains_key("unreachable") || s["unreachable"].ok + s["unreachable"].ko == 0);
    t.shutdown().await.expect("target stops");
}

async fn post(url: &str) {
    use http_body_util::{BodyExt, Empty};
    let uri: hyper::Uri = url.parse().unwrap();
    let addr = format!("{}:{}", uri.host().unwrap(), uri.port_u16().unwrap());
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::post(uri.path_and_query().unwrap().as_str())
        .header("host", uri.authority().unwrap().as_str())
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert!(resp.status().is_success());
    let _ = resp.into_body().collect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_injection_step_produces_its_planned_arrivals() {
    let t = target().await;
    let p = plan(
        r##"
name: injection
http: { base_url: "{base}" }
seed: 11
scenarios:
  - { name: at_once, injection: [ { at_once: 7 } ], steps: [ { request: { name: a, url: / } } ] }
  - { name: ramp, injection: [ { nothing_for: 100ms }, { ramp_users: { users: 9, during: 300ms } } ], steps: [ { request: { name: b, url: / } } ] }
  - { name: constant, injection: [ { constant_users_per_sec: { rate: 40, during: 500ms } } ], steps: [ { request: { name: c, url: / } } ] }
  - { name: random, injection: [ { constant_users_per_sec: { rate: 40, during: 500ms, randomized: true } } ], steps: [ { request: { name: d, url: / } } ] }
  - { name: ramp_rate, injection: [ { ramp_users_per_sec: { from: 10, to: 50, during: 1s } } ], steps: [ { request: { name: e, url: / } } ] }
  - { name: peak, injection: [ { stress_peak_users: { users: 25, during: 500ms } } ], steps: [ { request: { name: f, url: / } } ] }
"##,
        &t.base_url(),
    );
    let outcome = run_whole(p).await;
    let expected = [
        ("at_once", 7),
        ("ramp", 9),
        ("constant", 20),
        ("random", 20),
        ("ramp_rate", 30),
        ("peak", 25),
    ];
    for (info, (name, n)) in outcome.scenarios.iter().zip(expected) {
        assert_eq!(info.name, name);
        assert_eq!(info.planned_users, Some(n), "{name} planned");
        assert_eq!(info.started_users, n, "{name} started");
    }
    assert_eq!(t.stats().snapshot().total, 111);
    assert_eq!(outcome.stats.total().ok, 111);
    t.shutdown().await.expect("target stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_tls_and_shared_pools_work() {
    let t = target().await;
    let h2 = plan(
        r##"
name: h2
http: { base_url: "{base}", version: http2, connections: shared }
scenarios:
  - name: s
    injection: [ { at_once: 10 } ]
    steps: [ { repeat: { times: 3, steps: [ { request: { name: h2, url: /json, checks: [ { json_path: $.total, is: 10 } ] } } ] } } ]
"##,
        &t.base_url(),
    );
    let outcome = run_whole(h2).await;
    assert_eq!(
        count(&outcome, "h2"),
        (30, 0),
        "errors: {:?}",
        outcome.stats.errors
    );
    t.shutdown().await.expect("target stops");

    let tls = Target::spawn(TargetConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        tls: true,
    })
    .await
    .unwrap();
    assert!(tls.base_url().starts_with("https://"));
    for version in ["http1", "http2"] {
        let p = plan(
            &format!(
                r##"
name: tls
http: {{ base_url: "{{base}}", version: {version}, tls_insecure: true }}
scenarios:
  - {{ name: s, injection: [ {{ at_once: 3 }} ], steps: [ {{ request: {{ name: tls, url: / }} }} ] }}
"##
            ),
            &tls.base_url(),
        );
        let outcome = run_whole(p).await;
        assert_eq!(
            count(&outcome, "tls"),
            (3, 0),
            "{version}: {:?}",
            outcome.stats.errors
        );
    }
    // Without tls_insecure the self-signed certificate is refused.
    let strict = plan(
        r##"
name: strict
http: { base_url: "{base}" }
scenarios:
  - { name: s, injection: [ { at_once: 1 } ], steps: [ { request: { name: strict, url: / } } ] }
"##,
        &tls.base_url(),
    );
    let outcome = run_whole(strict).await;
    assert_eq!(count(&outcome, "strict"), (0, 1));
    assert!(
        outcome.stats.errors.keys().any(|e| e.contains("tls")),
        "{:?}",
        outcome.stats.errors
    );
    tls.shutdown().await.expect("target stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_checks_are_counted_with_samples() {
    let t = target().await;
    let p = plan(
        r##"
name: samples
http: { base_url: "{base}" }
scenarios:
  - name: s
    injection: [ { at_once: 5 } ]
    steps:
      - request:
          name: wrong
          url: /json
          checks: [ { json_path: $.total, is: 11 } ]
      - request:
          name: optional
          url: /json
          checks: [ { json_path: $.nothing, optional: true }, { regex: '"total":(\d+)', save_as: total } ]
      - request: { name: echo, url: "/echo?total=#{total}", checks: [ { body_contains: "total=10" } ] }
"##,
        &t.base_url(),
    );
    let outcome = run_whole(p).await;
    assert_eq!(count(&outcome, "wrong"), (0, 5));
    assert_eq!(count(&outcome, "optional"), (5, 0));
    assert_eq!(
        count(&outcome, "echo"),
        (5, 0),
        "{:?}",
        outcome.stats.errors
    );
    let (message, n) = outcome
        .stats
        .errors
        .iter()
        .next()
        .expect("one error message");
    assert_eq!(*n, 5);
    assert!(
        message.contains("$.total") && message.contains("11"),
        "{message}"
    );
    let sample = outcome
        .stats
        .error_samples
        .first()
        .expect("a sample is kept");
    assert!(
        sample.request_text.starts_with("GET "),
        "{}",
        sample.request_text
    );
    assert!(
        sample.response_text.contains("\"total\""),
        "{}",
        sample.response_text
    );
    t.shutdown().await.expect("target stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_scenarios_run_in_sequence() {
    let t = target().await;
    let p = plan(
        r##"
name: chain
http: { base_url: "{base}" }
scenarios:
  - name: second
    start_after: first
    injection: [ { at_once: 3 } ]
    steps: [ { request: { name: after, url: /, headers: { x-broadside-attribution: second } } } ]
  - name: first
    injection: [ { ramp_users: { users: 4, during: 300ms } } ]
    steps: [ { request: { name: before, url: /delay/50, headers: { x-broadside-attribution: first } } } ]
"##,
        &t.base_url(),
    );
    let outcome = run_whole(p).await;
    assert_eq!(count(&outcome, "before"), (4, 0));
    assert_eq!(count(&outcome, "after"), (3, 0));
    let stats = t.stats().snapshot();
    let (first, second) = (
        &stats.by_attribution["first"],
        &stats.by_attribution["second"],
    );
    assert!(
        second.first_unix_ms >= first.last_unix_ms,
        "second starts after first ends: {first:?} {second:?}"
    );
    t.shutdown().await.expect("target stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_caps_the_request_rate() {
    let t = target().await;
    let p = plan(
        r##"
name: throttle
http: { base_url: "{base}" }
max_duration: 2s
throttle: [ { jump_to_rps: 50 }, { hold_for: 1m } ]
scenarios:
  - name: s
    injection: [ { at_once: 5 } ]
    steps: [ { repeat: { times: 100000, steps: [ { request: { name: home, url: / } } ] } } ]
"##,
        &t.base_url(),
    );
    let outcome = run_whole(p).await;
    let sent = outcome.stats.total().count();
    // Unthrottled, five users would send tens of thousands of requests in 2 s.
    assert!((60..=160).contains(&sent), "about 50/s for 2 s, got {sent}");
    t.shutdown().await.expect("target stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulation_built_in_rust_runs() {
    use broadside_engine::model::{InjectionStep, Request, Scenario, Simulation, Step};
    let t = target().await;
    let mut sim = Simulation {
        name: "from code".into(),
        description: None,
        http: Default::default(),
        feeders: Default::default(),
        scenarios: vec![Scenario {
            name: "s".into(),
            injection: vec![InjectionStep::AtOnce(3)],
            start_after: None,
            steps: vec![Step::Request(Box::new(Request {
                name: Some("home".into()),
                method: "GET".into(),
                url: "/".into(),
                headers: Default::default(),
                query: Default::default(),
                body: None,
                json: None,
                form: None,
                body_file: None,
                checks: vec![],
                timeout: None,
            }))],
        }],
        assertions: vec![],
        max_duration: None,
        throttle: vec![],
        seed: None,
    };
    sim.http.base_url = Some(t.base_url());
    let plan = broadside_engine::simulation::compile_simulation(&sim, &NoFiles).expect("valid");
    let outcome = run_whole(Arc::new(plan)).await;
    assert_eq!(count(&outcome, "home"), (3, 0));
    t.shutdown().await.expect("target stops");
}

/// Runs with a generous deadline so that a hang fails the test instead of blocking the suite.
async fn run_bounded(plan: Arc<Plan>, from: Duration) -> RunOutcome {
    tokio::time::timeout(
        Duration::from_secs(30),
        run_segment(plan, Segment::WHOLE, from),
    )
    .await
    .expect("the run ends by itself")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_closed_users_starved_by_a_queue_feeder_do_not_spin_forever() {
    let t = target().await;
    let p = plan(
        r##"
name: starved
http: { base_url: "{base}" }
feeders:
  f: { records: [ { id: a }, { id: b }, { id: c } ] }
scenarios:
  - name: s
    injection: [ { constant_concurrent_users: { users: 4, during: 500ms } } ]
    steps: [ { feed: f }, { request: { name: fed, url: / } } ]
"##,
        &t.base_url(),
    );
    let outcome = run_bounded(p, Duration::ZERO).await;
    assert_eq!(count(&outcome, "fed"), (3, 0));
    assert!(outcome
        .stats
        .errors
        .keys()
        .any(|e| e.contains("feeder `f` is empty")));
    t.shutdown().await.expect("target stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_users_whose_requests_never_wait_still_stop_at_max_duration() {
    // 192.0.2.1 is refused by the address policy before any packet is sent, so every request
    // fails at once and the loop never awaits anything but the scheduler.
    let p = plan(
        r##"
name: busy
max_duration: 300ms
scenarios:
  - name: s
    injection: [ { at_once: 4 } ]
    steps: [ { during: { duration: 60s, steps: [ { request: { name: refused, url: "http://192.0.2.1:9/" } } ] } } ]
"##,
        "",
    );
    let outcome = run_bounded(p, Duration::ZERO).await;
    assert!(outcome.interrupted);
    assert_eq!(outcome.stats.users_finished, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_resuming_skips_the_past_of_chained_scenarios_too() {
    let t = target().await;
    let p = plan(
        r##"
name: chained-resume
http: { base_url: "{base}" }
scenarios:
  - name: first
    injection: [ { ramp_users: { users: 10, during: 1s } } ]
    steps: [ { request: { name: a, url: / } } ]
  - name: second
    start_after: first
    injection: [ { constant_users_per_sec: { rate: 20, during: 2s } } ]
    steps: [ { request: { name: b, url: / } } ]
"##,
        &t.base_url(),
    );
    // On the plan, `second` runs from 1 s to 3 s; resuming at 2 s leaves its last second.
    let outcome = run_bounded(p, Duration::from_secs(2)).await;
    assert_eq!(outcome.scenarios[0].started_users, 0);
    assert_eq!(outcome.scenarios[1].started_users, 20);
    t.shutdown().await.expect("target stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_host_header_set_by_the_simulation_replaces_the_default_one() {
    let t = target().await;
    let p = plan(
        r##"
name: vhost
http: { base_url: "{base}" }
scenarios:
  - name: s
    injection: [ { at_once: 1 } ]
    steps:
      - request:
          name: vhost
          url: /echo
          headers: { host: shop.example.test }
          checks: [ { json_path: $.headers.host, is: shop.example.test } ]
"##,
        &t.base_url(),
    );
    let outcome = run_bounded(p, Duration::ZERO).await;
    assert_eq!(
        count(&outcome, "vhost"),
        (1, 0),
        "{:?}",
        outcome.stats.errors
    );
    t.shutdown().await.expect("target stops");
}

/// The gate is asked before every request and before every open-model arrival: once it
/// closes, no request is sent and no user starts; the run says how far it got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_gate_stops_requests_before_they_are_sent() {
    let t = target().await;
    let p = plan(
        r#"
name: gated
http: { base_url: "{base}" }
scenarios:
  - name: s
    injection: [{ at_once: 20 }, { nothing_for: 500ms }, { at_once: 10 }]
    steps:
      - request: { name: home, url: /json }
      - pause: 300ms
      - request: { name: second, url: /json }
"#,
        &t.base_url(),
    );
    let open = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = open.clone();
    let gate = broadside_engine::runtime::Gate::new(move || {
        flag.load(std::sync::atomic::Ordering::SeqCst)
    });
    let run = broadside_engine::runtime::Run::start(
        p,
        RunConfig {
            gate,
            ..Default::default()
        },
    )
    .expect("starts");
    let positions = run.positions();
    // Closed once the first 20 users sent their first request, before their second.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while t.stats().snapshot().total < 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the target saw too little"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    open.store(false, std::sync::atomic::Ordering::SeqCst);
    let outcome = run.wait().await.expect("run completes");
    assert_eq!(count(&outcome, "home"), (20, 0));
    assert!(!outcome.stats.requests.contains_key("second"));
    assert_eq!(t.stats().snapshot().total, 20);
    // The 10 later arrivals were refused: not started, and not reached.
    let [s] = positions
        .at(outcome.duration)
        .try_into()
        .expect("one scenario");
    assert_eq!((s.planned, s.before, s.run, s.reached), (30, 0, 20, 20));
    assert_eq!(outcome.scenarios[0].started_users, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_samples_keep_no_credentials() {
    let t = target().await;
    let p = plan(
        r##"
name: redaction
http:
  base_url: "{base}"
  headers: { x-api-key: "k-123456", authorization: "Bearer tok-abcdef" }
  sensitive_headers: [ X-Api-Key ]
scenarios:
  - name: s
    injection: [ { at_once: 2 } ]
    steps:
      - request:
          name: fails
          url: /echo
          headers: { cookie: "sid=cookie-value" }
          checks: [ { status: 201 } ]
      - request:
          name: quotes
          url: /echo
          checks: [ { json_path: $.headers.authorization, is: nothing-like-it } ]
"##,
        &t.base_url(),
    );
    let outcome = run_whole(p).await;
    assert_eq!(count(&outcome, "fails"), (0, 2));
    assert_eq!(count(&outcome, "quotes"), (0, 2));
    let sample = outcome.stats.error_samples.first().expect("a sample");
    let text = format!("{}\n{}", sample.request_text, sample.response_text);
    // The check quoting the echoed header names it without its value.
    let errors = format!("{:?}", outcome.stats.errors);
    for secret in ["k-123456", "tok-abcdef", "cookie-value"] {
        assert!(!text.contains(secret), "{secret} in the sample:\n{text}");
        assert!(!errors.contains(secret), "{secret} in the errors: {errors}");
    }
    assert!(errors.contains("[redacted]"), "{errors}");
    assert!(text.contains("authorization: [redacted]"), "{text}");
    assert!(text.contains("x-api-key: [redacted]"), "{text}");
    t.shutdown().await.expect("target stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_origin_drops_credentials() {
    let first = target().await;
    let second = target().await;
    let echo = format!("{}/echo", second.base_url())
        .replace(':', "%3A")
        .replace('/', "%2F");
    let p = plan(
        &r##"
name: redirects
http: { base_url: "{base}", sensitive_headers: [x-api-key] }
scenarios:
  - name: s
    injection: [ { at_once: 1 } ]
    steps:
      - request:
          name: same-origin
          url: /redirect/1
          headers: { authorization: "Bearer t", cookie: "c=1" }
      - request:
          name: cross-origin
          url: /redirect/0?to=ECHO
          headers:
            authorization: "Bearer t"
            proxy-authorization: "Basic p"
            cookie: "c=1"
            x-api-key: k
            x-plain: kept
          checks:
            - { json_path: $.headers.authorization, exists: false }
            - { json_path: "$.headers['proxy-authorization']", exists: false }
            - { json_path: $.headers.cookie, exists: false }
            - { json_path: "$.headers['x-api-key']", exists: false }
            - { json_path: "$.headers['x-plain']", is: kept }
            - { json_path: $.path, is: /echo }
"##
        .replace("ECHO", &echo),
        &first.base_url(),
    );
    let outcome = run_whole(p).await;
    assert_eq!(count(&outcome, "same-origin"), (1, 0));
    assert_eq!(
        count(&outcome, "cross-origin"),
        (1, 0),
        "{:?}",
        outcome.stats.errors
    );
    assert_eq!(
        second.stats().snapshot().by_path.get("/echo").copied(),
        Some(1)
    );
    first.shutdown().await.expect("target stops");
    second.shutdown().await.expect("target stops");
}

/// A stop lets the exchanges already sent finish: what reached the target is counted with its
/// response, and nothing more is sent (no user starts, no user leaves its pause).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_counts_the_requests_in_flight_and_sends_nothing_more() {
    let t = target().await;
    let p = plan(
        r##"
name: graceful
http: { base_url: "{base}" }
scenarios:
  - name: slow
    injection: [ { at_once: 3 }, { constant_users_per_sec: { rate: 10, during: 30s } } ]
    steps:
      - request: { name: slow, url: /delay/700 }
      - pause: 10s
      - request: { name: never, url: /json }
"##,
        &t.base_url(),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let run = broadside_engine::runtime::Run::start(
        p,
        RunConfig {
            stop: stop.clone(),
            ..Default::default()
        },
    )
    .expect("starts");
    // The three first users are inside their 700 ms exchange when the stop comes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while t.stats().snapshot().total < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the target saw nothing"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    let outcome = run.wait().await.expect("run completes");
    assert!(outcome.interrupted);
    let received = t.stats().snapshot().total;
    assert!(received >= 3);
    let (ok, ko) = count(&outcome, "slow");
    assert_eq!(
        (ok + ko, ko),
        (received, 0),
        "every request the target got, with its response"
    );
    assert!(!outcome.stats.requests.contains_key("never"));
    assert!(
        outcome.duration < Duration::from_secs(5),
        "{:?}",
        outcome.duration
    );
}

/// A run says where it stands on each scenario's schedule: for an open model the arrivals
/// before its offset and those it started, for a closed model the planned user-milliseconds
/// before its offset and those it covered. Its statistics count the requests of each scenario.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_account_for_the_whole_schedule_across_resumed_runs() {
    let t = target().await;
    let p = plan(
        r##"
name: positions
http: { base_url: "{base}" }
scenarios:
  - name: open
    injection: [ { constant_users_per_sec: { rate: 20, during: 2s } } ]
    steps: [ { request: { name: home, url: / } } ]
  - name: closed
    injection: [ { constant_concurrent_users: { users: 3, during: 2s } } ]
    steps: [ { request: { name: slow, url: /delay/200 } } ]
"##,
        &t.base_url(),
    );
    let from = Duration::from_millis(1500);
    let run = broadside_engine::runtime::Run::start(
        p,
        RunConfig {
            from,
            ..Default::default()
        },
    )
    .expect("starts");
    let positions = run.positions();
    let outcome = run.wait().await.expect("run completes");
    let [open, closed] = positions
        .at(from + outcome.duration)
        .try_into()
        .expect("one position per scenario");
    // Open: 40 arrivals, 30 before 1.5 s, the other 10 started here.
    assert!(open.open);
    assert_eq!((open.planned, open.before, open.run), (40, 30, 10));
    assert_eq!(open.reached, 40);
    // Closed: 3 users for 2 s = 6,000 user-ms, 4,500 before 1.5 s, the rest covered here.
    assert!(!closed.open);
    assert_eq!((closed.planned, closed.before), (6_000, 4_500));
    assert_eq!(closed.run, 1_500);
    assert_eq!(closed.reached, 6_000);
    // The requests of each scenario are counted apart.
    let target = t.stats().snapshot();
    let requests = &outcome.stats.scenario_requests;
    assert_eq!(requests.len(), 2);
    assert_eq!(target.by_path.get("/").copied(), Some(requests[0]));
    assert_eq!(requests[0], 10);
    assert_eq!(target.by_path.get("/delay/200").copied(), Some(requests[1]));
    t.shutdown().await.expect("target stops");
}
