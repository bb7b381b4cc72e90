//! Three real `broadside master` processes: they form one cluster by themselves, answer the
//! API on every node (a write through one is read back through another), and survive a
//! SIGKILL of the leader without losing an acknowledged write; the killed master rejoins.

use std::path::Path;

use broadside_client::api::NewProject;
use broadside_client::Client;
use broadside_harness::{Cluster, Timings};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_broadside"))
}

fn new(name: &str) -> NewProject {
    NewProject {
        name: name.to_owned(),
        description: String::new(),
    }
}

async fn project(client: &Client, name: &str) {
    let created = client
        .create_project(&new(name), Some(&format!("create-{name}")))
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"));
    assert_eq!(created.name, name);
}

async fn exists_everywhere(cluster: &Cluster, name: &str) {
    for m in cluster.masters.iter().filter(|m| m.is_running()) {
        let one = cluster.client_of(m.id);
        let found = one
            .project(name)
            .await
            .unwrap_or_else(|e| panic!("{name} on master {}: {e}\n{}", m.id, cluster.logs()));
        assert_eq!(found.name, name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_processes_elect_replicate_and_survive_the_leader_being_killed() {
    let mut cluster = Cluster::start(binary(), 3, &Timings::fast());
    let leader = cluster.leader().await;
    let follower = cluster
        .masters
        .iter()
        .map(|m| m.id)
        .find(|id| *id != leader)
        .expect("a follower");

    // A write through a follower, read back through every master.
    project(&cluster.client_of(follower), "before").await;
    exists_everywhere(&cluster, "before").await;

    // The same idempotency key again: the first outcome, no second project.
    let again = cluster
        .client()
        .create_project(&new("before"), Some("create-before"))
        .await
        .expect("a retried write returns its first outcome");
    assert_eq!(again.name, "before");

    // `broadside health`: 0 for a ready master, 1 for a dead one (a container's health check).
    let health = |url: String, live: bool| {
        let mut command = std::process::Command::new(binary());
        command.args(["health", "--master", &url]);
        if live {
            command.arg("--live");
        }
        command.output().expect("health runs").status.code()
    };
    assert_eq!(health(cluster.rest_url(follower), false), Some(0));
    assert_eq!(health(cluster.rest_url(follower), true), Some(0));

    cluster.kill(leader);
    assert_eq!(health(cluster.rest_url(leader), false), Some(1));
    assert_eq!(health(cluster.rest_url(leader), true), Some(1));
    let new_leader = cluster.leader().await;
    assert_ne!(new_leader, leader);
    exists_everywhere(&cluster, "before").await;
    // The client moves past the dead master by itself.
    project(&cluster.client(), "after").await;

    cluster.restart(leader).await;
    exists_everywhere(&cluster, "before").await;
    exists_everywhere(&cluster, "after").await;

    let view = cluster.client().cluster(true).await.expect("cluster view");
    assert_eq!(view.members.len(), 3, "{view:?}");
}
