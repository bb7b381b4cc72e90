//! Real `broadside` processes on loopback, for process-level tests and benchmarks.
//!
//! A [`Cluster`] starts masters (each with its own data directory and log file under one
//! temporary directory), finds the leader through the REST API, kills a master with SIGKILL
//! and restarts it on the same ports and data; it adds workers and kills, pauses ([`signal`]
//! `STOP`/`CONT`) or drains (SIGTERM) them. Every wait polls with a deadline; when a check
//! fails, [`Cluster::logs`] gives every process's log to print. Processes are killed on drop.
//!
//! The cluster port speaks TLS as in production: the cluster gets a CA of its own
//! ([`Cluster::ca_pem`]), every master a certificate for its node id and every worker one for
//! its name (`w1`, `w2`, … which is then its worker id), written under `DIR/pki`.
//!
//! The binary's path is given by the caller (`env!("CARGO_BIN_EXE_broadside")` in the CLI
//! package's tests and benchmarks).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use broadside_client::api::WorkerState;
use broadside_client::Client;
use broadside_rpc::transport::DIAL_MAP_ENV;

pub mod browser;
pub mod proxy;

pub use proxy::{LinkState, Proxy};

/// The built-in target in this process, on an ephemeral loopback port.
pub async fn target() -> broadside_target::TargetHandle {
    broadside_target::Target::spawn(broadside_target::TargetConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        tls: false,
    })
    .await
    .expect("the built-in target starts")
}

/// Set (to anything) to keep every cluster's data directories and logs after the run; their
/// path is printed when the cluster starts.
pub const KEEP_ENV: &str = "BROADSIDE_KEEP_CLUSTER";

/// Upper bound of any single wait.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub use broadside_master::Timings;

/// `n` distinct free loopback addresses: all bound at once (so the system cannot hand the
/// same port out twice), read, then released for the processes to bind.
pub fn free_addrs(n: usize) -> Vec<SocketAddr> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("bound address"))
        .collect()
}

/// One master process.
#[derive(Debug)]
pub struct Master {
    /// Raft id.
    pub id: u64,
    /// REST address.
    pub http: SocketAddr,
    /// Raft/worker tarpc address.
    pub raft: SocketAddr,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Master {
    /// Whether the process runs (was started and not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn spawn(&mut self, binary: &Path) {
        self.child = Some(spawn(binary, &self.args, &self.env, &self.log));
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One worker process.
#[derive(Debug)]
pub struct Worker {
    /// Index (1-based) in the cluster's workers.
    pub index: usize,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Worker {
    /// Whether the process runs.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// Sends `signal` (e.g. `STOP`, `CONT`, `TERM`) to process `pid`.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Polls `probe` every `interval` until it yields a value; `None` after [`PATIENCE`].
pub async fn poll<T, F, Fut>(interval: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(interval).await;
    }
}

/// Sends `signal` to every process of the group `pgid`, quietly (the group may be gone).
pub fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([format!("-{signal}"), "--".to_owned(), format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

/// Masters and workers of one cluster.
#[derive(Debug)]
pub struct Cluster {
    binary: PathBuf,
    dir: tempfile::TempDir,
    /// The masters, by id order (id = index + 1).
    pub masters: Vec<Master>,
    /// The workers, in the order they were added.
    pub workers: Vec<Worker>,
    /// Proxies by `(dialling process, master id)`, when started with links.
    links: Option<BTreeMap<(Peer, u64), Proxy>>,
    /// Flags given to every master.
    master_flags: Vec<String>,
    /// The cluster's admin token (every master is given it in `--admin-token-file`).
    admin_token: String,
    /// Every master accepted the admin token once (see [`Cluster::leader`]).
    token_seen: std::sync::atomic::AtomicBool,
    /// The cluster's CA.
    ca: broadside_pki::Ca,
    /// The REST API speaks HTTPS (with the masters' certificates, valid for 127.0.0.1).
    rest_tls: bool,
    /// The cluster port speaks TLS (the default; [`Cluster::start_plain`] turns it off).
    tls: bool,
}

/// Makes the cluster CA and writes its certificate to `DIR/pki/ca.pem`.
fn cluster_ca(dir: &Path) -> broadside_pki::Ca {
    let ca = broadside_pki::Ca::init("harness").expect("a cluster CA");
    std::fs::create_dir_all(dir.join("pki")).expect("pki dir");
    std::fs::write(dir.join("pki/ca.pem"), ca.cert_pem()).expect("ca.pem");
    ca
}

/// Removes the `--ca-cert`, `--cert` and `--key` flags (and their values) from `args`.
fn strip_identity_flags(args: &mut Vec<String>) {
    let mut out = Vec::with_capacity(args.len());
    let mut it = std::mem::take(args).into_iter();
    while let Some(a) = it.next() {
        if matches!(a.as_str(), "--ca-cert" | "--cert" | "--key") {
            it.next();
        } else {
            out.push(a);
        }
    }
    *args = out;
}

/// Issues a certificate for `who` (also valid for 127.0.0.1) into `DIR/pki` and returns the
/// flags that give it (with the CA) to a process.
fn identity_flags(
    dir: &Path,
    ca: &broadside_pki::Ca,
    who: &broadside_pki::Identity,
) -> Vec<String> {
    let loopback = broadside_pki::SubjectName::Ip([127, 0, 0, 1].into());
    let issued = ca
        .issue(who, &[loopback], broadside_pki::DEFAULT_VALIDITY)
        .expect("a certificate");
    let stem = dir.join("pki").join(who.file_stem());
    let (cert, key) = (stem.with_extension("pem"), stem.with_extension("key"));
    std::fs::write(&cert, &issued.cert_pem).expect("certificate file");
    std::fs::write(&key, &issued.key_pem).expect("key file");
    [
        "--ca-cert".to_owned(),
        dir.join("pki/ca.pem").display().to_string(),
        "--cert".to_owned(),
        cert.display().to_string(),
        "--key".to_owned(),
        key.display().to_string(),
    ]
    .into()
}

/// A process of the cluster, for links.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Peer {
    /// Master by id.
    Master(u64),
    /// Worker by index (1-based).
    Worker(usize),
}

impl Cluster {
    /// Starts `n` masters (ids 1..=n) that initialise one cluster, with these timings.
    pub fn start(binary: &Path, n: u64, timings: &Timings) -> Cluster {
        Self::start_with_flags(binary, n, timings, &[])
    }

    /// [`Cluster::start`], every master also given `flags` (e.g. `-v` for debug logs).
    pub fn start_with_flags(binary: &Path, n: u64, timings: &Timings, flags: &[&str]) -> Cluster {
        let mut cluster = Self::prepare(binary, n, timings, flags);
        cluster.spawn_masters();
        cluster
    }

    /// [`Cluster::start`] with the cluster port in plain TCP (no certificates anywhere): the
    /// reference the benchmarks compare TLS with.
    pub fn start_plain(binary: &Path, n: u64, timings: &Timings) -> Cluster {
        let mut cluster = Self::prepare(binary, n, timings, &[]);
        cluster.tls = false;
        for m in &mut cluster.masters {
            strip_identity_flags(&mut m.args);
        }
        cluster.spawn_masters();
        cluster
    }

    /// [`Cluster::start`] with the REST API over HTTPS too: every master serves it with its
    /// certificate (`--tls-cert`, `--tls-key`), and [`Cluster::client`] and
    /// [`Cluster::rest_urls`] use `https://` and trust the cluster CA.
    pub fn start_with_rest_tls(binary: &Path, n: u64, timings: &Timings) -> Cluster {
        let mut cluster = Self::prepare(binary, n, timings, &[]);
        cluster.rest_tls = true;
        for m in &mut cluster.masters {
            let stem = cluster
                .dir
                .path()
                .join("pki")
                .join(format!("master-{}", m.id));
            m.args.extend([
                "--tls-cert".to_owned(),
                stem.with_extension("pem").display().to_string(),
                "--tls-key".to_owned(),
                stem.with_extension("key").display().to_string(),
            ]);
        }
        cluster.spawn_masters();
        cluster
    }

    /// Starts every master process.
    fn spawn_masters(&mut self) {
        for m in &mut self.masters {
            m.spawn(&self.binary);
        }
    }

    /// [`Cluster::start`], with a fault-injecting [`Proxy`] on every master→master link (and
    /// on every worker→master link of workers added later): see [`Cluster::isolate`].
    pub async fn start_with_links(binary: &Path, n: u64, timings: &Timings) -> Cluster {
        // The proxies' ports are bound before the masters' are chosen, so that no proxy can
        // take a port a master is about to listen on.
        let mut spare = Vec::new();
        for _ in 0..n * (n - 1) {
            spare.push(
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind proxy"),
            );
        }
        let mut cluster = Self::prepare(binary, n, timings, &[]);
        cluster.links = Some(BTreeMap::new());
        for i in 1..=n {
            let map = cluster.dial_map(Peer::Master(i), &mut spare).await;
            cluster.masters[i as usize - 1].env = map;
        }
        cluster.spawn_masters();
        cluster
    }

    /// Proxies from `from` to every other master (on `spare` listeners first), as a dial map
    /// for its environment.
    async fn dial_map(
        &mut self,
        from: Peer,
        spare: &mut Vec<tokio::net::TcpListener>,
    ) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        let targets: Vec<(u64, SocketAddr)> = self
            .masters
            .iter()
            .filter(|m| from != Peer::Master(m.id))
            .map(|m| (m.id, m.raft))
            .collect();
        for (id, raft) in targets {
            let proxy = match spare.pop() {
                Some(listener) => Proxy::start_on(listener, raft),
                None => Proxy::start(raft).await,
            };
            pairs.push(format!("{raft}={}", proxy.listen));
            if let Some(links) = &mut self.links {
                links.insert((from, id), proxy);
            }
        }
        vec![(DIAL_MAP_ENV.to_owned(), pairs.join(","))]
    }

    /// Cuts every link of `who`: to and from it for a master, from it for a worker (a
    /// partition of one). Needs [`Cluster::start_with_links`].
    pub fn isolate(&self, who: Peer) {
        for ((from, to), proxy) in self.links.iter().flatten() {
            if *from == who || Peer::Master(*to) == who {
                proxy.set(LinkState::Cut);
            }
        }
    }

    /// Sets the link from `from` to master `to`.
    pub fn set_link(&self, from: Peer, to: u64, state: LinkState) {
        if let Some(proxy) = self.links.as_ref().and_then(|l| l.get(&(from, to))) {
            proxy.set(state);
        }
    }

    /// Heals every link.
    pub fn heal(&self) {
        for proxy in self.links.iter().flat_map(|l| l.values()) {
            proxy.set(LinkState::Pass);
        }
    }

    fn prepare(binary: &Path, n: u64, timings: &Timings, flags: &[&str]) -> Cluster {
        let mut dir = tempfile::tempdir().expect("temp dir");
        if std::env::var_os(KEEP_ENV).is_some() {
            dir.disable_cleanup(true);
            eprintln!("cluster data and logs kept in {}", dir.path().display());
        }
        // Raft and HTTP addresses of every master, distinct.
        let addrs = free_addrs(2 * n as usize);
        let (raft, http) = addrs.split_at(n as usize);
        let (raft, http) = (raft.to_vec(), http.to_vec());
        let peers = raft
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}={a}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let admin_token = broadside_master::generate_token();
        let token_file = dir.path().join("admin-token");
        std::fs::write(&token_file, format!("{admin_token}\n")).expect("admin token file");
        let mut master_flags = timings.to_flags();
        master_flags.extend([
            "--admin-token-file".to_owned(),
            token_file.display().to_string(),
        ]);
        master_flags.extend(flags.iter().map(|f| (*f).to_owned()));
        let ca = cluster_ca(dir.path());
        let masters = (1..=n)
            .map(|id| {
                let i = id as usize - 1;
                let mut flags = master_flags.clone();
                flags.extend(identity_flags(
                    dir.path(),
                    &ca,
                    &broadside_pki::Identity::Master(id),
                ));
                master(dir.path(), id, raft[i], http[i], Some(&peers), &flags)
            })
            .collect();
        Cluster {
            binary: binary.to_owned(),
            dir,
            masters,
            workers: Vec::new(),
            links: None,
            master_flags,
            admin_token,
            token_seen: std::sync::atomic::AtomicBool::new(false),
            ca,
            rest_tls: false,
            tls: true,
        }
    }

    /// Issues `who` a new certificate (a new key too) over its files, as a renewal does; the
    /// process holding it reads it again by itself. Returns the new certificate (PEM).
    pub fn renew_certificate(&self, who: &broadside_pki::Identity) -> String {
        identity_flags(self.dir.path(), &self.ca, who);
        let stem = self.dir.path().join("pki").join(who.file_stem());
        std::fs::read_to_string(stem.with_extension("pem")).expect("the renewed certificate")
    }

    /// The flags giving a process of this cluster its certificate (none in plain mode).
    fn identity_flags(&self, who: &broadside_pki::Identity) -> Vec<String> {
        if self.tls {
            identity_flags(self.dir.path(), &self.ca, who)
        } else {
            Vec::new()
        }
    }

    /// Where the REST API of master `id` is: `http://` or `https://` address.
    pub fn rest_url(&self, id: u64) -> String {
        let scheme = if self.rest_tls { "https" } else { "http" };
        format!("{scheme}://{}", self.master(id).http)
    }

    /// [`Cluster::rest_url`] of every master.
    pub fn rest_urls(&self) -> Vec<String> {
        self.masters.iter().map(|m| self.rest_url(m.id)).collect()
    }

    /// A client of `urls` with the admin token, trusting the cluster CA for HTTPS.
    fn client_for(&self, urls: Vec<String>) -> Client {
        let client = Client::new(urls).with_token(&self.admin_token);
        if self.rest_tls {
            client
                .with_ca_cert(self.ca.cert_pem())
                .expect("the CA loads")
        } else {
            client
        }
    }

    /// The cluster CA's certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        self.ca.cert_pem()
    }

    /// The cluster CA, to issue certificates of any identity (e.g. a non-member master's).
    pub fn ca(&self) -> &broadside_pki::Ca {
        &self.ca
    }

    /// Starts a new master (the next id) that belongs to no cluster yet, and asks the cluster
    /// to add it (`POST /cluster/members`: it joins as a learner, catches up, becomes a voter);
    /// returns its id once the membership includes it. Its links are not proxied.
    pub async fn add_master(&mut self) -> u64 {
        let id = self.masters.len() as u64 + 1;
        let addrs = free_addrs(2);
        let mut flags = self.master_flags.clone();
        flags.extend(self.identity_flags(&broadside_pki::Identity::Master(id)));
        let mut new = master(self.dir.path(), id, addrs[0], addrs[1], None, &flags);
        new.spawn(&self.binary);
        self.masters.push(new);
        let raft = addrs[0].to_string();
        let client = self.client();
        self.eventually(&format!("master {id} to join"), || async {
            match client.add_member(id, &raft).await {
                Ok(_) => Some(()),
                // Already added by an earlier try whose answer was lost.
                Err(broadside_client::ClientError::Api { status: 409, .. }) => Some(()),
                Err(_) => None,
            }
        })
        .await;
        id
    }

    /// Removes master `id` from the cluster (`DELETE /cluster/members/{id}`), then kills it.
    pub async fn remove_master(&mut self, id: u64) {
        let client = self.client();
        self.eventually(&format!("master {id} to be removed"), || async {
            match client.remove_member(id).await {
                Ok(_) | Err(broadside_client::ClientError::Api { status: 404, .. }) => Some(()),
                Err(_) => None,
            }
        })
        .await;
        self.kill(id);
    }

    /// The id of worker `index`: the name its certificate gives it (`w1`, `w2`, …), or for a
    /// worker that joined with a join token the one the masters bound (once it joined).
    pub fn worker_id(&self, index: usize) -> Option<String> {
        let worker = self.workers.get(index.checked_sub(1)?)?;
        if worker.args.iter().any(|a| a == "--join-token") {
            let file = self.dir.path().join(format!("w{index}/worker-credential"));
            let stored: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()?;
            return stored["worker_id"].as_str().map(str::to_owned);
        }
        Some(format!("w{index}"))
    }

    /// How worker `index` exited, once it did by itself (`None` while it runs).
    pub fn worker_exit(&mut self, index: usize) -> Option<std::process::ExitStatus> {
        let child = self.workers.get_mut(index - 1)?.child.as_mut()?;
        child.try_wait().ok().flatten()
    }

    /// The temporary directory holding data and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Master `id`.
    pub fn master(&self, id: u64) -> &Master {
        &self.masters[id as usize - 1]
    }

    /// REST addresses of every master.
    pub fn http_addrs(&self) -> Vec<SocketAddr> {
        self.masters.iter().map(|m| m.http).collect()
    }

    /// A client of every master.
    pub fn client(&self) -> Client {
        self.client_for(self.rest_urls())
    }

    /// A client of master `id` alone, with the admin token.
    pub fn client_of(&self, id: u64) -> Client {
        self.client_for(vec![self.rest_url(id)])
    }

    /// The cluster's admin token (`bst_…`).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The leader as master `id` sees it, if it answers and knows one.
    pub async fn leader_seen_by(&self, id: u64) -> Option<u64> {
        let client = self.client_of(id).with_timeout(Duration::from_secs(2));
        client.cluster(true).await.ok()?.leader
    }

    /// Waits until a running master names a leader that is running too; returns its id. The
    /// first call also waits until every running master accepts the admin token (a fresh
    /// cluster commits it a moment after electing its leader).
    pub async fn leader(&self) -> u64 {
        use std::sync::atomic::Ordering;
        if !self.token_seen.load(Ordering::Relaxed) {
            for m in self.masters.iter().filter(|m| m.is_running()) {
                let one = self.client_of(m.id).with_timeout(Duration::from_secs(2));
                self.eventually(
                    &format!("master {} to accept the admin token", m.id),
                    || async { one.whoami().await.ok().map(drop) },
                )
                .await;
            }
            self.token_seen.store(true, Ordering::Relaxed);
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            for m in self.masters.iter().filter(|m| m.is_running()) {
                if let Some(id) = self.leader_seen_by(m.id).await {
                    if self.master(id).is_running() {
                        return id;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no leader elected within {PATIENCE:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills master `id` with SIGKILL.
    pub fn kill(&mut self, id: u64) {
        self.masters[id as usize - 1].kill();
    }

    /// Starts master `id` again on its ports and data, without waiting for anything.
    pub fn start_master(&mut self, id: u64) {
        let binary = self.binary.clone();
        self.masters[id as usize - 1].spawn(&binary);
    }

    /// Starts master `id` again on its ports and data, and waits until it knows a leader.
    pub async fn restart(&mut self, id: u64) {
        self.start_master(id);
        let deadline = Instant::now() + PATIENCE;
        while self.leader_seen_by(id).await.is_none() {
            assert!(
                Instant::now() < deadline,
                "master {id} did not rejoin\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts a worker of `pool` with `slots` slots (and `extra` flags); returns its index.
    pub async fn add_worker(&mut self, pool: &str, slots: u32, extra: &[&str]) -> usize {
        let index = self.workers.len() + 1;
        let identity = self.identity_flags(&broadside_pki::Identity::Worker(format!("w{index}")));
        self.spawn_worker(pool, slots, identity, extra).await
    }

    /// Starts a worker of `pool` with `slots` slots that holds no certificate and joins with
    /// `join_token` (TLS clusters); returns its index. Its id is the one it makes itself.
    pub async fn add_worker_joining(&mut self, pool: &str, slots: u32, join_token: &str) -> usize {
        let identity = vec![
            "--ca-cert".to_owned(),
            self.dir.path().join("pki/ca.pem").display().to_string(),
            "--join-token".to_owned(),
            join_token.to_owned(),
        ];
        self.spawn_worker(pool, slots, identity, &[]).await
    }

    async fn spawn_worker(
        &mut self,
        pool: &str,
        slots: u32,
        identity: Vec<String>,
        extra: &[&str],
    ) -> usize {
        let index = self.workers.len() + 1;
        let masters = self
            .masters
            .iter()
            .map(|m| m.raft.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let mut args: Vec<String> = vec![
            "worker".into(),
            "--masters".into(),
            masters,
            "--pool".into(),
            pool.into(),
            "--slots".into(),
            slots.to_string(),
            "--data".into(),
            self.dir
                .path()
                .join(format!("w{index}"))
                .display()
                .to_string(),
        ];
        args.extend(identity);
        args.extend(extra.iter().map(|a| a.to_string()));
        let log = self.dir.path().join(format!("w{index}.log"));
        let env = if self.links.is_some() {
            self.dial_map(Peer::Worker(index), &mut Vec::new()).await
        } else {
            Vec::new()
        };
        let child = Some(spawn(&self.binary, &args, &env, &log));
        self.workers.push(Worker {
            index,
            args,
            env,
            log,
            child,
        });
        index
    }

    /// Starts worker `index` again (same id, cache and flags) after it was killed or stopped.
    pub fn restart_worker(&mut self, index: usize) {
        let w = &mut self.workers[index - 1];
        if w.child.is_none() {
            w.child = Some(spawn(&self.binary, &w.args, &w.env, &w.log));
        }
    }

    /// Polls `probe` every 50 ms until it yields a value; fails (with every process's log)
    /// after [`PATIENCE`].
    pub async fn eventually<T, F, Fut>(&self, what: &str, probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        match poll(Duration::from_millis(50), probe).await {
            Some(v) => v,
            None => panic!("timed out waiting for {what}\n{}", self.logs()),
        }
    }

    /// Waits until `n` workers are registered alive.
    pub async fn wait_for_workers(&self, n: usize) {
        let client = self.client();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let alive = client.workers().await.ok().map(|workers| {
                workers
                    .iter()
                    .filter(|w| w.state == WorkerState::Alive)
                    .count()
            });
            if alive == Some(n) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{n} workers did not register (alive: {alive:?})\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Worker `index` (1-based).
    pub fn worker(&self, index: usize) -> &Worker {
        &self.workers[index - 1]
    }

    /// Kills worker `index` with SIGKILL.
    pub fn kill_worker(&mut self, index: usize) {
        if let Some(mut child) = self.workers[index - 1].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM to worker `index` and waits (up to [`PATIENCE`]) for it to exit; returns
    /// its exit code.
    pub async fn stop_worker(&mut self, index: usize) -> Option<i32> {
        let mut child = self.workers[index - 1].child.take()?;
        signal(child.id(), "TERM");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("worker {index} did not exit after SIGTERM\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The logs of every master and worker, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let logs = self
            .masters
            .iter()
            .map(|m| (format!("master {}", m.id), &m.log))
            .chain(
                self.workers
                    .iter()
                    .map(|w| (format!("worker {}", w.index), &w.log)),
            );
        for (who, log) in logs {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            out.push_str(&format!("---- {who} ({}) ----\n", log.display()));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

/// Master `id`'s process description (`peers`: the initial members, for a founding master).
fn master(
    dir: &Path,
    id: u64,
    raft: SocketAddr,
    http: SocketAddr,
    peers: Option<&str>,
    extra: &[String],
) -> Master {
    let mut args: Vec<String> = vec![
        "master".into(),
        "--id".into(),
        id.to_string(),
        "--listen-raft".into(),
        raft.to_string(),
        "--listen-http".into(),
        http.to_string(),
        "--data".into(),
        dir.join(format!("m{id}")).display().to_string(),
    ];
    if let Some(peers) = peers {
        args.extend(["--peers".into(), peers.to_owned()]);
    }
    args.extend(extra.iter().cloned());
    Master {
        id,
        http,
        raft,
        args,
        env: Vec::new(),
        log: dir.join(format!("m{id}.log")),
        child: None,
    }
}

fn spawn(binary: &Path, args: &[String], env: &[(String, String)], log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    Command::new(binary)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start broadside")
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 1..=self.workers.len() {
            // A stopped worker must be continued to die.
            if let Some(pid) = self.workers[i - 1].pid() {
                let _ = Command::new("kill")
                    .args(["-CONT", &pid.to_string()])
                    .status();
            }
            self.kill_worker(i);
        }
        for m in &mut self.masters {
            m.kill();
        }
    }
}
