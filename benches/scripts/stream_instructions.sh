#!/usr/bin/env bash
# Server instructions per streamed response message, counted by callgrind
# (see server_instructions.sh for why): the server runs
# grpc.testing.TestService/StreamingOutputCall for the tonic stream-bench
# client of ../shared/bench, whose calls ask for COUNT messages of SIZE
# bytes each.
#
#   benches/scripts/stream_instructions.sh SERVER [SIZE] [COUNT] [SECONDS]
#
# SERVER takes `--port P`. Prints `Ir/msg`: user-space instructions per
# response message. STREAM_BENCH overrides the client's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${1:?usage: stream_instructions.sh SERVER [SIZE] [COUNT] [SECONDS]}
SIZE=${2:-1024}
COUNT=${3:-1000}
SECS=${4:-10}
STREAM_BENCH=${STREAM_BENCH:-$here/../../../shared/bench/tonic-peer/target/release/stream-bench}
[ -x "$STREAM_BENCH" ] || { echo "no stream-bench at $STREAM_BENCH (cargo build --release in ../shared/bench/tonic-peer)" >&2; exit 1; }
PORT=$((20000 + RANDOM % 20000))
OUT=$(mktemp /tmp/callgrind.XXXXXX)
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT" \
  "$BIN" --port "$PORT" >"$OUT.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -f "$OUT" "$OUT".*' EXIT
for _ in $(seq 400); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done
bench() {
  "$STREAM_BENCH" --port "$PORT" --size "$SIZE" --count "$COUNT" --streams 1 \
    --duration "$1" --warmup 0
}
bench 2 >/dev/null
callgrind_control -i on "$PID" >/dev/null
RESULT=$(bench "$SECS")
callgrind_control -i off "$PID" >/dev/null
callgrind_control -d "$PID" >/dev/null
echo "$RESULT" >&2
MSGS=$(sed -n 's/.* msgs=\([0-9]*\) .*/\1/p' <<<"$RESULT")
sleep 0.5
TOTAL=$(callgrind_annotate "$OUT".[0-9]* 2>/dev/null |
  awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }')
echo "Ir/msg $((TOTAL / MSGS))"
if [ -n "${KEEP:-}" ]; then cp "$OUT".[0-9]* "$KEEP"; fi
