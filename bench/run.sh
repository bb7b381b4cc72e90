#!/usr/bin/env bash
# Benchmarks of the engine against the built-in target, all on loopback, release build.
# Prints figures and ratios against references measured in the same run:
#   1. CPU time (user+sys) per request: broadside run vs wrk vs oha, keep-alive GET /.
#   2. Open model: achieved vs planned arrival rate at 5,000 users/s for 30 s.
#   3. Memory: RSS per idle virtual user (closed model, users parked in a long pause),
#      slope between 1,000 and 20,000 users.
# Every load is bounded in count and time. Usage: bench/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
REQUESTS=${REQUESTS:-200000}
ROUNDS=${ROUNDS:-3}
CONC=${CONC:-50}
OPEN_RATE=${OPEN_RATE:-5000}
OPEN_SECS=${OPEN_SECS:-30}
if [ $QUICK = 1 ]; then REQUESTS=20000; OPEN_SECS=5; ROUNDS=1; fi
PORT=${PORT:-18088}
BASE="http://127.0.0.1:$PORT"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
if ! need oha; then
  echo "installing oha (cargo install oha) ..." >&2
  cargo install oha --locked --quiet
fi

cargo build --release -p broadside --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/broadside
WORK=$(mktemp -d)
trap 'kill $TARGET_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$BIN" target --listen "127.0.0.1:$PORT" >"$WORK/target.log" 2>&1 &
TARGET_PID=$!
for _ in $(seq 100); do curl -fs "$BASE/" >/dev/null 2>&1 && break; sleep 0.1; done

# cpu_of CMD... : runs CMD, prints "user+sys seconds" of CMD and its children.
cpu_of() {
  /usr/bin/env python3 - "$@" <<'PY'
import os, resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=open(os.environ.get("OUT", "/dev/null"), "w"), stderr=subprocess.STDOUT)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{r.ru_utime + r.ru_stime:.3f}")
PY
}

echo "== 1. CPU per request (keep-alive GET /, $CONC connections, median of $ROUNDS interleaved rounds)"
PER_USER=$((REQUESTS / CONC))
cat >"$WORK/cpu.yaml" <<YAML
name: cpu-per-request
http: { base_url: "$BASE" }
scenarios:
  - name: s
    injection: [ { at_once: $CONC } ]
    steps:
      - repeat: { times: $PER_USER, steps: [ { request: { name: home, url: / } } ] }
YAML
: >"$WORK/cpu.tsv"
for round in $(seq "$ROUNDS"); do
  cpu=$(OUT="$WORK/bs.txt" cpu_of "$BIN" run "$WORK/cpu.yaml" --quiet --out "$WORK/cpu-report")
  n=$(python3 -c "import json;d=json.load(open('$WORK/cpu-report/summary.json'));print(sum(r['ok']+r['ko'] for r in d['stats']['requests'].values()))")
  echo "broadside $cpu $n" >>"$WORK/cpu.tsv"
  secs=$(python3 -c "print(max(2, round($n / 50000)))")
  cpu=$(OUT="$WORK/wrk.txt" cpu_of wrk -t1 -c"$CONC" -d"${secs}s" "$BASE/")
  echo "wrk $cpu $(awk '/requests in/ {print $1}' "$WORK/wrk.txt")" >>"$WORK/cpu.tsv"
  cpu=$(OUT="$WORK/oha.txt" cpu_of oha -n "$REQUESTS" -c "$CONC" --no-tui "$BASE/")
  echo "oha $cpu $REQUESTS" >>"$WORK/cpu.tsv"
done
python3 - "$WORK/cpu.tsv" <<'PY'
import statistics, sys
per = {}
for line in open(sys.argv[1]):
    tool, cpu, n = line.split()
    per.setdefault(tool, []).append(float(cpu) / float(n) * 1e6)
med = {t: statistics.median(v) for t, v in per.items()}
for t, v in per.items():
    print(f"{t:10s} median {med[t]:6.2f} us/request (rounds: {', '.join(f'{x:.2f}' for x in v)})")
print(f"ratio broadside/wrk = {med['broadside'] / med['wrk']:.2f} (target <= 1.2), "
      f"broadside/oha = {med['broadside'] / med['oha']:.2f} (target <= 0.5)")
PY

echo "== 2. Open model: $OPEN_RATE users/s for ${OPEN_SECS}s"
cat >"$WORK/open.yaml" <<YAML
name: open-rate
http: { base_url: "$BASE" }
scenarios:
  - name: s
    injection: [ { constant_users_per_sec: { rate: $OPEN_RATE, during: ${OPEN_SECS}s } } ]
    steps: [ { request: { name: home, url: / } } ]
YAML
curl -fs -X POST "$BASE/stats/reset" >/dev/null
"$BIN" run "$WORK/open.yaml" --quiet --out "$WORK/open-report" >"$WORK/open.txt"
python3 - <<PY
import json
d = json.load(open("$WORK/open-report/summary.json"))
series = d["stats"]["series"]
full = [s for s in series if 1 <= s["second"] < $OPEN_SECS]      # whole seconds inside the window
rates = [s["users_started"] for s in full]
planned = $OPEN_RATE
achieved = sum(rates) / len(rates)
total = d["stats"]["users_started"]
target = json.load(__import__("urllib.request").request.urlopen("$BASE/stats"))["total"]
ok = sum(r["ok"] for r in d["stats"]["requests"].values())
ko = sum(r["ko"] for r in d["stats"]["requests"].values())
print(f"planned {planned}/s, achieved {achieved:.1f}/s over whole seconds 1..{$OPEN_SECS - 1} "
      f"(min {min(rates)}, max {max(rates)}), ratio {achieved / planned:.4f}; "
      f"users {total} (planned {planned * $OPEN_SECS}), requests ok {ok} ko {ko}, target received {target}")
if d["stats"]["errors"]:
    print(f"errors: {d['stats']['errors']}")
PY

echo "== 3. Memory per idle virtual user"
rss_for() {
  local users=$1
  cat >"$WORK/mem-$users.yaml" <<YAML
name: idle-users
max_duration: 6s
scenarios:
  - name: s
    injection: [ { at_once: $users } ]
    steps: [ { pause: 60s } ]
YAML
  "$BIN" run "$WORK/mem-$users.yaml" --quiet >/dev/null 2>&1 &
  local pid=$!
  sleep 4
  local rss
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  wait $pid || true
  echo "$rss"
}
R1=$(rss_for 1000)
R2=$(rss_for 20000)
python3 -c "print(f'RSS 1,000 users: {$R1} KiB; 20,000 users: {$R2} KiB; slope {($R2 - $R1) / 19000:.2f} KiB/user (target <= 8)')"
