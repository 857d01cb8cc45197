#!/usr/bin/env bash
# Server instructions per streamed message, counted by callgrind (see
# server_instructions.sh for why), on one stream at a time.
#
#   [MODE=server|client|bidi] benches/scripts/stream_instructions.sh SERVER [SIZE] [COUNT] [SECONDS]
#
# SERVER takes `--port P`. MODE=server (the default): StreamingOutputCall
# calls of COUNT responses of SIZE bytes, driven by tonic's stream-bench
# from ../shared/bench (STREAM_BENCH overrides its path). MODE=client:
# StreamingInputCall calls of COUNT requests of SIZE bytes; MODE=bidi:
# FullDuplexCall calls of COUNT requests each asking for a SIZE-byte
# response; both driven by grpcx-interop's interop-load (LOAD overrides
# its path; `cargo build --release -p grpcx-interop`). Prints
# `Ir/msg`: user-space instructions per message streamed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${1:?usage: stream_instructions.sh SERVER [SIZE] [COUNT] [SECONDS]}
SIZE=${2:-1024}
COUNT=${3:-1000}
SECS=${4:-10}
MODE=${MODE:-server}
STREAM_BENCH=${STREAM_BENCH:-$here/../../../shared/bench/tonic-peer/target/release/stream-bench}
LOAD=${LOAD:-$here/../../target/release/interop-load}
if [ "$MODE" = server ]; then
  [ -x "$STREAM_BENCH" ] || { echo "no stream-bench at $STREAM_BENCH (cargo build --release in ../shared/bench/tonic-peer)" >&2; exit 1; }
else
  [ -x "$LOAD" ] || { echo "no interop-load at $LOAD (cargo build --release -p grpcx-interop)" >&2; exit 1; }
fi
source "$here/callgrind.sh"
start_server "$BIN"
bench() {
  if [ "$MODE" = server ]; then
    "$STREAM_BENCH" --port "$PORT" --size "$SIZE" --count "$COUNT" --streams 1 \
      --duration "$1" --warmup 0
  else
    "$LOAD" --port "$PORT" --mode "$MODE" --size "$SIZE" --count "$COUNT" \
      --streams 1 --duration "$1"
  fi
}
bench 2 >/dev/null
measure_on
RESULT=$(bench "$SECS")
TOTAL=$(measure_off)
echo "$RESULT" >&2
MSGS=$(sed -n 's/.* msgs=\([0-9]*\) .*/\1/p' <<<"$RESULT")
echo "Ir/msg $((TOTAL / MSGS))"
