#!/usr/bin/env bash
# Server instructions per call, counted by callgrind: a measure that stays
# the same run after run on a busy shared machine, where requests per
# second move by 20% between identical runs. Use it to compare two builds
# of a server (or grpcx against tonic and the bare-hyper ceiling of
# ../shared/bench) on the same load; confirm a change that matters with
# ../shared/bench/compare.sh when the machine is quiet.
#
#   benches/scripts/server_instructions.sh SERVER [N] [C] [M] [BODY] [RPC]
#
# SERVER is a binary taking `--port P` (target/release/interop-server,
# tonic-interop-server, hyper-ceiling). h2load sends N requests (default
# 20000) on C connections (16) with M streams each (32), after a warm-up
# of N/4 that is not counted; BODY is the framed request
# (../shared/bench/mk_body.py; default its 64-byte unary_64.bin), RPC the
# method path. Prints `Ir/req`: user-space instructions per request (the
# kernel's share, about a quarter of the time, is not counted).
# KEEP=FILE keeps the callgrind profile, for callgrind_annotate.
#
# Needs valgrind and h2load (apt-get install valgrind nghttp2-client).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${1:?usage: server_instructions.sh SERVER [N] [C] [M] [BODY] [RPC]}
N=${2:-20000}
C=${3:-16}
M=${4:-32}
BODY=${5:-$here/../../../shared/bench/unary_64.bin}
RPC=${6:-/grpc.testing.TestService/UnaryCall}
[ -f "$BODY" ] || { echo "no request body at $BODY (see ../shared/bench/mk_body.py)" >&2; exit 1; }
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
load() {
  h2load -n "$1" -c "$C" -m "$M" -d "$BODY" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$PORT$RPC"
}
load $((N / 4)) >/dev/null
callgrind_control -i on "$PID" >/dev/null
load "$N" | grep -E '^requests:' >&2
callgrind_control -i off "$PID" >/dev/null
callgrind_control -d "$PID" >/dev/null
sleep 0.5
TOTAL=$(callgrind_annotate "$OUT".[0-9]* 2>/dev/null |
  awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }')
echo "Ir/req $((TOTAL / N))"
if [ -n "${KEEP:-}" ]; then cp "$OUT".[0-9]* "$KEEP"; fi
