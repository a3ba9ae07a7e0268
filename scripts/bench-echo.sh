#!/usr/bin/env bash
# Echo scenarios of the fastwebsockets / uWebSockets benchmarks, against
# `wsloop echo` and, as the machine's ceiling, `wsloop tcp-echo` (--raw),
# measured in the same run. Prints a Markdown table.
#
#   scripts/bench-echo.sh [seconds per scenario, default 5]
#
# Needs jq. Servers listen on 127.0.0.1:19001 / :19000 and are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
cargo build --release --quiet
bin=target/release/wsloop

"$bin" echo --addr 127.0.0.1:19001 --ping-interval 0 2>/dev/null &
ws_pid=$!
"$bin" tcp-echo --addr 127.0.0.1:19000 2>/dev/null &
raw_pid=$!
trap 'kill "$ws_pid" "$raw_pid" 2>/dev/null || true' EXIT
sleep 0.5

echo "| connections x size | wsloop echo msg/s | p99 ms | tcp-echo (raw) msg/s | p99 ms | ws/raw |"
echo "|---|---:|---:|---:|---:|---:|"
for scenario in "100 20" "10 1k" "10 16k" "200 16k" "500 16k"; do
    set -- $scenario
    ws=$("$bin" bench ws://127.0.0.1:19001/ -c "$1" -s "$2" -p 1 -d "${secs}s" --json 2>/dev/null)
    raw=$("$bin" bench 127.0.0.1:19000 --raw -c "$1" -s "$2" -p 1 -d "${secs}s" --json 2>/dev/null)
    jq -rn --argjson ws "$ws" --argjson raw "$raw" --arg name "$1 x $2" '
        def r: . * 100 | round / 100;
        "| \($name) | \($ws.messages_per_sec | round) | \($ws.latency_us.p99 / 1000 | r) | \($raw.messages_per_sec | round) | \($raw.latency_us.p99 / 1000 | r) | \($ws.messages_per_sec / $raw.messages_per_sec | r) |"'
    if [ "$(jq -rn --argjson ws "$ws" --argjson raw "$raw" '$ws.errors + $raw.errors')" != 0 ]; then
        echo "errors in scenario $1 x $2" >&2
        exit 1
    fi
done
