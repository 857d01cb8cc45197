# Shared by server_instructions.sh and stream_instructions.sh (sourced):
# a server under callgrind with instrumentation off until `measure_on`.

# start_server BINARY: runs BINARY --port $PORT under callgrind; sets PORT,
# PID and OUT, removes the profile on exit, waits until the port answers.
start_server() {
  PORT=$((10000 + RANDOM % 22000)) # below the ephemeral ports (32768 up) that h2load's connections take
  OUT=$(mktemp /tmp/callgrind.XXXXXX)
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT" \
    "$1" --port "$PORT" >"$OUT.log" 2>&1 &
  PID=$!
  trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -f "$OUT" "$OUT".*' EXIT
  for _ in $(seq 400); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return
    sleep 0.1
  done
  echo "the server did not answer on port $PORT; its log:" >&2
  cat "$OUT.log" >&2
  exit 1
}

measure_on() { callgrind_control -i on "$PID" >/dev/null; }

# measure_off: stops counting and prints the instructions counted; with
# KEEP=FILE, keeps the profile there for callgrind_annotate.
measure_off() {
  callgrind_control -i off "$PID" >/dev/null
  callgrind_control -d "$PID" >/dev/null
  sleep 0.5
  callgrind_annotate "$OUT".[0-9]* 2>/dev/null |
    awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }'
  if [ -n "${KEEP:-}" ]; then cp "$OUT".[0-9]* "$KEEP"; fi
}
