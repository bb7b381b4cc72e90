#!/usr/bin/env python3
"""The deployment test: deploy/compose/compose.yaml on real containers, on a private Docker
network this test creates, with jobs against the built-in target (its attribution counters
tell what each attempt sent):

1. the leader's container killed: the job completes, every request counted once, no task moved;
2. a worker's network cut for 20 s: its task resumes on another worker, the attempts do not
   overlap at the target, and reconnecting it sends no more load;
3. a rolling restart of the masters, then a rolling replacement of their image tag: the job
   completes;
4. `down` then `up` with the volumes kept: projects, files and jobs intact on every master;
5. workers scaled from 2 to 4 while a job runs: the next job's tasks go to the new ones.

For each step it prints the longest time without an accepted write and the job's counts. It
removes every container, network, volume and image tag it made, even on failure.

    deploy/test/compose_test.py [--binary target/debug/broadside] [--seconds 60]

Python's standard library only; needs docker and docker compose (or docker-compose).
"""

import argparse
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPOSE_FILE = os.path.join(ROOT, "deploy", "compose", "compose.yaml")
PATIENCE = 120.0


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

    def __init__(self, image):
        self.project = f"bsdeploy{os.getpid()}"
        self.compose = compose_command()
        self.ports = {n: free_port() for n in (1, 2, 3)}
        self.env = dict(os.environ)
        self.env.update({
            "BROADSIDE_IMAGE": image,
            "COMPOSE_PROJECT_NAME": self.project,
            **{f"BROADSIDE_API_PORT_{n}": str(p) for n, p in self.ports.items()},
        })
        self.ca = None
        self.token = None
        self.dir = tempfile.mkdtemp(prefix="bsdeploy")

    def run(self, *args, check=True):
        return run([*self.compose, "-p", self.project, "-f", COMPOSE_FILE, *args],
                   check=check, env=self.env)

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

    def down(self, volumes):
        self.run("down", "--remove-orphans", *(["-v"] if volumes else []), check=False)

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
        for master in (1, 2, 3):
            status, view = self.call("GET", "/cluster?probe=false", master)
            if status == 200 and view.get("leader"):
                return view["leader"]
        return None

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


def report(step, job, deployment, gap=None):
    received, summary = deployment.counted(job)
    details = deployment.job(job)
    attempts = sorted(deployment.sent_by(job))
    writes = "" if gap is None else f", longest time without an accepted write {gap:.2f} s"
    log(f"{step}: job {job} {details['state']}, {summary['requests']['all']['count']} requests "
        f"reported = {received} received, {details['reassignments']} reassignment(s), "
        f"attempts {attempts}{writes}")
    return details


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
                     if run(["docker", "exec", c, "cat", "/var/lib/broadside/worker-id"],
                            check=False).strip() == worker.split("@")[0])
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
    started = time.monotonic()
    d.up(workers)
    for m in (1, 2, 3):
        eventually(f"master {m} ready after up", lambda: d.ready(m))
    ready = time.monotonic() - started
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "debug", "broadside"))
    parser.add_argument("--seconds", type=int, default=60, help="length of the long jobs")
    args = parser.parse_args()
    tag = f"broadside:deploy-test-{os.getpid()}"
    image_b = f"{tag}-b"
    log(f"image {tag} from {args.binary}")
    run([os.path.join(ROOT, "deploy", "docker", "build.sh"), args.binary, tag], capture=False)
    run(["docker", "tag", tag, image_b])
    d = Deployment(tag)
    try:
        started = time.monotonic()
        d.up(2)
        for m in (1, 2, 3):
            eventually(f"master {m} ready", lambda: d.ready(m))
        eventually("2 workers alive", lambda: len([w for w in d.api("GET", "/workers")["items"]
                                                   if w["state"] == "alive"]) == 2)
        log(f"up: 3 masters ready and 2 workers alive {time.monotonic() - started:.1f} s after "
            f"`up`")
        step_leader_killed(d, args.seconds)
        step_worker_cut_off(d, args.seconds)
        step_rolling(d, args.seconds, image_b)
        step_down_up(d, 2)
        step_scale(d, args.seconds)
        log("every step passed")
    finally:
        d.down(volumes=True)
        run(["docker", "image", "rm", tag, image_b], check=False)
        leftovers = run(["docker", "ps", "-aq", "--filter", f"name={d.project}"], check=False)
        if leftovers.strip():
            run(["docker", "rm", "-f", *leftovers.split()], check=False)


if __name__ == "__main__":
    try:
        main()
    except (AssertionError, RuntimeError) as e:
        log(f"FAILED: {e}")
        sys.exit(1)
