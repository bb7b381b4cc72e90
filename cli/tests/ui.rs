//! The web UI in a real browser (headless Chromium over WebDriver) against a real 3-master,
//! 2-worker cluster, opened on a follower: the unit checks of its pure modules
//! (`ui/tests/unit.js`) run in the page; then a user signs in (the session cookie unreadable by
//! scripts), sees the cluster, creates a project, uploads a simulation with a deliberate error
//! located exactly as `broadside validate` locates it, fixes and saves it, submits it with
//! parallelism 2, watches the live view move while the leader is SIGKILLed, reconnect after
//! its own master's restart, and complete (its total equal to the job's report), opens the HTML report, compares two runs with the
//! regression highlighted (`broadside compare` agreeing, exit 1), sees the history, the live
//! view at a phone's width, and signs out. Screenshots of every screen go to
//! `target/tmp/ui-screenshots/`.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use broadside_client::api::Submission;
use broadside_harness::browser::Browser;
use common::*;
use fantoccini::Locator;

/// Where the screenshots go (inside the target directory).
fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots")
}

/// A simulation of one request `home` to `url` at `rate` per second for `seconds`; `typo`
/// misspells a field so that validation fails at a known place.
fn sim(base: &str, url: &str, rate: u32, seconds: u32, typo: bool) -> String {
    let during = if typo { "durring" } else { "during" };
    format!(
        "name: web\nhttp:\n  base_url: \"{base}\"\nscenarios:\n  - name: s\n    injection:\n      - constant_users_per_sec: {{ rate: {rate}, {during}: {seconds}s }}\n    steps:\n      - request: {{ name: home, url: {url} }}\n"
    )
}

/// The problems `broadside validate` prints for `file` run in `dir`.
fn validate_lines(dir: &Path, file: &str) -> Vec<String> {
    let out = std::process::Command::new(binary())
        .current_dir(dir)
        .args(["validate", file])
        .output()
        .expect("validate runs");
    assert!(!out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with(&format!("{file}:")))
        .map(str::to_owned)
        .collect()
}

/// The number a counter shows (`1,234` → 1234; nothing yet → 0).
fn number(text: &str) -> u64 {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

/// Records every Content-Security-Policy violation of the current document.
async fn watch_policy_violations(web: &fantoccini::Client) {
    web.execute(
        "window.cspViolations = []; document.addEventListener('securitypolicyviolation', \
         (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));",
        vec![],
    )
    .await
    .expect("runs");
}

/// Checks that the page recorded no Content-Security-Policy violation (and is the document
/// that records them).
async fn no_policy_violations(web: &fantoccini::Client) {
    let seen: serde_json::Value = web
        .execute("return window.cspViolations ?? null", vec![])
        .await
        .expect("runs");
    assert_eq!(
        seen,
        serde_json::json!([]),
        "Content-Security-Policy violations"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_team_member_runs_watches_and_compares_jobs_in_a_browser_on_a_follower() {
    let target = broadside_harness::target().await;
    let base = format!("http://{}", target.addr);
    let mut cluster = cluster_with(2).await;
    let leader = cluster.leader().await;
    let follower = (1..=3).find(|id| *id != leader).expect("a follower");
    let ui = cluster.rest_url(follower);
    let browser = Browser::start(&screenshots(), 1280, 800).await;
    let web = browser.client();

    // The pure modules' unit checks, in the page the master serves.
    web.goto(&ui).await.expect("the page loads");
    let script = format!(
        "const done = arguments[arguments.length - 1];\n\
         const BASE = document.querySelector('script[type=module]').src.replace(/\\/app\\.js$/, '');\n\
         (async () => {{\n{}\n}})().then(done, (e) => done({{ checks: 0, failures: [String(e.stack || e)] }}));",
        include_str!("../../ui/tests/unit.js")
    );
    let unit: serde_json::Value = web.execute_async(&script, vec![]).await.expect("runs");
    assert_eq!(unit["failures"], serde_json::json!([]), "{unit}");
    assert!(unit["checks"].as_u64().unwrap_or(0) >= 40, "{unit}");

    // Every Content-Security-Policy violation from here on is recorded (the screens are
    // rendered in this one document: routes are hash changes).
    watch_policy_violations(web).await;

    // Sign in.
    browser
        .find("#token")
        .await
        .send_keys(cluster.admin_token())
        .await
        .expect("types the token");
    browser
        .find("#sign-in")
        .await
        .click()
        .await
        .expect("signs in");
    browser.find("#sign-out").await;
    let cookie = web
        .get_named_cookie("broadside_session")
        .await
        .expect("a session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    let readable: serde_json::Value = web
        .execute("return document.cookie", vec![])
        .await
        .expect("runs");
    assert_eq!(readable, "", "a script can read the session cookie");

    // The cluster: three masters, the leader marked, two workers.
    web.goto(&format!("{ui}/#/cluster"))
        .await
        .expect("navigates");
    browser
        .eventually("three masters and two workers listed", || async {
            let masters = browser.all("#masters tr[data-master-id]").await.len();
            let workers = browser.all("#workers tr[data-worker-id]").await.len();
            (masters == 3 && workers == 2).then_some(())
        })
        .await;
    let leader_row = browser
        .text(&format!("#masters tr[data-master-id=\"{leader}\"]"))
        .await;
    assert!(leader_row.contains("leader"), "{leader_row}");
    browser.screenshot("cluster").await;

    // A project, and a simulation with a mistake uploaded by the file input.
    web.goto(&format!("{ui}/#/projects"))
        .await
        .expect("navigates");
    browser
        .find("#new-project-name")
        .await
        .send_keys("web")
        .await
        .expect("types");
    browser
        .find("#create-project")
        .await
        .click()
        .await
        .expect("creates");
    browser
        .find("a[data-project=\"web\"]")
        .await
        .click()
        .await
        .expect("opens");
    let files = tempfile::tempdir().expect("a directory");
    std::fs::write(
        files.path().join("sim.yaml"),
        sim(&base, "/json", 20, 30, true),
    )
    .expect("writes");
    browser
        .find("#upload-input")
        .await
        .send_keys(files.path().join("sim.yaml").to_str().expect("UTF-8"))
        .await
        .expect("uploads");
    browser
        .find("[data-path=\"sim.yaml\"] .file-name")
        .await
        .click()
        .await
        .expect("opens the file");
    browser
        .eventually("the editor shows the file", || async {
            let value = browser
                .find("#editor")
                .await
                .prop("value")
                .await
                .ok()
                .flatten();
            value.filter(|v| v.contains("durring"))
        })
        .await;
    browser
        .find("#validate")
        .await
        .click()
        .await
        .expect("validates");
    let expected = validate_lines(files.path(), "sim.yaml");
    assert!(!expected.is_empty());
    let shown = browser
        .eventually("the located problems", || async {
            let mut lines = Vec::new();
            for li in browser.all("#problems li").await {
                lines.push(li.text().await.unwrap_or_default());
            }
            (!lines.is_empty()).then_some(lines)
        })
        .await;
    assert_eq!(
        shown, expected,
        "the UI locates problems as `broadside validate` does"
    );
    browser.screenshot("editor-problem").await;

    // The fix, validated and saved as a new version.
    let editor = browser.find("#editor").await;
    editor.clear().await.expect("clears");
    editor
        .send_keys(&sim(&base, "/json", 20, 30, false))
        .await
        .expect("types the fix");
    browser
        .find("#validate")
        .await
        .click()
        .await
        .expect("validates");
    browser.find("#problems.valid").await;
    browser.find("#save").await.click().await.expect("saves");
    let client = cluster.client();
    cluster
        .eventually("version 2 of sim.yaml", || async {
            let files = client.files("web", &Default::default()).await.ok()?;
            files
                .items
                .iter()
                .any(|f| f.path == "sim.yaml" && f.version == 2)
                .then_some(())
        })
        .await;

    // Submit with parallelism 2: the live view opens and its numbers move.
    web.goto(&format!("{ui}/#/projects/web/submit"))
        .await
        .expect("navigates");
    browser
        .eventually("the simulation offered", || async {
            let options = browser.all("#simulation option").await;
            (!options.is_empty()).then_some(())
        })
        .await;
    let parallelism = browser.find("#parallelism").await;
    parallelism.clear().await.expect("clears");
    parallelism.send_keys("2").await.expect("types");
    browser.screenshot("submit").await;
    let clicked = Instant::now();
    browser
        .find("#submit")
        .await
        .click()
        .await
        .expect("submits");
    let job: u64 = browser
        .eventually("the live view of the new job", || async {
            let url = web.current_url().await.ok()?;
            url.fragment()?.strip_prefix("/jobs/")?.parse().ok()
        })
        .await;
    browser
        .eventually("the first live numbers", || async {
            (number(&browser.text("#total-count").await) > 0).then_some(())
        })
        .await;
    let first_update = clicked.elapsed();
    browser.screenshot("live").await;

    // The leader dies; the live view, served by a follower, keeps moving.
    let before = number(&browser.text("#total-count").await);
    cluster.kill(leader);
    let killed = Instant::now();
    let mut samples = vec![(Duration::ZERO, before)];
    let mut statuses = Vec::new();
    while killed.elapsed() < Duration::from_secs(6) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        samples.push((
            killed.elapsed(),
            number(&browser.text("#total-count").await),
        ));
        statuses.push(browser.text("#stream-status").await);
    }
    let moved = samples.last().map(|s| s.1).unwrap_or(0);
    assert!(
        moved > before,
        "the live view stopped at the kill: {samples:?}"
    );
    let longest_still = samples
        .windows(2)
        .fold((Duration::ZERO, Duration::ZERO), |(longest, since), w| {
            if w[1].1 == w[0].1 {
                let still = since + (w[1].0 - w[0].0);
                (longest.max(still), still)
            } else {
                (longest, Duration::ZERO)
            }
        })
        .0;
    // The page's own master goes away and comes back (a restart, a laptop asleep): the stream
    // reconnects, and its first event carries everything again, counted once.
    cluster.restart(leader).await;
    cluster.kill(follower);
    let gone = Instant::now();
    let away = browser
        .eventually("the page noticing its master is gone", || async {
            let status = browser.text("#stream-status").await;
            (status != "live").then_some(status)
        })
        .await;
    let noticed = gone.elapsed();
    browser.screenshot("live-reconnecting").await;
    cluster.start_master(follower);
    let back = Instant::now();
    browser
        .eventually("the stream live again", || async {
            (browser.text("#stream-status").await == "live").then_some(())
        })
        .await;
    let reconnected = back.elapsed();
    browser
        .eventually("the job completed in the live view", || async {
            (browser.text("#job-state").await == "completed").then_some(())
        })
        .await;
    let done = finished(&cluster, &client, job).await;
    assert_eq!(done.reassignments, 0, "{done:?}");
    let reported = result(&client, job).await.requests();
    let shown_total = browser
        .eventually("the live total settles on the report's", || async {
            let shown = number(&browser.text("#total-count").await);
            (shown == reported).then_some(shown)
        })
        .await;
    browser.screenshot("live-completed").await;
    println!(
        "UI figures: submit click → first live numbers {:.2} s; leader {leader} killed with \
         {before} requests shown, {moved} shown 6 s later, longest still {:.2} s, stream \
         status seen {:?}; the page's master {follower} killed: {away:?} shown after {:.2} s, \
         live again {:.2} s after its restart; final total {shown_total} = report {reported}",
        first_update.as_secs_f64(),
        longest_still.as_secs_f64(),
        statuses.iter().collect::<std::collections::BTreeSet<_>>(),
        noticed.as_secs_f64(),
        reconnected.as_secs_f64(),
    );

    no_policy_violations(web).await;

    // The report opens.
    let report = browser
        .find("#report-link")
        .await
        .attr("href")
        .await
        .ok()
        .flatten()
        .expect("a report link");
    web.goto(&if report.starts_with("http") {
        report
    } else {
        format!("{ui}{report}")
    })
    .await
    .expect("opens the report");
    let source = web.source().await.expect("the report's source");
    assert!(
        source.contains("web") && source.contains("home"),
        "{source:.300}"
    );
    browser.screenshot("report").await;

    // A worse run: the same request failing. Compared in the UI and by the CLI.
    std::fs::write(
        files.path().join("bad.yaml"),
        sim(&base, "/status/500", 10, 2, false),
    )
    .expect("writes");
    client
        .upload(
            "web",
            "bad.yaml",
            std::fs::read(files.path().join("bad.yaml")).expect("reads"),
            None,
            None,
        )
        .await
        .expect("uploads");
    let worse = client
        .submit("web", &Submission::new("bad.yaml"), None)
        .await
        .expect("submits")
        .id;
    finished(&cluster, &client, worse).await;
    web.goto(&format!(
        "{ui}/#/compare/web?baseline={job}&candidate={worse}"
    ))
    .await
    .expect("navigates");
    watch_policy_violations(web).await;
    browser
        .find("#compare-table tr[data-name=\"home\"].regression")
        .await;
    let verdict = browser.text("#verdict").await;
    assert!(verdict.contains("regression"), "{verdict}");
    browser.screenshot("compare").await;
    let compare = |baseline: u64, candidate: u64| {
        command(
            &cluster,
            &["compare", &baseline.to_string(), &candidate.to_string()],
        )
    };
    let regressed = compare(job, worse);
    assert_eq!(regressed.status.code(), Some(1), "{}", text(&regressed));
    assert!(
        text(&regressed).contains("regression: home: errors rose"),
        "{}",
        text(&regressed)
    );
    let same = compare(job, job);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));

    // The history lists both runs with their reports.
    web.goto(&format!("{ui}/#/projects/web/history"))
        .await
        .expect("navigates");
    for id in [job, worse] {
        browser
            .find(&format!("#history-table tr[data-job-id=\"{id}\"]"))
            .await;
    }
    browser.screenshot("history").await;

    // The live view at a phone's width.
    web.set_window_size(390, 844).await.expect("resizes");
    web.goto(&format!("{ui}/#/jobs/{job}"))
        .await
        .expect("navigates");
    browser
        .eventually("the finished job at phone width", || async {
            (browser.text("#job-state").await == "completed").then_some(())
        })
        .await;
    browser.screenshot("live-phone").await;
    web.set_window_size(1280, 800).await.expect("resizes");

    no_policy_violations(web).await;

    // Signing out forgets the session.
    browser
        .find("#sign-out")
        .await
        .click()
        .await
        .expect("signs out");
    browser.find("#sign-in-form").await;
    let status: serde_json::Value = web
        .execute_async(
            "const done = arguments[0]; fetch('/api/v1/session').then(r => done(r.status));",
            vec![],
        )
        .await
        .expect("runs");
    assert_eq!(status, 401);
    assert!(
        web.find(Locator::Css("#sign-out")).await.is_err() || {
            !browser
                .find("#sign-out")
                .await
                .is_displayed()
                .await
                .unwrap_or(false)
        }
    );
    println!("screenshots: {}", screenshots().display());
    browser.close().await;
}
