#!/usr/bin/env bash
# Client-streaming and bidi throughput of two gRPC servers under the same
# load: the modes ../shared/bench/compare.sh lacks (it has unary and server
# streaming), run the same way. Both servers are started at once, pinned to
# SERVER_CPU (core 0); grpcx-interop's interop-load drives them in turn
# (A B A B ...) from CLIENT_CPU (core 1), the same client for both, so the
# difference is the servers'. Prints each round and, last, the median
# ratio of messages per second.
#
#   benches/scripts/compare_streams.sh OURS_CMD PEER_CMD
#
# OURS_CMD and PEER_CMD run a grpc.testing.TestService server, with
# `{port}` where the port goes, as for compare.sh. Knobs: MODE (client or
# bidi; default client), SIZE (bytes per message, 1024), COUNT (messages
# per call, 1000), STREAMS (calls at once, 1), DURATION (seconds per
# round, 4), ROUNDS (5), LOAD (the interop-load binary; cargo build
# --release -p grpcx-interop).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
OURS_CMD=${1:?usage: compare_streams.sh OURS_CMD PEER_CMD}
PEER_CMD=${2:?usage: compare_streams.sh OURS_CMD PEER_CMD}
MODE=${MODE:-client}
SIZE=${SIZE:-1024}
COUNT=${COUNT:-1000}
STREAMS=${STREAMS:-1}
DURATION=${DURATION:-4}
ROUNDS=${ROUNDS:-5}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
LOAD=${LOAD:-$here/../../target/release/interop-load}
[ -x "$LOAD" ] || { echo "no interop-load at $LOAD (cargo build --release -p grpcx-interop)" >&2; exit 1; }
case "$MODE" in client | bidi) ;; *) echo "MODE is client or bidi" >&2; exit 2 ;; esac

PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null' EXIT
start() { # cmd -> prints the port it listens on
  local port=$((10000 + RANDOM % 22000)) # below the ephemeral ports (32768 up) that h2load's connections take
  taskset -c "$SERVER_CPU" bash -c "exec ${1//\{port\}/$port}" >/dev/null 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
    sleep 0.1
  done
  echo "the server did not answer: $1" >&2
  exit 1
}
run() { # port [seconds] -> msgs/s of a clean run
  local out
  out=$(taskset -c "$CLIENT_CPU" "$LOAD" --port "$1" --mode "$MODE" --size "$SIZE" \
    --count "$COUNT" --streams "$STREAMS" --duration "${2:-$DURATION}") ||
    { echo "interop-load failed: $out" >&2; exit 1; }
  grep -q ' errors=0 ' <<<"$out" || { echo "errors: $out" >&2; exit 1; }
  sed -n 's/.* msgs\/s=\([0-9.]*\).*/\1/p' <<<"$out"
}

OURS_PORT=$(start "$OURS_CMD")
PEER_PORT=$(start "$PEER_CMD")
echo "load: interop-load --mode $MODE size=$SIZE count=$COUNT streams=$STREAMS ${DURATION}s; server cpu $SERVER_CPU, client cpu $CLIENT_CPU" >&2
run "$OURS_PORT" 1 >/dev/null # warm-up, not recorded
run "$PEER_PORT" 1 >/dev/null

RATIOS=()
for r in $(seq "$ROUNDS"); do
  a=$(run "$OURS_PORT")
  b=$(run "$PEER_PORT")
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.3f", a/b}')
  RATIOS+=("$ratio")
  printf 'round %d: ours %s msgs/s, peer %s msgs/s, ours/peer %s\n' "$r" "$a" "$b" "$ratio"
done
printf '%s\n' "${RATIOS[@]}" | sort -g |
  awk '{v[NR]=$1} END{printf "median ratio ours/peer: %s\n", (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'
