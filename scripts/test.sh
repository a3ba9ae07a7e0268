#!/usr/bin/env bash
# The project's whole test run, from a fresh machine: unit, integration and
# doc tests (including the chat page in headless Chromium), then the
# Autobahn|Testsuite conformance runs (server, then both clients).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
    apt-get update && apt-get install -y chromium
fi
(cd tests/browser && npm ci --no-audit --no-fund)
# tests/metrics.rs checks /metrics with this independent parser of the
# Prometheus text format; pinned, and a no-op once installed.
python3 -m pip install --quiet --disable-pip-version-check 'prometheus-client==0.21.1'
cargo test --release
scripts/autobahn.sh
scripts/autobahn-client.sh blocking
scripts/autobahn-client.sh loop
