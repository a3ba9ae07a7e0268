#!/usr/bin/env bash
# The project's whole test run, from a fresh machine: unit, integration and
# doc tests, then the Autobahn|Testsuite conformance run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release
scripts/autobahn.sh
