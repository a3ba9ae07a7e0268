#!/usr/bin/env bash
# The cost of permessage-deflate, as ratios from one run: `wsloop bench`
# against one `wsloop echo` (which accepts deflate by default) with and
# without `--deflate`, on chat-like JSON text and on random bytes. Prints
# echoes per second, the server's CPU time per message (from
# /proc/PID/stat), wire bytes per payload byte and the median round trip.
#
#   scripts/bench-deflate.sh [PORT] [SIZE]      (defaults 9310, 1k)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${1:-9310}"
SIZE="${2:-1k}"
cargo build --release --quiet
BIN=target/release/wsloop
$BIN echo --addr 127.0.0.1:$PORT --ping-interval 0 2>/tmp/deflate-bench-server.log &
PID=$!
sleep 0.5
cpu() { awk '{print $14+$15}' /proc/$PID/stat; }
TCK=$(getconf CLK_TCK)
for payload in "--chat-payload" "--binary"; do
  for d in "" "--deflate"; do
    before=$(cpu)
    out=$($BIN bench ws://127.0.0.1:$PORT/ -c 10 -s "$SIZE" -p 4 -d 5s $payload $d --json 2>/dev/null)
    after=$(cpu)
    python3 - "$out" "$before" "$after" "$TCK" "$payload $d" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); ticks = int(sys.argv[3]) - int(sys.argv[2]); tck = int(sys.argv[4])
us = ticks / tck * 1e6 / max(r["messages"], 1)
print(f'{sys.argv[5]:<24} {r["messages_per_sec"]:>9.0f} msg/s  server CPU {us:6.2f} us/msg  wire ratio {r["wire_ratio"]:.3f}  p50 {r["latency_us"]["p50"]:.0f} us')
PY
  done
done
kill $PID; wait $PID 2>/dev/null || true
