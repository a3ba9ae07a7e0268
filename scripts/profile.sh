#!/usr/bin/env bash
# Where an echo server's CPU goes, per echoed message, on the scenarios of
# scripts/bench-peers.sh: each server runs alone under a profiler while the
# load generator sends a fixed number of messages (`wsloop bench -n N`).
#
#   scripts/profile.sh [scale, default 1]
#
# PROFILER=callgrind (default): `valgrind --tool=callgrind`, counters zeroed
#   (callgrind_control -z) once the server listens, so start-up is not
#   counted. Prints instructions (Ir) per message, the ratio to tcp-echo's,
#   and each server's top functions by inclusive Ir per message. Repeatable
#   on a noisy machine; user space only (a syscall is one instruction), and a
#   `rep movsb` copy counts one instruction per byte, so copies weigh more
#   here than in time. Messages are half the fixed-count runs' (valgrind
#   runs some 50 times slower). What is counted includes the run's
#   accepts, handshakes and closes (the cycles scenario shows their cost).
# PROFILER=perf: `perf record -e cpu-clock` (kernel and user), top symbols
#   by self time, as a share of the server's samples.
#
# Environment: ONLY=REGEX, BASELINE=PATH, SCENARIOS=all as in
# scripts/bench-peers.sh; PROFILE_SCENARIOS=REGEX keeps the scenarios whose
# labels match (default: all); TOP=N functions per server (default 25);
# KEEP=DIR keeps the profiles. Ports 19260-19269.
set -euo pipefail
cd "$(dirname "$0")/.."
scale="${1:-1}"
profiler="${PROFILER:-callgrind}"
top="${TOP:-25}"

# shellcheck source=scripts/echo-servers.sh
. scripts/echo-servers.sh

work=$(mktemp -d)
pid= recorder=
cleanup() {
    if [ -n "$recorder" ]; then kill -INT "$recorder" 2>/dev/null || true; fi
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp -r "$work"/* "$KEEP"/ 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

declare -A total_ir
summary=()
for scen in $(seq 0 $((${#scenarios[@]} - 1))); do
    IFS='|' read -r label _ _ _ _ count <<<"${scenarios[$scen]}"
    if [ -n "${PROFILE_SCENARIOS:-}" ] && ! [[ $label =~ $PROFILE_SCENARIOS ]]; then continue; fi
    for idx in $(seq 0 $((${#servers[@]} - 1))); do
        name=${servers[$idx]%%|*}
        port=$((19260 + idx))
        out=$work/$idx-$scen
        if [ "$profiler" = callgrind ]; then
            n=$((count * scale / 2))
            # shellcheck disable=SC2034 # used through start_server's nameref
            profiled=("${pin_server[@]}" valgrind --tool=callgrind --callgrind-out-file="$out.cg")
            start_server "$idx" "$port" profiled
            timeout 60 callgrind_control -z "$pid" >/dev/null
        else
            n=$((count * scale))
            start_server "$idx" "$port"
            perf record -q -F 4000 -e cpu-clock -p "$pid" -o "$out.perf" 2>/dev/null &
            recorder=$!
            # perf gives no sign of being attached; it attaches within milliseconds.
            sleep 0.5
        fi
        bench_args "$idx" "$scen" "$port" args
        report=$(timeout 900 "${pin_client[@]}" "$bin" bench "${args[@]}" -n "$n" --json \
            2>/dev/null) || true
        if [ -n "$recorder" ]; then
            interrupt "$recorder"
            recorder=
        fi
        stop_server
        messages=$(jq -r '.messages // 0' <<<"${report:-{\}}")
        echo "### $label: $name ($messages messages, $profiler)"
        echo
        if [ "$messages" = 0 ]; then
            echo "(no messages)"
            echo
            continue
        fi
        if [ "$profiler" = callgrind ]; then
            ir=$(awk '/^summary:/ { print $2 }' "$out.cg")
            total_ir[$idx-$scen]=$ir
            raw=${total_ir[0-$scen]:-}
            line="| $label | $name | $((ir / messages))"
            if [ -n "$raw" ] && [ "$idx" != 0 ]; then
                line+=" | $(jq -n "$ir / $raw * 100 | round / 100")"
            else
                line+=" | 1"
            fi
            summary+=("$line |")
            echo "Instructions per message: $((ir / messages)). Top functions, inclusive Ir per message:"
            echo
            echo '```'
            callgrind_annotate --inclusive=yes --auto=no "$out.cg" 2>/dev/null \
                | awk -v m="$messages" -v top="$top" '
                    /^-+$/ { sep++; next }
                    sep == 6 && $1 ~ /^[0-9,]+$/ && shown < top {
                        ir = $1; gsub(",", "", ir)
                        fn = $0; sub(/^ *[0-9,]+ +\([ 0-9.%]+\) +/, "", fn)
                        sub(/ \[[^]]*\]$/, "", fn); sub(/^[^:]*:/, "", fn)
                        # The process scaffolding (main, the loop) is 100%: skip it.
                        if (fn ~ /libc_start|below main|^main$|lang_start|begin_short_backtrace|^0x/) next
                        if (seen[fn]++) next
                        printf "%10.0f  %s\n", ir / m, substr(fn, 1, 150); shown++ }'
            echo '```'
        else
            echo "Share of the server's CPU samples, top symbols by self time:"
            echo
            echo '```'
            perf report -i "$out.perf" --stdio --no-children --sort dso,sym 2>/dev/null \
                | grep -E '^ +[0-9.]+%' | head -n "$top" | cut -c1-150 || true
            echo '```'
        fi
        echo
    done
done

if [ "$profiler" = callgrind ] && [ ${#summary[@]} -gt 0 ]; then
    echo "Instructions per message (callgrind, user space; ratio to tcp-echo in the same scenario):"
    echo
    echo "| scenario | server | Ir/msg | x tcp-echo |"
    echo "|---|---|---:|---:|"
    printf '%s\n' "${summary[@]}"
fi
