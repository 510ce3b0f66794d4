#!/bin/sh
# Schema-driven fuzzing of the service from its own OpenAPI document (schemathesis, PyPI), bounded
# in time. Starts `clearhouse serve` on a loopback port with a fresh journal, signs every request as
# the operator (signing_hooks.py) and fails on any server error (5xx) or any answer that breaks the
# documented status codes or content types. Usage: run.sh CLEARHOUSE_BINARY [SECONDS]
set -eu
bin=$(realpath "$1")
seconds=${2:-90}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
venv=${CLEARHOUSE_FUZZ_VENV:-$work/venv}
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'schemathesis>=4,<5' 'pynacl>=1.5,<2'
fi
"$bin" client --name operator --key-file "$work/operator.key" keygen > "$work/key.json"
public=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['public_key'])" "$work/key.json")
port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
CLEARHOUSE_OPERATOR_KEY=$public "$bin" serve --feed synthetic --listen "127.0.0.1:$port" \
    --data-dir "$work/data" > "$work/serve.log" 2>&1 &
server=$!
export CLEARHOUSE_FUZZ_KEY_FILE="$work/operator.key" CLEARHOUSE_FUZZ_KEY_ID=operator
export PYTHONPATH="$here" SCHEMATHESIS_HOOKS=signing_hooks
status=0
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" --wait-for-schema 60 \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-time "$seconds" --workers 2 --exclude-path /v1/stream || status=$?
if ! kill -0 "$server" 2>/dev/null; then
    echo "clearhouse serve died during the fuzzing:" >&2
    cat "$work/serve.log" >&2
    exit 1
fi
exit $status
