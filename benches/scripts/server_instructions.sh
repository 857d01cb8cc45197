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
source "$here/callgrind.sh"
start_server "$BIN"
load() {
  h2load -n "$1" -c "$C" -m "$M" -d "$BODY" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$PORT$RPC"
}
load $((N / 4)) >/dev/null
measure_on
load "$N" | grep -E '^requests:' >&2
TOTAL=$(measure_off)
echo "Ir/req $((TOTAL / N))"
