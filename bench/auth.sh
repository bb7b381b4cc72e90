#!/usr/bin/env bash
# The cost of checking a token on every request: requests/s of GET /api/v1/jobs/{id} on a
# one-master cluster that requires tokens, against the same on a master started with
# --insecure-no-auth (the reference), measured in the same run, rounds interleaved. Release
# build, loopback only, every load bounded in time (wrk -d). Usage: bench/auth.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${1:-10}
ROUNDS=${ROUNDS:-3}
CONN=${CONN:-32}
command -v wrk >/dev/null 2>&1 || {
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
}
cargo build --release -p broadside --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/broadside
WORK=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

cat >"$WORK/sim.yaml" <<'SIM'
name: auth-cost
http: { base_url: "http://127.0.0.1:9" }
scenarios:
  - name: s
    injection: [ { at_once: 1 } ]
    steps: [ { request: { url: / } } ]
SIM

# start NAME RAFT_PORT HTTP_PORT FLAGS...: a one-master cluster; prints its URL.
start() {
  local name=$1 raft=$2 http=$3
  shift 3
  "$BIN" master --id 1 --listen-raft "127.0.0.1:$raft" --listen-http "127.0.0.1:$http" \
    --peers "1=127.0.0.1:$raft" --data "$WORK/$name" "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 200); do curl -fs "http://127.0.0.1:$http/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
}

"$BIN" tokens generate >"$WORK/admin-token"
TOKEN=$(head -1 "$WORK/admin-token")
start auth 19701 19801 --admin-token-file "$WORK/admin-token"
start open 19702 19802 --insecure-no-auth
# The token is committed a moment after the election.
for _ in $(seq 200); do
  curl -fs -H "Authorization: Bearer $TOKEN" http://127.0.0.1:19801/api/v1/whoami >/dev/null 2>&1 && break
  sleep 0.1
done

job() { # URL [TOKEN]: submits the simulation (no worker: it stays queued); prints its id.
  BROADSIDE_TOKEN=${2:-} "$BIN" submit "$WORK/sim.yaml" --master "$1" --project bench -q |
    awk '/^job /{print $2; exit}'
}
AUTH_JOB=$(job http://127.0.0.1:19801 "$TOKEN")
OPEN_JOB=$(job http://127.0.0.1:19802)

rps() { # URL [HEADER]
  wrk -t1 -c"$CONN" -d"${SECS}s" ${2:+-H "$2"} "$1" | awk '/Requests\/sec/{print $2}'
}
printf 'GET /api/v1/jobs/{id}, wrk -t1 -c%s -d%ss, %s rounds\n' "$CONN" "$SECS" "$ROUNDS"
printf '%-6s %14s %14s %8s\n' round "no auth req/s" "token req/s" ratio
for r in $(seq "$ROUNDS"); do
  open=$(rps "http://127.0.0.1:19802/api/v1/jobs/$OPEN_JOB")
  auth=$(rps "http://127.0.0.1:19801/api/v1/jobs/$AUTH_JOB" "Authorization: Bearer $TOKEN")
  printf '%-6s %14s %14s %8.3f\n' "$r" "$open" "$auth" "$(echo "$auth / $open" | bc -l)"
done
