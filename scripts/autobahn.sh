#!/usr/bin/env bash
# Runs the Autobahn|Testsuite fuzzing client against `wsloop echo`.
#
#   scripts/autobahn.sh [CASES]     (default: every case, 1.* to 13.*)
#
# Installs the suite on first use (../shared/autobahn/setup.sh), builds and
# starts the release binary on a free port, runs the cases, stops the server
# and fails unless every case is OK or INFORMATIONAL.
set -euo pipefail
cd "$(dirname "$0")/.."
AUTOBAHN_DIR="${AUTOBAHN_DIR:-$(cd .. && pwd)/shared/autobahn}"
CASES="${1:-*}"
export AUTOBAHN_EXCLUDE="${AUTOBAHN_EXCLUDE-}"
PORT="${AUTOBAHN_PORT:-9301}"

bash "$AUTOBAHN_DIR/setup.sh" >/dev/null
cargo build --release --quiet
./target/release/wsloop echo --addr "127.0.0.1:$PORT" --ping-interval 0 2>"/tmp/wsloop-autobahn-server-$PORT.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT

out=$(mktemp)
set +e
bash "$AUTOBAHN_DIR/run.sh" "$PORT" "$CASES" | tee "$out"
rc=${PIPESTATUS[0]}
set -e
summary=$(tail -n 1 "$out")
rm -f "$out"
if [ "$rc" -ne 0 ]; then
  echo "autobahn: run.sh exited $rc" >&2
  exit 1
fi
# Non-strict counts as a failure for us: we fail fast on invalid UTF-8.
if ! echo "$summary" | grep -Eq '^autobahn: [0-9]+ ok, 0 failed, 0 non-strict, 0 unimplemented'; then
  echo "autobahn: not every case passed: $summary" >&2
  exit 1
fi
if ! kill -0 "$server" 2>/dev/null; then
  echo "autobahn: the server died during the run" >&2
  exit 1
fi
echo "autobahn: conformance OK"
