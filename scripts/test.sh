#!/usr/bin/env bash
# The project's whole test run, from a fresh machine: unit, integration and
# doc tests (including the chat page in headless Chromium and the chat
# nodes sharing a room through redis-server), a short soak under hostile
# load, every fuzz target for a short time, then the
# Autobahn|Testsuite conformance runs (server, then both clients).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
    apt-get update && apt-get install -y chromium
fi
(cd tests/browser && npm ci --no-audit --no-fund)
# tests/chat_redis.rs starts its own redis-server processes.
command -v redis-server || (apt-get update && apt-get install -y redis-server)
# The independent wss:// peer of tests/tls_*.rs; pip skips it when present.
python3 -m pip install --quiet 'websockets==15.0.1'
# tests/metrics.rs checks /metrics with this independent parser of the
# Prometheus text format; pinned, and a no-op once installed.
python3 -m pip install --quiet --disable-pip-version-check 'prometheus-client==0.21.1'
cargo test --release
scripts/soak.sh 45
scripts/fuzz.sh 20
scripts/autobahn.sh
scripts/autobahn-client.sh blocking
scripts/autobahn-client.sh loop
