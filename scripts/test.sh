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
# The independent permessage-deflate peer of tests/deflate_websockets.rs.
WEBSOCKETS_VERSION=15.0.1
if ! python3 -c "import websockets, sys; sys.exit(websockets.__version__ != '$WEBSOCKETS_VERSION')" 2>/dev/null; then
    python3 -m pip install --quiet "websockets==$WEBSOCKETS_VERSION"
fi
cargo test --release
scripts/autobahn.sh
scripts/autobahn-client.sh blocking
scripts/autobahn-client.sh loop
