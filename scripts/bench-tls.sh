#!/usr/bin/env bash
# What TLS costs: the echo scenarios of scripts/bench-echo.sh against
# `wsloop echo --tls-cert ..` (wss://) and `wsloop tcp-echo --tls-cert ..`
# (raw bytes over TLS, the ceiling), plus the plain ws:// echo, all in one
# run. Also the server's CPU time per echoed message (user + system, from
# /proc/PID/stat). Prints a Markdown table.
#
#   scripts/bench-tls.sh [seconds per scenario, default 5] [base port, default 19100]
#
# Needs jq and openssl (for a throwaway self-signed certificate).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
port="${2:-19100}"
cargo build --release --quiet
bin=target/release/wsloop
dir=$(mktemp -d)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
tls=(--tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem")

"$bin" echo --addr "127.0.0.1:$port" --ping-interval 0 2>/dev/null &
ws_pid=$!
"$bin" echo --addr "127.0.0.1:$((port + 1))" --ping-interval 0 "${tls[@]}" 2>/dev/null &
wss_pid=$!
"$bin" tcp-echo --addr "127.0.0.1:$((port + 2))" "${tls[@]}" 2>/dev/null &
raw_pid=$!
trap 'kill "$ws_pid" "$wss_pid" "$raw_pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
sleep 0.5

# CPU ticks (user + system) a process has used so far.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# bench PID ARGS..: prints the JSON report with the server's CPU time
# (microseconds per message) added as .cpu_us_per_msg.
bench() {
    local pid=$1; shift
    local before after json
    before=$(ticks "$pid")
    json=$("$bin" bench "$@" -p 1 -d "${secs}s" --json 2>/dev/null)
    after=$(ticks "$pid")
    jq -c --argjson t "$((after - before))" --argjson hz "$hz" \
        '.cpu_us_per_msg = ($t / $hz * 1e6 / (.messages | if . == 0 then 1 else . end))' <<<"$json"
}

echo "| connections x size | ws:// msg/s | wss:// msg/s | raw TLS msg/s | wss/raw TLS | wss/ws | CPU µs/msg wss | raw TLS | wss/raw TLS |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for scenario in "100 20" "10 1k" "10 16k" "200 16k" "500 16k"; do
    set -- $scenario
    ws=$(bench "$ws_pid" "ws://127.0.0.1:$port/" -c "$1" -s "$2")
    wss=$(bench "$wss_pid" "wss://127.0.0.1:$((port + 1))/" --insecure -c "$1" -s "$2")
    raw=$(bench "$raw_pid" "wss://127.0.0.1:$((port + 2))/" --raw --insecure -c "$1" -s "$2")
    jq -rn --argjson ws "$ws" --argjson wss "$wss" --argjson raw "$raw" --arg name "$1 x $2" '
        def r: . * 100 | round / 100;
        def c: . * 10 | round / 10;
        "| \($name) | \($ws.messages_per_sec | round) | \($wss.messages_per_sec | round) | \($raw.messages_per_sec | round) | \($wss.messages_per_sec / $raw.messages_per_sec | r) | \($wss.messages_per_sec / $ws.messages_per_sec | r) | \($wss.cpu_us_per_msg | c) | \($raw.cpu_us_per_msg | c) | \($wss.cpu_us_per_msg / $raw.cpu_us_per_msg | r) |"'
    if [ "$(jq -rn --argjson a "$ws" --argjson b "$wss" --argjson c "$raw" '$a.errors + $b.errors + $c.errors')" != 0 ]; then
        echo "errors in scenario $1 x $2" >&2
        exit 1
    fi
done
