#!/usr/bin/env bash
# Unary throughput and latency percentiles of two gRPC servers under the
# same h2load load: what ../shared/bench/compare.sh does for requests per
# second, with p50 and p99 as well (it reports no latency). The servers run
# in turn on SERVER_CPU (core 0), h2load on CLIENT_CPU (core 1), A B A B
# ..., each run after a warm-up of N/4 requests that is not measured.
# Prints each run and, last, the medians and the median ratios.
#
#   benches/scripts/compare_latency.sh OURS_CMD PEER_CMD
#
# OURS_CMD and PEER_CMD start a grpc.testing.TestService server, with
# `{port}` where the port goes, as for compare.sh. Knobs: N (requests per
# run, 200000), C (connections, 64), M (streams per connection, 100),
# ROUNDS (5), BODY (the framed request, ../shared/bench/mk_body.py;
# default its unary_64.bin). Latencies come from `h2load --log-file`,
# summarised by ../shared/bench/h2load_stats.py.
#
# Needs h2load (apt-get install nghttp2-client).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bench=$here/../../../shared/bench
OURS=${1:?usage: compare_latency.sh OURS_CMD PEER_CMD}
PEER=${2:?usage: compare_latency.sh OURS_CMD PEER_CMD}
N=${N:-200000}
C=${C:-64}
M=${M:-100}
ROUNDS=${ROUNDS:-5}
BODY=${BODY:-$bench/unary_64.bin}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
[ -f "$BODY" ] || { echo "no request body at $BODY (see $bench/mk_body.py)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/compare_latency.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT

# run NAME CMD: one measured run against a fresh server; prints
# "NAME rps p50_us p99_us".
run() {
  local port=$((10000 + RANDOM % 22000)) # below the ephemeral ports (32768 up) that h2load's connections take
  taskset -c "$SERVER_CPU" bash -c "exec ${2//\{port\}/$port}" >/dev/null 2>&1 &
  PID=$!
  local ready=
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && { ready=1; break; }
    sleep 0.05
  done
  [ -n "$ready" ] || { echo "$1: the server did not answer on port $port" >&2; exit 1; }
  local load=(h2load -c "$C" -m "$M" -d "$BODY" -H 'content-type: application/grpc'
    -H 'te: trailers' "http://127.0.0.1:$port/grpc.testing.TestService/UnaryCall")
  taskset -c "$CLIENT_CPU" "${load[@]}" -n $((N / 4)) >"$WORK/out" 2>&1 ||
    { echo "$1: the warm-up failed: $(tail -3 "$WORK/out")" >&2; exit 1; }
  rm -f "$WORK/log"
  taskset -c "$CLIENT_CPU" "${load[@]}" -n "$N" --log-file="$WORK/log" >"$WORK/out" 2>&1 ||
    { echo "$1: h2load failed: $(tail -3 "$WORK/out")" >&2; exit 1; }
  kill "$PID" 2>/dev/null
  wait "$PID" 2>/dev/null || true
  PID=
  local stats
  stats=$(python3 "$bench/h2load_stats.py" "$WORK/out" "$WORK/log")
  grep -q "succeeded=$N " <<<"$stats " || { echo "$1: not every request succeeded: $stats" >&2; exit 1; }
  local field
  printf '%s' "$1"
  for field in rps p50_us p99_us; do
    printf ' %s' "$(sed -n "s/.*\b$field=\([0-9.]*\).*/\1/p" <<<"$stats")"
  done
  echo
}

echo "load: h2load -n $N -c $C -m $M; server cpu $SERVER_CPU, client cpu $CLIENT_CPU" >&2
for round in $(seq "$ROUNDS"); do
  run ours "$OURS" | tee -a "$WORK/runs"
  run peer "$PEER" | tee -a "$WORK/runs"
done
python3 - "$WORK/runs" <<'EOF'
import statistics
import sys

runs = {"ours": [], "peer": []}
for line in open(sys.argv[1]):
    name, rps, p50, p99 = line.split()
    runs[name].append((float(rps), float(p50), float(p99)))
for i, what in enumerate(["req/s", "p50 us", "p99 us"]):
    ours = statistics.median(r[i] for r in runs["ours"])
    peer = statistics.median(r[i] for r in runs["peer"])
    ratios = [o[i] / p[i] for o, p in zip(runs["ours"], runs["peer"])]
    print(f"{what}: ours {ours:.0f}, peer {peer:.0f}, median ratio ours/peer {statistics.median(ratios):.3f}")
EOF
