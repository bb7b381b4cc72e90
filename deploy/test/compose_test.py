#!/usr/bin/env python3
"""The deployment test: deploy/compose/compose.yaml on real containers, on a private Docker
network this test creates, with jobs against the built-in target (its attribution counters
tell what each attempt sent):

0. the README's first job: `broadside submit deploy/compose/first-job.yaml` from the host;
1. the leader's container killed: the job completes, every request counted once, no task moved;
2. a worker's network cut for 20 s: its task resumes on another worker, the attempts do not
   overlap at the target, and reconnecting it sends no more load;
3. a rolling restart of the masters, then a rolling replacement of their image tag: the job
   completes;
4. `down` then `up` with the volumes kept: projects, files and jobs intact on every master;
5. workers scaled from 2 to 4 while a job runs: the next job's tasks go to the new ones;

and the procedures of docs/operations.md, as written there:

6. backup of a stopped follower's data directory; later every master's disk lost and the copy
   restored into each: the state as copied, the cluster ready, a job completes;
7. growing to 5 masters (4 and 5 added one at a time), then killing two at once: writes go on;
8. replacing a master whose disk is lost: removed, an empty one added in its place.

For each step it prints the longest time without an accepted write and the job's counts. It
removes every container, network, volume and image tag it made, even on failure.

    deploy/test/compose_test.py [--binary target/debug/broadside] [--seconds 60]

Python's standard library only; needs docker and docker compose (or docker-compose).
"""

import argparse
import io
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPOSE_FILE = os.path.join(ROOT, "deploy", "compose", "compose.yaml")
PATIENCE = 120.0
# Masters 1–3 form the cluster; 4 and 5 (compose profile `more-masters`) join when added.
MASTERS = (1, 2, 3, 4, 5)


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(args, check=True, env=None, capture=True):
    done = subprocess.run(
        args, env=env, check=False, text=True,
        stdout=subprocess.PIPE if capture else None, stderr=subprocess.STDOUT if capture else None,
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}")
    return done.stdout or ""


def container_file(container, path):
    """A file's text from a container (the image has no shell and no `cat`: `docker cp` to a
    tar stream)."""
    done = subprocess.run(["docker", "cp", f"{container}:{path}", "-"], capture_output=True)
    if done.returncode != 0:
        return ""
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
        member = tar.next()
        return tar.extractfile(member).read().decode() if member else ""


def compose_command():
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(what, probe, patience=PATIENCE, interval=0.5):
    deadline = time.monotonic() + patience
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


class Deployment:
    """One compose project: its own network, volumes and containers."""

    def __init__(self, image, binary):
        self.binary = binary
        self.project = f"bsdeploy{os.getpid()}"
        self.compose = compose_command()
        self.ports = {n: free_port() for n in MASTERS}
        self.env = dict(os.environ)
        self.env.update({
            "BROADSIDE_IMAGE": image,
            "COMPOSE_PROJECT_NAME": self.project,
            **{f"BROADSIDE_API_PORT_{n}": str(p) for n, p in self.ports.items()},
        })
        self.ca = None
        self.token = None
        self.dir = tempfile.mkdtemp(prefix="bsdeploy")
        # Every volume its containers mounted: the anonymous ones (workers' data) carry no
        # project label, and `down` without -v or `rm` leave them behind.
        self.volumes = set()

    def run(self, *args, check=True):
        self.note_volumes()
        return run([*self.compose, "-p", self.project, "-f", COMPOSE_FILE, *args],
                   check=check, env=self.env)

    def note_volumes(self):
        ids = run(["docker", "ps", "-aq", "--filter",
                   f"label=com.docker.compose.project={self.project}"], check=False).split()
        if ids:
            self.volumes.update(run(["docker", "inspect", "-f",
                                     '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} '
                                     '{{end}}{{end}}', *ids], check=False).split())

    def containers(self, service):
        return self.run("ps", "-q", service).split()

    def up(self, workers):
        self.run("up", "-d", "--scale", f"worker={workers}")
        if self.ca is None:
            master = self.containers("master-1")[0]
            ca = os.path.join(self.dir, "ca.pem")
            run(["docker", "cp", f"{master}:/etc/broadside/ca.pem", ca])
            token = os.path.join(self.dir, "admin-token")
            run(["docker", "cp", f"{master}:/etc/broadside/admin-token", token])
            self.ca = ssl.create_default_context(cafile=ca)
            self.token = open(token).read().strip()

    def up_until_ready(self, workers):
        """`up`, then the seconds until masters 1–3 answer `/readyz`."""
        started = time.monotonic()
        self.up(workers)
        for m in (1, 2, 3):
            eventually(f"master {m} ready after up", lambda: self.ready(m))
        return time.monotonic() - started

    def down(self, volumes):
        # With the profile of masters 4 and 5, which `down` leaves running otherwise.
        self.run("--profile", "more-masters", "down", "--remove-orphans",
                 *(["-v"] if volumes else []), check=False)

    # The API, through the masters' published ports.

    def call(self, method, path, master, body=None, raw=None, timeout=5.0, prefix="/api/v1"):
        url = f"https://localhost:{self.ports[master]}{prefix}{path}"
        data, headers = None, {"Authorization": f"Bearer {self.token}"}
        if raw is not None:
            data, headers["Content-Type"] = raw, "application/octet-stream"
        elif body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, context=self.ca, timeout=timeout) as answer:
                text = answer.read()
                is_json = "json" in (answer.headers.get("Content-Type") or "")
                return answer.status, (json.loads(text) if text and is_json else None)
        except urllib.error.HTTPError as e:
            return e.code, None
        except (urllib.error.URLError, OSError, TimeoutError):
            return None, None

    def api(self, method, path, body=None, raw=None, masters=(1, 2, 3)):
        """The first answer of any master in `masters` that is not a 5xx or unreachable."""
        for master in masters:
            status, answer = self.call(method, path, master, body, raw)
            if status is not None and status < 500:
                if status >= 400:
                    raise RuntimeError(f"{method} {path}: {status}")
                return answer
        raise RuntimeError(f"{method} {path}: no master answered")

    def ready(self, master):
        status, _ = self.call("GET", "/readyz", master, prefix="")
        return status == 200

    def leader(self):
        for master in MASTERS:
            status, view = self.call("GET", "/cluster?probe=false", master)
            if status == 200 and view.get("leader"):
                return view["leader"]
        return None

    def cli(self, *args):
        """`broadside ARGS` from the host, on masters 1–4 through their published ports."""
        masters = ",".join(f"https://localhost:{self.ports[m]}" for m in (1, 2, 3, 4))
        return run([self.binary, *args, "--master", masters,
                    "--ca-cert", os.path.join(self.dir, "ca.pem"),
                    "--token-file", os.path.join(self.dir, "admin-token")])

    def voters(self, master):
        """The voters as `master` sees them, once it knows a leader."""
        status, view = self.call("GET", "/cluster?probe=false", master)
        if status != 200 or not view.get("leader"):
            return None
        return sorted(m["id"] for m in view["members"] if m["voter"])

    def state(self, master):
        """What `master` holds, read through the leader: project names and job ids."""
        projects = self.call("GET", "/projects?limit=1000&consistent=true", master)[1]
        jobs = self.call("GET", "/projects/deploy/jobs?limit=1000&consistent=true", master)[1]
        if projects is None or jobs is None:
            return None
        return (sorted(p["name"] for p in projects["items"]),
                [j["id"] for j in jobs["items"]])

    def same_state(self, m, other):
        """Asserts that masters `m` and `other` read the same state (both answering)."""
        a, b = (eventually(f"master {n}'s state", lambda: self.state(n)) for n in (m, other))
        assert a == b, f"master {m} differs from master {other}: {a} != {b}"

    def container_of(self, service):
        ids = self.containers(service)
        return ids[0] if ids else None

    def network(self):
        return f"{self.project}_default"

    def target_stats(self):
        target = self.container_of("target")
        address = run(["docker", "inspect", "-f",
                       "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", target]).strip()
        with urllib.request.urlopen(f"http://{address}:8088/stats", timeout=5) as answer:
            return json.loads(answer.read())

    def sent_by(self, job):
        """What the target received from each attempt of `job`: attribution → stats."""
        prefix = f"{job}-"
        stats = self.target_stats().get("by_attribution", {})
        return {k: v for k, v in stats.items() if k.startswith(prefix)}

    # Jobs.

    def submit(self, name, seconds, rate, parallelism, reassign="distinct_worker"):
        if not self.project_exists():
            self.api("POST", "/projects", {"name": "deploy"})
        simulation = (
            f"name: {name}\nhttp:\n  base_url: http://target:8088\nscenarios:\n  - name: s\n"
            f"    injection:\n      - constant_users_per_sec: {{ rate: {rate}, during: {seconds}s }}\n"
            f"    steps:\n      - request: {{ name: home, url: /json }}\n"
        )
        self.api("PUT", f"/projects/deploy/files/{name}.yaml", raw=simulation.encode())
        job = self.api("POST", "/projects/deploy/jobs", {
            "simulation": f"{name}.yaml", "parallelism": parallelism, "reassign_to": reassign,
            "start": {"timeout": "120s", "on_timeout": "fail"},
        })
        return job["id"]

    def project_exists(self):
        try:
            self.api("GET", "/projects/deploy")
            return True
        except RuntimeError:
            return False

    def job(self, job):
        return self.api("GET", f"/jobs/{job}")

    def tasks(self, job):
        return self.api("GET", f"/jobs/{job}/tasks?limit=1000")["items"]

    def finished(self, job, patience=PATIENCE + 120):
        return eventually(f"job {job} to finish",
                          lambda: (lambda j: j if j["state"] in ("completed", "failed", "aborted")
                                   else None)(self.job(job)), patience)

    def counted(self, job):
        """The job's report once it counts every request the target received from it."""
        def probe():
            received = sum(a["count"] for a in self.sent_by(job).values())
            report = self.api("GET", f"/jobs/{job}/result")
            counted = report["requests"]["all"]["count"]
            return (received, report) if counted == received else None
        return eventually(f"job {job}'s report to count every request received", probe)


class Writer:
    """Writes (a project each, never the same name twice) every 100 ms through the masters;
    the longest time between two accepted writes is what a fault cost."""

    written = 0

    def __init__(self, deployment, masters):
        self.deployment, self.masters = deployment, masters
        self.accepted, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while not self.stop.is_set():
            Writer.written += 1
            n = Writer.written
            for master in self.masters():
                status, _ = self.deployment.call(
                    "POST", "/projects", master, {"name": f"w{os.getpid()}-{n}"}, timeout=2.0)
                if status == 201:
                    self.accepted.append(time.monotonic())
                    break
            time.sleep(0.1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        self.thread.join()

    def longest_gap(self):
        times = self.accepted
        assert len(times) >= 2, f"only {len(times)} write(s) accepted"
        return max(b - a for a, b in zip(times, times[1:]))


class Usage:
    """The peak memory and CPU of each kind of container (master, worker, target), sampled
    with `docker stats` every few seconds while the test runs: the figures behind the
    resource requests of deploy/kubernetes."""

    def __init__(self, project):
        self.project, self.peak = project, {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        units = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "kB": 1e3, "MB": 1e6, "GB": 1e9}
        while not self.stop.wait(2.0):
            out = run(["docker", "stats", "--no-stream", "--format",
                       "{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}"], check=False)
            for line in out.splitlines():
                parts = line.split("\t")
                if len(parts) != 3 or not parts[0].startswith(self.project):
                    continue
                service = re.sub(r"[-_]\d+$", "", parts[0][len(self.project) + 1:])
                kind = "master" if service.startswith("master") else service
                used = parts[2].split("/")[0].strip()
                number = used.rstrip("KMGiBk")
                try:
                    memory = float(number) * units[used[len(number):]]
                    cpu = float(parts[1].rstrip("%"))
                except (ValueError, KeyError):
                    continue
                m, c = self.peak.get(kind, (0, 0))
                self.peak[kind] = (max(m, memory), max(c, cpu))

    def start(self):
        self.thread.start()

    def finish(self):
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()

    def summary(self):
        return "; ".join(f"{kind}: memory peak {m / 2**20:.0f} MiB, CPU peak {c:.0f} % of a core"
                         for kind, (m, c) in sorted(self.peak.items()))


def report(step, job, deployment, gap=None):
    received, summary = deployment.counted(job)
    details = deployment.job(job)
    attempts = sorted(deployment.sent_by(job))
    writes = "" if gap is None else f", longest time without an accepted write {gap:.2f} s"
    log(f"{step}: job {job} {details['state']}, {summary['requests']['all']['count']} requests "
        f"reported = {received} received, {details['reassignments']} reassignment(s), "
        f"attempts {attempts}{writes}")
    return details


def step_first_job(d):
    """The README's first job, as written there: `broadside submit` from the host through one
    master's published port (exit 0: completed and every assertion passed)."""
    started = time.monotonic()
    out = run([d.binary, "submit", os.path.join(ROOT, "deploy", "compose", "first-job.yaml"),
               "--parallelism", "2", "--wait", "--master", f"https://localhost:{d.ports[1]}",
               "--ca-cert", os.path.join(d.dir, "ca.pem"),
               "--token-file", os.path.join(d.dir, "admin-token")])
    last = [line for line in out.splitlines() if line.strip()][-3:]
    log(f"0. the README's `broadside submit` of deploy/compose/first-job.yaml: exit 0 after "
        f"{time.monotonic() - started:.1f} s; {' | '.join(last)}")


def step_leader_killed(d, seconds):
    job = d.submit("leader-killed", seconds, 10, 2)
    eventually("the job running", lambda: d.job(job)["state"] == "running")
    time.sleep(5)
    leader = d.leader()
    container = d.container_of(f"master-{leader}")
    others = [m for m in (1, 2, 3) if m != leader]
    with Writer(d, lambda: others) as writes:
        time.sleep(2)
        run(["docker", "kill", container])
        killed = time.monotonic()
        eventually("a new leader", lambda: d.leader() not in (None, leader))
        time.sleep(3)
    gap = writes.longest_gap()
    run(["docker", "start", container])
    details = d.finished(job)
    assert details["state"] == "completed", details
    assert details["reassignments"] == 0, details
    report("1. leader container killed", job, d, gap)
    eventually("the old leader ready again", lambda: d.ready(leader))
    return time.monotonic() - killed


def step_worker_cut_off(d, seconds):
    job = d.submit("worker-cut", seconds, 10, 1)
    eventually("the job running", lambda: d.job(job)["state"] == "running")
    time.sleep(5)
    worker = d.tasks(job)[0]["worker_id"]
    container = next(c for c in d.containers("worker")
                     if container_file(c, "/var/lib/broadside/worker-id").strip()
                     == worker.split("@")[0])
    run(["docker", "network", "disconnect", d.network(), container])
    with Writer(d, lambda: (1, 2, 3)) as writes:
        time.sleep(20)
    run(["docker", "network", "connect", d.network(), container])
    time.sleep(5)
    cut_off = d.sent_by(job).get(f"{job}-0-1", {}).get("count")
    details = d.finished(job)
    assert details["state"] == "completed", details
    sent = d.sent_by(job)
    first, second = sent.get(f"{job}-0-1"), sent.get(f"{job}-0-2")
    assert first and second, f"two attempts expected: {sorted(sent)}"
    assert first["last_unix_ms"] < second["first_unix_ms"], (
        f"attempts overlap: 1 until {first['last_unix_ms']}, 2 from {second['first_unix_ms']}")
    assert first["count"] == cut_off, "the reconnected worker sent load again"
    report("2. worker cut off 20 s", job, d, writes.longest_gap())


def step_rolling(d, seconds, image_b):
    job = d.submit("rolling", seconds, 10, 2)
    eventually("the job running", lambda: d.job(job)["state"] == "running")
    with Writer(d, lambda: (1, 2, 3)) as writes:
        for master in (1, 2, 3):
            d.run("restart", f"master-{master}")
            eventually(f"master {master} ready after its restart", lambda: d.ready(master))
        d.env["BROADSIDE_IMAGE"] = image_b
        for master in (1, 2, 3):
            d.run("up", "-d", "--no-deps", f"master-{master}")
            eventually(f"master {master} ready on the new image", lambda: d.ready(master))
    details = d.finished(job)
    assert details["state"] == "completed", details
    report("3. rolling restart, then rolling image replacement", job, d, writes.longest_gap())


def step_down_up(d, workers):
    before = {m: (d.call("GET", "/projects?limit=1000", m)[1],
                  d.call("GET", "/projects/deploy/files", m)[1],
                  d.call("GET", "/projects/deploy/jobs?limit=1000", m)[1]) for m in (1, 2, 3)}
    d.down(volumes=False)
    ready = d.up_until_ready(workers)
    for m in (1, 2, 3):
        after = eventually(f"master {m}'s state", lambda: (
            lambda p, f, j: (p, f, j) if None not in (p, f, j) else None)(
            d.call("GET", "/projects?limit=1000&consistent=true", m)[1],
            d.call("GET", "/projects/deploy/files", m)[1],
            d.call("GET", "/projects/deploy/jobs?limit=1000", m)[1]))
        names = lambda page: sorted(p["name"] for p in page["items"])
        assert names(after[0]) == names(before[1][0]), f"master {m}: projects differ"
        assert after[1]["items"] == before[1][1]["items"], f"master {m}: files differ"
        assert [j["id"] for j in after[2]["items"]] == [j["id"] for j in before[1][2]["items"]]
    log(f"4. down and up, volumes kept: every master has the {len(before[1][0]['items'])} "
        f"projects, {len(before[1][1]['items'])} files and {len(before[1][2]['items'])} jobs; "
        f"ready {ready:.1f} s after up")


def step_scale(d, seconds):
    old = set(d.containers("worker"))
    running = d.submit("scale-running", seconds, 10, 2)
    eventually("the job running", lambda: d.job(running)["state"] == "running")
    d.run("up", "-d", "--no-recreate", "--scale", "worker=4")
    new = set(d.containers("worker")) - old
    assert len(new) == 2, new
    eventually("4 workers alive", lambda: len([w for w in d.api("GET", "/workers")["items"]
                                               if w["state"] == "alive"]) >= 4)
    following = d.submit("scale-next", 10, 10, 2)
    details = d.finished(following)
    assert details["state"] == "completed", details
    workers = {t["worker_id"] for t in d.tasks(following)}
    busy = {t["worker_id"] for t in d.tasks(running)}
    assert not workers & busy, f"the next job ran on the busy workers {workers & busy}"
    report("5. workers scaled 2 → 4 mid-run: the next job ran on the new ones", following, d)
    d.finished(running)


def step_backup_restore(d, workers):
    """docs/operations.md#backup-and-restore, as written: a follower stopped, its data
    directory copied, started again; later the cluster is lost and the copy restored into
    every master."""
    leader = eventually("a leader", d.leader)
    follower = next(m for m in (1, 2, 3) if m != leader)
    backed_up = d.state(leader)
    # The copy holds what the follower applied: wait until that is everything the leader has.
    def applied(m):
        status, view = d.call("GET", "/cluster?probe=false", m)
        return view["node"]["applied_index"] if status == 200 else None
    eventually(f"master {follower} caught up", lambda: (
        lambda f, l: f is not None and l is not None and f >= l)(applied(follower),
                                                                applied(leader)))
    container = d.container_of(f"master-{follower}")  # `ps` lists running containers only
    d.run("stop", f"master-{follower}")
    copy = subprocess.run(["docker", "cp", f"{container}:/var/lib/broadside", "-"],
                          capture_output=True, check=True).stdout
    d.run("start", f"master-{follower}")
    eventually(f"master {follower} ready after the copy", lambda: d.ready(follower))
    d.api("POST", "/projects", {"name": "after-the-backup"})
    # Every master's disk is lost; the copy goes into new, empty volumes, through a container
    # that is created and never started (the image has no shell or tar).
    d.run("down")
    for m in (1, 2, 3):
        volume = f"{d.project}_master-{m}"
        run(["docker", "volume", "rm", volume])
        run(["docker", "volume", "create", "--label", f"com.docker.compose.project={d.project}",
             "--label", f"com.docker.compose.volume=master-{m}", volume])
        holder = run(["docker", "create", "--label", f"com.docker.compose.project={d.project}",
                      "-v", f"{volume}:/var/lib/broadside", d.env["BROADSIDE_IMAGE"]]).strip()
        try:
            subprocess.run(["docker", "cp", "-", f"{holder}:/var/lib"], input=copy,
                           capture_output=True, check=True)
        finally:
            run(["docker", "rm", holder])
    ready = d.up_until_ready(workers)
    for m in (1, 2, 3):
        restored = eventually(f"master {m}'s state", lambda: d.state(m))
        assert restored == backed_up, f"master {m}: {restored} != the copy's {backed_up}"
    job = d.submit("after-restore", 10, 10, 2)
    details = d.finished(job)
    assert details["state"] == "completed", details
    log(f"6. backup of a stopped follower ({len(copy) / 1e6:.1f} MB), restored into every "
        f"master: {len(backed_up[0])} projects and {len(backed_up[1])} jobs as copied, the "
        f"project made after the copy gone; ready {ready:.1f} s after up; job {job} completed")


def add_master(d, m):
    d.run("up", "-d", "--no-deps", f"master-{m}")
    # The answer comes once the new master has caught up and votes.
    added = time.monotonic()
    d.cli("cluster", "add", str(m), f"master-{m}:7001")
    eventually(f"master {m} ready", lambda: d.ready(m))
    return time.monotonic() - added


def step_grow(d):
    """docs/operations.md#growing-from-3-to-5-masters: masters 4 and 5 added one at a time,
    then two masters killed at once: the five keep accepting writes."""
    with Writer(d, lambda: MASTERS) as writes:
        took = [add_master(d, m) for m in (4, 5)]
    for m in MASTERS:
        eventually(f"master {m} to see five voters", lambda: d.voters(m) == list(MASTERS))
        d.same_state(m, 1)
    gap = writes.longest_gap()
    killed = [d.container_of("master-1"), d.container_of("master-2")]
    with Writer(d, lambda: (3, 4, 5)) as survivors:
        time.sleep(2)
        run(["docker", "kill", *killed])
        gone = time.monotonic()
        time.sleep(10)
    run(["docker", "start", *killed])
    after = [t for t in survivors.accepted if t > gone]
    # Three of five vote: a leader among them within an election or two, and writes go on.
    assert len(after) >= 10, f"only {len(after)} writes accepted in the 10 s after the kill"
    assert survivors.longest_gap() < 8.0, f"writes stopped for {survivors.longest_gap():.1f} s"
    for m in (1, 2):
        eventually(f"master {m} ready again", lambda: d.ready(m))
    log(f"7. grown to 5 masters (adding 4: {took[0]:.1f} s, 5: {took[1]:.1f} s; longest time "
        f"without an accepted write {gap:.2f} s); masters 1 and 2 killed together: "
        f"{len(survivors.accepted)} writes accepted in 10 s, longest gap "
        f"{survivors.longest_gap():.2f} s")


def step_replace(d):
    """docs/operations.md#replacing-a-failed-master: master 5's host and disk lost; it is
    removed, and a new master with an empty disk takes its place (as a StatefulSet pod does)."""
    with Writer(d, lambda: (1, 2, 3, 4)) as writes:
        d.run("rm", "-fs", "master-5")
        run(["docker", "volume", "rm", f"{d.project}_master-5"])
        d.cli("cluster", "remove", "5")
        eventually("four voters", lambda: d.voters(1) == [1, 2, 3, 4])
        took = add_master(d, 5)
    eventually("five voters again", lambda: d.voters(5) == list(MASTERS))
    d.same_state(5, 1)
    log(f"8. master 5 lost with its disk, removed, replaced by an empty one (caught up and "
        f"voting {took:.1f} s after it was added); longest time without an accepted write "
        f"{writes.longest_gap():.2f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "debug", "broadside"))
    parser.add_argument("--seconds", type=int, default=60, help="length of the long jobs")
    args = parser.parse_args()
    tag = f"broadside:deploy-test-{os.getpid()}"
    image_b = f"{tag}-b"
    log(f"image {tag} from {args.binary}")
    run([os.path.join(ROOT, "deploy", "docker", "build.sh"), args.binary, tag], capture=False)
    d = Deployment(tag, args.binary)
    usage = Usage(d.project)
    try:
        run(["docker", "tag", tag, image_b])
        started = time.monotonic()
        d.up(2)
        for m in (1, 2, 3):
            eventually(f"master {m} ready", lambda: d.ready(m))
        eventually("2 workers alive", lambda: len([w for w in d.api("GET", "/workers")["items"]
                                                   if w["state"] == "alive"]) == 2)
        log(f"up: 3 masters ready and 2 workers alive {time.monotonic() - started:.1f} s after "
            f"`up`")
        usage.start()
        step_first_job(d)
        step_leader_killed(d, args.seconds)
        step_worker_cut_off(d, args.seconds)
        step_rolling(d, args.seconds, image_b)
        step_down_up(d, 2)
        step_scale(d, args.seconds)
        step_backup_restore(d, 2)
        step_grow(d)
        step_replace(d)
        usage.finish()
        log(f"resources (docker stats every 2 s): {usage.summary()}")
        log("every step passed")
    finally:
        usage.finish()
        d.down(volumes=True)
        # Whatever `down` left: containers, then volumes and networks, then the image tags.
        label = f"label=com.docker.compose.project={d.project}"
        for kind, remove in ((["ps", "-a"], ["rm", "-f"]), (["volume", "ls"], ["volume", "rm", "-f"]),
                             (["network", "ls"], ["network", "rm"])):
            left = run(["docker", *kind, "-q", "--filter", label], check=False).split()
            if left:
                run(["docker", *remove, *left], check=False)
        existing = set(run(["docker", "volume", "ls", "-q"], check=False).split())
        if d.volumes & existing:
            run(["docker", "volume", "rm", "-f", *(d.volumes & existing)], check=False)
        run(["docker", "image", "rm", tag, image_b], check=False)
        shutil.rmtree(d.dir, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except (AssertionError, RuntimeError) as e:
        log(f"FAILED: {e}")
        sys.exit(1)
