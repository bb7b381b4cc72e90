//! The real binary, run as a user runs it: exit codes, located errors, written reports.

use std::path::Path;
use std::process::{Command, Output};

use broadside_harness::target;

fn broadside(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_broadside"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn simulation(base: &str, assertion: &str) -> String {
    format!(
        r#"
name: cli
http:
  base_url: "{base}"
scenarios:
  - name: s
    injection:
      - at_once: 5
    steps:
      - request:
          name: home
          url: /
assertions:
  - {assertion}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_code_follows_the_assertions_and_reports_are_written() {
    let t = target().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pass.yaml"),
        simulation(&t.base_url(), "{ metric: count, eq: 5 }"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("fail.yaml"),
        simulation(&t.base_url(), "{ metric: count, gt: 5 }"),
    )
    .unwrap();

    let ok = broadside(
        &["run", "pass.yaml", "--quiet", "--out", "report"],
        dir.path(),
    );
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    for file in ["summary.json", "index.html", "junit.xml"] {
        assert!(
            dir.path().join("report").join(file).is_file(),
            "{file} written"
        );
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["schema_version"], 1);

    let failed = broadside(
        &["run", "fail.yaml", "--quiet", "--out", "failed"],
        dir.path(),
    );
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    let junit = std::fs::read_to_string(dir.path().join("failed/junit.xml")).unwrap();
    assert!(junit.contains("<failure"), "{junit}");
    assert_eq!(t.stats().snapshot().by_path.get("/").copied(), Some(10));
    t.shutdown().await.expect("target stops");
}

#[test]
fn bad_input_is_located_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "name: bad\nscenarios:\n  - name: s\n    injection: [ { at_once: 1 } ]\n    steps:\n      - request: { url: /, methd: GET }\n",
    )
    .unwrap();
    for command in ["validate", "run"] {
        let out = broadside(&[command, "bad.yaml"], dir.path());
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let msg = text(&out);
        assert!(msg.contains("bad.yaml:6:"), "located: {msg}");
        assert!(msg.contains("methd"), "names the key: {msg}");
    }
    let missing = broadside(&["run", "nope.yaml"], dir.path());
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing).contains("nope.yaml"));
}

#[test]
fn validate_accepts_the_examples_and_schema_is_json() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "json") {
            let out = broadside(&["validate", path.to_str().unwrap()], root);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}: {}",
                path.display(),
                text(&out)
            );
        }
    }
    let schema = broadside(&["schema"], root);
    let value: serde_json::Value = serde_json::from_slice(&schema.stdout).expect("schema is JSON");
    assert!(value["properties"]["scenarios"].is_object(), "{value}");
}

#[test]
fn remote_targets_are_refused_by_default() {
    let dir = tempfile::tempdir().unwrap();
    // 192.0.2.0/24 is reserved for documentation: nothing is ever sent there, the policy
    // refuses it before connecting.
    std::fs::write(
        dir.path().join("remote.yaml"),
        simulation("http://192.0.2.1:9", "{ metric: failed_count, eq: 0 }"),
    )
    .unwrap();
    let out = broadside(&["run", "remote.yaml", "--quiet"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("address not allowed"), "{}", text(&out));
}

#[test]
fn master_refuses_an_inconsistent_configuration_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = broadside(
        &[
            "master",
            "--id",
            "4",
            "--listen-raft",
            "127.0.0.1:0",
            "--listen-http",
            "127.0.0.1:0",
            "--peers",
            "1=127.0.0.1:7001,2=127.0.0.1:7002",
            "--data",
            "data",
            "--lease",
            "2s",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("lease (2000 ms)"), "{t}");
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created before validation"
    );

    let missing = broadside(&["master", "--id", "1"], dir.path());
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing).contains("--listen-raft is required"),
        "{}",
        text(&missing)
    );
}

#[test]
fn master_config_file_errors_are_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("master.yaml"),
        "id: 1\nlisten-raft: 127.0.0.1:0\nlisten-htp: 127.0.0.1:0\n",
    )
    .unwrap();
    let out = broadside(&["master", "--config", "master.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("master.yaml:3:1"), "{t}");
    assert!(t.contains("listen-htp"), "{t}");
}

/// `broadside certs`: a cluster CA, then certificates that chain to it and name their holders;
/// keys are private to their owner; nothing is overwritten without `--force`; bad input is a
/// clear error.
#[test]
fn certs_init_and_issue_write_a_working_cluster_pki() {
    use std::os::unix::fs::PermissionsExt as _;

    use broadside_pki::{first_cert_der, verify, Identity};
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let certs_arg = certs.to_str().unwrap();
    let ok = |args: &[&str]| {
        let out = broadside(args, dir.path());
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        text(&out)
    };
    ok(&["certs", "init", "--dir", certs_arg, "--cluster", "test"]);
    ok(&[
        "certs",
        "issue",
        "master",
        "1",
        "--dir",
        certs_arg,
        "--ip",
        "127.0.0.1",
        "--dns",
        "m1.example",
    ]);
    let said = ok(&["certs", "issue", "worker", "w1", "--dir", certs_arg]);
    assert!(said.contains("w1.workers.broadside.internal"), "{said}");
    let read = |name: &str| std::fs::read_to_string(certs.join(name)).unwrap();
    let ca = first_cert_der(&read("ca.pem"), "ca").unwrap();
    let now = std::time::SystemTime::now();
    let master = first_cert_der(&read("master-1.pem"), "master").unwrap();
    verify(&ca, &master, &Identity::Master(1), now).expect("master 1's certificate");
    let worker = first_cert_der(&read("worker-w1.pem"), "worker").unwrap();
    verify(&ca, &worker, &Identity::Worker("w1".into()), now).expect("worker w1's certificate");
    assert!(verify(&ca, &worker, &Identity::Master(1), now).is_err());
    for key in ["ca.key", "master-1.key", "worker-w1.key"] {
        let mode = std::fs::metadata(certs.join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    // Nothing is replaced by accident.
    let before = read("ca.pem");
    let again = broadside(&["certs", "init", "--dir", certs_arg], dir.path());
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again).contains("pass --force"), "{}", text(&again));
    assert_eq!(read("ca.pem"), before);
    // Bad input says what is wrong.
    for (args, says) in [
        (
            vec!["certs", "issue", "worker", "Bad.Name", "--dir", certs_arg],
            "invalid worker name",
        ),
        (
            vec!["certs", "issue", "master", "0", "--dir", certs_arg],
            "invalid master id",
        ),
        (
            vec!["certs", "issue", "client", "ci", "--dir", "nowhere"],
            "certs init --dir nowhere",
        ),
    ] {
        let out = broadside(&args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }
}
