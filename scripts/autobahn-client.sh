#!/usr/bin/env bash
# Runs the Autobahn|Testsuite fuzzing server against our client role.
#
#   scripts/autobahn-client.sh [blocking|loop] [CASES]
#
# `blocking` tests wsloop::client, `loop` the event-loop client
# (WsProtocol::client). Runs every case (1.* to 13.*, permessage-deflate
# included) by default; fails unless every case is OK or INFORMATIONAL.
set -euo pipefail
cd "$(dirname "$0")/.."
AUTOBAHN_DIR="${AUTOBAHN_DIR:-$(cd .. && pwd)/shared/autobahn}"
MODE="${1:-blocking}"
CASES="${2:-*}"
EXCLUDE="${AUTOBAHN_EXCLUDE-}"
PORT="${AUTOBAHN_PORT:-9302}"
PREFIX="${AUTOBAHN_PREFIX:-/opt/autobahn}"
OUT="${AUTOBAHN_OUT:-/tmp/autobahn-client-$MODE}"
AGENT="wsloop-$MODE"
flag=""
[ "$MODE" = loop ] && flag="--loop"

bash "$AUTOBAHN_DIR/setup.sh" >/dev/null
cargo build --release --quiet --example autobahn_client
mkdir -p "$OUT"
rm -f "$OUT"/index.json "$OUT"/*.html "$OUT"/"${AGENT}"_case_*.json
python3 - "$PORT" "$OUT" "$CASES" "$EXCLUDE" >"$OUT/spec.json" <<'PY'
import json, sys
port, out, cases, exclude = sys.argv[1:]
pats = lambda s: [p.strip() for p in s.split(",") if p.strip()]
print(json.dumps({"url": "ws://127.0.0.1:%s" % port, "outdir": out,
                  "options": {"failByDrop": False},
                  "cases": pats(cases) or ["*"], "exclude-cases": pats(exclude),
                  "exclude-agent-cases": {}}))
PY
# The suite's embedded web page (port 8080) is off, so runs on different
# ports do not collide.
(cd "$OUT" && exec "$PREFIX/py2/bin/wstest" -m fuzzingserver -u 0 -s "$OUT/spec.json" >"$OUT/wstest.log" 2>&1) &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
deadline=$((SECONDS + 20))
until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
  [ "$SECONDS" -lt "$deadline" ] || { echo "fuzzing server did not start" >&2; exit 2; }
  sleep 0.2
done
timeout 3600 ./target/release/examples/autobahn_client "ws://127.0.0.1:$PORT" "$AGENT" $flag
summary=$(python3 "$AUTOBAHN_DIR/summarize.py" "$OUT/index.json" --agent "$AGENT" | tail -n 1)
echo "$summary"
echo "$summary" | grep -Eq '^autobahn: [0-9]+ ok, 0 failed, 0 non-strict, 0 unimplemented' || {
  echo "autobahn (client $MODE): not every case passed" >&2
  exit 1
}
echo "autobahn (client $MODE): conformance OK"
