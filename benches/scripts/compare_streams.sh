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
#
# DRIVER=h2load (client mode only) sends the calls with h2load instead:
# each call's body is COUNT framed messages of SIZE bytes, sent as fast as
# flow control allows, on CONNS connections (4) with STREAMS calls each
# (2 by default here), CALLS calls a round (2000). h2load costs far less
# than a gRPC client, so the servers, not the client, set the pace.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
OURS_CMD=${1:?usage: compare_streams.sh OURS_CMD PEER_CMD}
PEER_CMD=${2:?usage: compare_streams.sh OURS_CMD PEER_CMD}
MODE=${MODE:-client}
SIZE=${SIZE:-1024}
COUNT=${COUNT:-1000}
DRIVER=${DRIVER:-interop-load}
if [ "$DRIVER" = h2load ]; then STREAMS=${STREAMS:-2}; else STREAMS=${STREAMS:-1}; fi
CONNS=${CONNS:-4}
CALLS=${CALLS:-2000}
DURATION=${DURATION:-4}
ROUNDS=${ROUNDS:-5}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
LOAD=${LOAD:-$here/../../target/release/interop-load}
case "$MODE" in client | bidi) ;; *) echo "MODE is client or bidi" >&2; exit 2 ;; esac
case "$DRIVER" in
  interop-load)
    [ -x "$LOAD" ] || { echo "no interop-load at $LOAD (cargo build --release -p grpcx-interop)" >&2; exit 1; }
    ;;
  h2load)
    [ "$MODE" = client ] || { echo "DRIVER=h2load drives client streaming only" >&2; exit 2; }
    BODY=$(mktemp /tmp/compare_streams.XXXXXX)
    # StreamingInputCallRequest { payload { body: SIZE zero bytes } }, framed, COUNT times.
    python3 - "$SIZE" "$COUNT" "$BODY" <<'PY'
import sys
def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
size, count, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
payload = b"\x12" + varint(size) + bytes(size)
message = b"\x0a" + varint(len(payload)) + payload
frame = b"\x00" + len(message).to_bytes(4, "big") + message
open(path, "wb").write(frame * count)
PY
    # The answer, StreamingInputCallResponse { aggregated_payload_size },
    # framed: 5 bytes, a tag and the size's varint (nothing for 0).
    total=$((SIZE * COUNT))
    ANSWER=5
    if [ "$total" -gt 0 ]; then
      ANSWER=7
      while [ "$total" -ge 128 ]; do total=$((total >> 7)); ANSWER=$((ANSWER + 1)); done
    fi
    ;;
  *) echo "DRIVER is interop-load or h2load" >&2; exit 2 ;;
esac

PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -f "${BODY:-}"' EXIT
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
  if [ "$DRIVER" = h2load ]; then
    local calls=$CALLS
    [ -n "${2:-}" ] && calls=$((CALLS / 4))
    out=$(taskset -c "$CLIENT_CPU" h2load -n "$calls" -c "$CONNS" -m "$STREAMS" -d "$BODY" \
      -H 'content-type: application/grpc' -H 'te: trailers' \
      "http://127.0.0.1:$1/grpc.testing.TestService/StreamingInputCall") ||
      { echo "h2load failed: $out" >&2; exit 1; }
    grep -q "requests: $calls total, $calls started, $calls done, $calls succeeded" <<<"$out" ||
      { echo "not every call succeeded: $out" >&2; exit 1; }
    # h2load counts a gRPC error as a 2xx answer: the data shows every
    # call got its answer.
    grep -q "($((calls * ANSWER))) data" <<<"$out" || { echo "an answer was not OK: $out" >&2; exit 1; }
    sed -n 's/^finished in \([0-9.]*\)\(m*s\),.*/\1 \2/p' <<<"$out" |
      awk -v n=$((calls * COUNT)) '{ t = ($2 == "ms") ? $1 / 1000 : $1; printf "%.0f\n", n / t }'
    return
  fi
  out=$(taskset -c "$CLIENT_CPU" "$LOAD" --port "$1" --mode "$MODE" --size "$SIZE" \
    --count "$COUNT" --streams "$STREAMS" --duration "${2:-$DURATION}") ||
    { echo "interop-load failed: $out" >&2; exit 1; }
  grep -q ' errors=0 ' <<<"$out" || { echo "errors: $out" >&2; exit 1; }
  sed -n 's/.* msgs\/s=\([0-9.]*\).*/\1/p' <<<"$out"
}

OURS_PORT=$(start "$OURS_CMD")
PEER_PORT=$(start "$PEER_CMD")
if [ "$DRIVER" = h2load ]; then
  echo "load: h2load, client streaming, size=$SIZE count=$COUNT, $CALLS calls on $CONNS connections x $STREAMS streams; server cpu $SERVER_CPU, client cpu $CLIENT_CPU" >&2
else
  echo "load: interop-load --mode $MODE size=$SIZE count=$COUNT streams=$STREAMS ${DURATION}s; server cpu $SERVER_CPU, client cpu $CLIENT_CPU" >&2
fi
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
