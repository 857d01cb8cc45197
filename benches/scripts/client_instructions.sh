#!/usr/bin/env bash
# Client instructions per unary call, counted by callgrind (see
# server_instructions.sh for why): grpcx-interop's interop-load makes 64-byte
# UnaryCalls, 32 at a time on one channel, against SERVER (run natively).
# The client runs twice, for N and 3N calls, and the difference is divided
# by 2N, so start-up does not count.
#
#   benches/scripts/client_instructions.sh SERVER [N] [--retry | --pass-through]
#
# --retry puts the calls under a RetryLayer that never has to retry: the
# difference between the two is what the layer costs a call.
# --pass-through puts them under a layer that does nothing: what calling
# the channel as a layered service costs, which --retry includes.
# LOAD overrides the client's path (cargo build --release -p
# grpcx-interop).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${1:?usage: client_instructions.sh SERVER [N] [--retry | --pass-through]}
N=${2:-5000}
RETRY=${3:-}
LOAD=${LOAD:-$here/../../target/release/interop-load}
[ -x "$LOAD" ] || { echo "no interop-load at $LOAD (cargo build --release -p grpcx-interop)" >&2; exit 1; }
PORT=$((10000 + RANDOM % 22000)) # below the ephemeral ports (32768 up) that h2load's connections take
"$BIN" --port "$PORT" >/dev/null 2>&1 &
PID=$!
OUT=$(mktemp /tmp/callgrind.XXXXXX)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -f "$OUT" "$OUT".*' EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.05
done
count() { # calls -> instructions of a whole client run
  valgrind --tool=callgrind --callgrind-out-file="$OUT.$1" \
    "$LOAD" --port "$PORT" --mode unary --calls "$1" $RETRY >/dev/null 2>&1
  callgrind_annotate "$OUT.$1" 2>/dev/null |
    awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }'
}
SHORT=$(count "$N")
LONG=$(count $((3 * N)))
echo "Ir/call $(((LONG - SHORT) / (2 * N)))"
