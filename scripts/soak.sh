#!/usr/bin/env bash
# Soak test: `wsloop echo` under hostile load for DURATION seconds (default
# 60), then checks that the echo clients saw no error, that the server's
# memory stayed under the computed bound and that its descriptors came back
# to the baseline. See examples/soak/main.rs for what runs and what is
# asserted; extra arguments are passed to it (e.g. --idle 8000).
#
#   scripts/soak.sh [DURATION] [SOAK-ARGS...]
#
# The server runs with small limits (1 MiB messages, 64 KiB high watermark)
# so the memory bound is tight enough to mean something, and with keepalive
# off so the idle connections stay for the whole run.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-60}
shift || true
max_message=$((1 << 20))
high_water=$((64 * 1024))

cargo build --release --quiet --bin wsloop --example soak
# Thousands of connections on each side: take the hard descriptor limit.
ulimit -n "$(ulimit -Hn)"

log=$(mktemp /tmp/soak-server.XXXXXX.log)
RUST_LOG=info target/release/wsloop echo --addr 127.0.0.1:0 \
    --max-message-size "$max_message" --high-water "$high_water" \
    --handshake-timeout 5s --close-timeout 5s --ping-interval 0 \
    2>"$log" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT

addr=
for _ in $(seq 300); do
    addr=$(sed -n 's/.*listening on ws:\/\/\([0-9.:]*\).*/\1/p' "$log" | head -n 1)
    [ -n "$addr" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.1
done
[ -n "$addr" ] || { echo "soak.sh: server did not start" >&2; cat "$log"; exit 1; }

status=0
target/release/examples/soak --addr "$addr" --server-pid "$server" \
    --duration "${duration}s" --max-message "$max_message" --high-water "$high_water" \
    "$@" || status=$?

kill -TERM "$server"
if ! wait "$server"; then
    echo "soak.sh: the server did not exit cleanly on SIGTERM" >&2
    status=1
fi
trap - EXIT
echo "soak.sh: server log: $(wc -l <"$log") lines in $log; panics: $(grep -c panicked "$log" || true)"
if grep -q panicked "$log"; then
    status=1
fi
exit "$status"
