#!/usr/bin/env bash
# The project's whole test run, from a fresh machine: unit, integration and
# doc tests, then the Autobahn|Testsuite conformance runs (server, then both clients).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release
scripts/autobahn.sh
scripts/autobahn-client.sh blocking
scripts/autobahn-client.sh loop
