#!/usr/bin/env bash
# User-space copies per echoed message of each echo server, on the scenarios
# of scripts/bench-peers.sh: the bytes that go through memcpy and memmove
# (Rust calls them for every copy too large to inline: extend_from_slice,
# to_vec, Vec growth, drain), counted by an LD_PRELOAD shim
# (scripts/copycount.c) while the load generator sends a fixed number of
# messages (`wsloop bench -n N`). The counters are read before and after the
# load run, so the server's start-up is not counted; the run's accepts,
# handshakes and closes are.
#
#   scripts/copies.sh [scale, default 1]
#
# Columns, per echoed message: calls; bytes copied per payload byte, all
# copies and only those of at least 256 B (a payload copy of a message of
# 1 KiB or more is one such; struct moves are smaller); memmove's share;
# reallocations that moved the block, and their bytes per payload byte (for
# blocks that glibc keeps in their own mmap, a move is an mremap: pages
# remapped, no bytes copied). Copies inside libc (realloc's own) and in the
# kernel (recv, send) are not seen. Timing under the shim is not measured.
#
# Environment: ONLY=REGEX, BASELINE=PATH, SCENARIOS=all as in
# scripts/bench-peers.sh. Needs cc and jq. Ports 19240-19249.
set -euo pipefail
cd "$(dirname "$0")/.."
scale="${1:-1}"

# shellcheck source=scripts/echo-servers.sh
. scripts/echo-servers.sh

shim_dir=${CARGO_TARGET_DIR:-target}/copycount
mkdir -p "$shim_dir"
shim=$(realpath "$shim_dir")/copycount.so
cc -O2 -Wall -shared -fPIC -o "$shim" scripts/copycount.c -ldl

work=$(mktemp -d)
results=$work/results
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT

# The shim's 16 counters as a JSON array.
snapshot() {
    od -A n -t u8 -v "$1" | tr -s ' \n' ' ' | jq -Rc 'split(" ") | map(select(length > 0) | tonumber)'
}

for scen in $(seq 0 $((${#scenarios[@]} - 1))); do
    IFS='|' read -r label _ size _ mode count <<<"${scenarios[$scen]}"
    count=$((count * scale))
    for idx in $(seq 0 $((${#servers[@]} - 1))); do
        name=${servers[$idx]%%|*}
        port=$((19240 + idx))
        file=$work/counters-$idx-$scen
        # shellcheck disable=SC2034 # used through start_server's nameref
        counted=("${pin_server[@]}" env "COPYCOUNT_FILE=$file" "LD_PRELOAD=$shim")
        start_server "$idx" "$port" counted
        bench_args "$idx" "$scen" "$port" args
        before=$(snapshot "$file")
        report=$(timeout 600 "${pin_client[@]}" "$bin" bench "${args[@]}" -n "$count" --json \
            2>/dev/null) || true
        after=$(snapshot "$file")
        stop_server
        if [ -z "$report" ]; then report='{"messages":0,"errors":-1}'; fi
        jq -c --arg name "$name" --arg scen "$label" --argjson idx "$idx" --arg size "$size" \
            --arg mode "$mode" --argjson before "$before" --argjson after "$after" \
            '{scenario: $scen, server: $name, order: $idx, messages: .messages, errors: .errors,
              size: ($size | if endswith("k") then (.[:-1] | tonumber) * 1024
                             elif endswith("m") then (.[:-1] | tonumber) * 1048576
                             else tonumber end),
              d: [range(0; $after | length) as $i | $after[$i] - $before[$i]]}' \
            <<<"$report" >>"$results"
    done
done

echo "User-space copies per echoed message (per cycle for cycles), memcpy + memmove ($(uptime | sed 's/.*load average/load average/')):"
echo
echo "| scenario | server | messages | calls/msg | bytes copied / payload byte | of which in copies >= 256 B | memmove / payload byte | reallocs moved/msg (bytes / payload byte) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
jq -rs --argjson order "$order_json" '
    def r: . * 100 | round / 100;
    sort_by(.order) | group_by(.scenario) as $g
    | $order[] as $s
    | ($g[] | select(.[0].scenario == $s))[]
    | .messages as $m | (.messages * .size) as $p | .d as $d
    | if $m == 0 then "| \(.scenario) | \(.server) | 0 (errors: \(.errors)) | - | - | - | - | - |" else
      "| \(.scenario) | \(.server)\(if .errors != 0 then " (errors: \(.errors))" else "" end) | \($m) | \(($d[0] + $d[2] + $d[4]) / $m | r) | \(($d[1] + $d[3] + $d[5]) / $p | r) | \(($d[3] + $d[5]) / $p | r) | \($d[7] / $p | r) | \($d[9] / $m | r) (\($d[10] / $p | r)) |" end' \
    "$results"
