#!/usr/bin/env bash
# The project's whole test run, from a fresh machine: unit, integration and
# doc tests (including the chat page in headless Chromium and the chat
# nodes sharing a room through redis-server), a short soak under hostile
# load, every fuzz target for a short time, then the
# Autobahn|Testsuite conformance runs (the server, then both clients side
# by side).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
    apt-get update && apt-get install -y chromium
fi
(cd tests/browser && npm ci --no-audit --no-fund)
# tests/chat_redis.rs starts its own redis-server processes.
command -v redis-server || (apt-get update && apt-get install -y redis-server)
# tests/metrics.rs checks /metrics with this independent parser of the
# Prometheus text format; pinned, and a no-op once installed.
python3 -m pip install --quiet --disable-pip-version-check 'prometheus-client==0.21.1'
# The independent peer of tests/deflate_websockets.rs and tests/tls_*.rs.
WEBSOCKETS_VERSION=15.0.1
if ! python3 -c "import websockets, sys; sys.exit(websockets.__version__ != '$WEBSOCKETS_VERSION')" 2>/dev/null; then
    python3 -m pip install --quiet "websockets==$WEBSOCKETS_VERSION"
fi
cargo test --release
scripts/soak.sh 45
scripts/fuzz.sh 10
scripts/autobahn.sh
# The two client runs share nothing but the machine (each has its own
# fuzzing server, port and report directory), and each is bound by its
# fuzzing server's one Python thread: side by side they take the time of
# one. Their logs are printed whole, one after the other.
logs=$(mktemp -d)
AUTOBAHN_PORT=9302 scripts/autobahn-client.sh blocking >"$logs/blocking" 2>&1 &
blocking=$!
AUTOBAHN_PORT=9303 scripts/autobahn-client.sh loop >"$logs/loop" 2>&1 &
loop=$!
failed=0
wait "$blocking" || failed=1
wait "$loop" || failed=1
cat "$logs/blocking" "$logs/loop"
rm -rf "$logs"
exit "$failed"
