#!/usr/bin/env bash
# Prepare the grpcio interop peer: a virtualenv with the pinned requirements
# and Python stubs generated from proto/grpc/testing/*.proto.
#
# Usage:  PY="$(tests/interop/setup_venv.sh)"
#
# Idempotent and cheap to re-run; safe to run from several processes at once
# (serialised with flock when available). It:
#   1. creates tests/interop/.venv if it is missing (with $PYTHON, default python3);
#   2. pip installs requirements.txt quietly, only when requirements.txt changed
#      since the last successful install;
#   3. regenerates tests/interop/gen/ when it is missing, when any .proto under
#      proto/grpc/testing/ is newer than the last generation, or after a
#      reinstall (grpcio-tools may have changed).
#
# stdout: exactly one line, the absolute path of the venv's python, on success.
# Everything else (progress, pip output) goes to stderr. Exit status non-zero on
# any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
gen="$here/gen"
proto_root="$repo_root/proto"
proto_dir="$proto_root/grpc/testing"
requirements="$here/requirements.txt"
venv_python="$venv/bin/python"
req_stamp="$venv/.requirements.sha256"
gen_stamp="$gen/.generated"

log() { echo "setup_venv: $*" >&2; }

# Serialise concurrent runs (e.g. several Rust tests starting at once).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$here/.setup.lock"
    flock 9
fi

# 1. The virtualenv.
if [[ ! -x "$venv_python" ]]; then
    log "creating $venv"
    "${PYTHON:-python3}" -m venv "$venv" >&2
fi

# 2. The requirements, reinstalled only when requirements.txt changes.
want_hash="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ ! -f "$req_stamp" || "$(cat "$req_stamp")" != "$want_hash" ]]; then
    log "installing $(basename "$requirements")"
    "$venv_python" -m pip install --quiet --disable-pip-version-check \
        -r "$requirements" >&2
    echo "$want_hash" >"$req_stamp"
fi

# 3. The generated stubs.
needs_gen=0
if [[ ! -f "$gen_stamp" || "$req_stamp" -nt "$gen_stamp" ]]; then
    needs_gen=1
elif [[ -n "$(find "$proto_dir" -name '*.proto' -newer "$gen_stamp" -print -quit)" ]]; then
    needs_gen=1
fi
if [[ "$needs_gen" == 1 ]]; then
    log "generating stubs into $gen"
    # Generate into a scratch dir, then swap it in, so an interrupted run never
    # leaves a half-written gen/ behind.
    tmp="$(mktemp -d "$here/.gen.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    "$venv_python" -m grpc_tools.protoc -I "$proto_root" \
        --python_out="$tmp" --pyi_out="$tmp" --grpc_python_out="$tmp" \
        "$proto_dir"/*.proto >&2
    # gen/grpc/testing is spliced into the installed `grpc` package at import
    # time (see interop_common.py); make it a regular package.
    touch "$tmp/grpc/testing/__init__.py"
    touch "$tmp/.generated"
    chmod 755 "$tmp"
    rm -rf "$gen"
    mv "$tmp" "$gen"
    trap - EXIT
fi

echo "$venv_python"
