#!/usr/bin/env bash
# Syscalls per echoed message (per connection cycle for cycles) of each echo
# server, by kind, on the scenarios of scripts/bench-peers.sh: `wsloop
# tcp-echo` (the raw ceiling), `wsloop echo` and the peers in peers/.
#
#   scripts/syscalls.sh [scale, default 1]
#
# Each server is started alone (pinned to cpu1, the load generator to cpu0,
# when there are 2 CPUs), a counter is attached to all its threads once it
# listens, the load generator sends a fixed number of messages (`wsloop bench
# -n N`, N times the scale), and the counter is detached. What is counted
# includes the accepts, handshakes and closes of the run's connections; with
# the default counts that is below 0.05 syscalls per message in the echo
# scenarios.
#
# Environment:
#   TOOL=strace (default) counts with `strace -c -f -p PID`, which also counts
#     the calls that failed (EAGAIN); ptrace stops the server at every call,
#     so it runs several times slower and pipelined input piles up between
#     reads: syscalls per message for P16 and P4 come out lower than at full
#     speed.
#   TOOL=perf counts the syscalls:sys_enter_* tracepoints with `perf stat
#     -p PID`, in the kernel, without slowing the server (needs tracefs and
#     root or perf_event_paranoid <= 1); no error counts.
#   ONLY=REGEX, BASELINE=PATH as in scripts/bench-peers.sh.
#   KEEP=DIR keeps the raw counter output of every run in DIR.
#
# Needs jq, and strace or perf. Servers listen on 127.0.0.1:19220-19229.
set -euo pipefail
cd "$(dirname "$0")/.."
scale="${1:-1}"
tool="${TOOL:-strace}"

if [ "$tool" = strace ] && ! command -v strace >/dev/null; then
    echo "strace is missing: installing it (apt-get install strace)" >&2
    apt-get install -y -qq strace >/dev/null
fi
if [ "$tool" != strace ] && [ "$tool" != perf ]; then
    echo "TOOL must be strace or perf" >&2
    exit 2
fi

# shellcheck source=scripts/echo-servers.sh
. scripts/echo-servers.sh

# For TOOL=perf: every syscall (raw_syscalls:sys_enter, shown as "total")
# and the ones worth naming; attaching to all ~350 syscalls:sys_enter_*
# tracepoints takes perf seconds per run.
named=(read readv write writev recvfrom recvmsg sendto sendmsg epoll_wait epoll_pwait
    epoll_pwait2 epoll_ctl accept4 close shutdown setsockopt getsockname getpeername
    futex brk mmap munmap mremap madvise timerfd_settime ioctl)
perf_events=raw_syscalls:sys_enter$(printf ',syscalls:sys_enter_%s' "${named[@]}")

work=$(mktemp -d)
results=$work/results
pid= counter=
cleanup() {
    if [ -n "$counter" ]; then kill -INT "$counter" 2>/dev/null || true; fi
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$work"/* "$KEEP"/ 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# The counter's output as {name: [calls, errors]}.
parse_counts() {
    if [ "$tool" = strace ]; then
        # % time  seconds  usecs/call  calls  [errors]  syscall
        awk '$1 ~ /^[0-9.]+$/ && $NF != "total" {
                 if (NF == 6) print $6, $4, $5; else if (NF == 5) print $5, $4, 0 }' "$1"
    else
        # CSV: count,,EVENT,...; what the named calls leave of the total is "other".
        awk -F, '$1 ~ /^[0-9]+$/ && $3 == "raw_syscalls:sys_enter" { total = $1 }
                 $1 ~ /^[0-9]+$/ && $1 > 0 && $3 ~ /syscalls:sys_enter_/ {
                     sub(/.*sys_enter_/, "", $3); print $3, $1, 0; named += $1 }
                 END { if (total > named) print "other", total - named, 0 }' "$1"
    fi | jq -Rsc 'split("\n") | map(select(length > 0) | split(" "))
                  | map({key: .[0], value: [(.[1] | tonumber), (.[2] | tonumber)]}) | from_entries'
}

run_one() {
    local idx=$1 scen=$2 name label count args
    name=${servers[$idx]%%|*}
    label=${scenarios[$scen]%%|*}
    count=$((${scenarios[$scen]##*|} * scale))
    local port=$((19220 + idx)) out=$work/run-$idx-$scen.txt deadline
    start_server "$idx" "$port"
    bench_args "$idx" "$scen" "$port" args
    local log=$work/counter-$idx-$scen.log
    if [ "$tool" = strace ]; then
        strace -c -f -p "$pid" -o "$out" 2>"$log" &
        counter=$!
        # strace says "Process N attached" once it holds every thread.
        deadline=$((SECONDS + 10))
        until grep -q attached "$log" 2>/dev/null; do
            if [ $SECONDS -ge $deadline ]; then
                echo "strace did not attach to $name" >&2
                exit 1
            fi
            sleep 0.05
        done
    else
        perf stat -x, -e "$perf_events" -p "$pid" -o "$out" 2>"$log" &
        counter=$!
        # perf gives no sign of being attached; it attaches within
        # milliseconds, and syscalls made before that are only missed.
        sleep 0.5
    fi
    local report
    report=$(timeout 600 "${pin_client[@]}" "$bin" bench "${args[@]}" -n "$count" --json \
        2>/dev/null) || true
    interrupt "$counter"
    counter=
    stop_server
    if [ -z "$report" ]; then report='{"messages":0,"errors":-1}'; fi
    local counts
    counts=$(parse_counts "$out")
    jq -c --arg name "$name" --arg scen "$label" --argjson idx "$idx" --argjson counts "$counts" \
        '{scenario: $scen, server: $name, order: $idx, messages: .messages, errors: .errors,
          counts: $counts}' <<<"$report" >>"$results"
}

for scen in $(seq 0 $((${#scenarios[@]} - 1))); do
    for idx in $(seq 0 $((${#servers[@]} - 1))); do
        run_one "$idx" "$scen"
    done
done

echo "Syscalls per echoed message (per cycle for cycles), counted with $tool ($(uptime | sed 's/.*load average/load average/')):"
echo
if [ "$tool" = strace ]; then
    echo "Read and write columns: calls (of which failed, mostly EAGAIN, in brackets)."
    echo
fi
echo "| scenario | server | messages | total | read | write | writev | recvfrom | sendto | epoll_wait | epoll_ctl | other |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
jq -rs --argjson order "$order_json" '
    def r: . * 1000 | round / 1000;
    def per($m): if $m > 0 then . / $m | r else "-" end;
    def col($c; $names; $m): [$names[] as $k | $c[$k] // [0, 0]]
        | (map(.[0]) | add) as $calls | (map(.[1]) | add) as $errs
        | if $calls == 0 then "0" else "\($calls | per($m))\(if $errs > 0 then " (\($errs | per($m)))" else "" end)" end;
    sort_by(.order) | group_by(.scenario) as $g
    | $order[] as $s
    | ($g[] | select(.[0].scenario == $s))[]
    | .messages as $m | .counts as $c
    | ["read", "readv", "write", "writev", "recvfrom", "recvmsg", "sendto", "sendmsg",
       "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl"] as $named
    | ($c | to_entries | map(select(.key as $k | $named | index($k) | not))
       | sort_by(-.value[0]) | map(select(.value[0] / ([$m, 1] | max) >= 0.005)
       | "\(.key) \(.value[0] | per($m))") | join(", ")) as $other
    | "| \(.scenario) | \(.server)\(if .errors != 0 then " (errors: \(.errors))" else "" end) | \($m) | \([$c[][0]] | add // 0 | per($m)) | \(col($c; ["read", "readv"]; $m)) | \(col($c; ["write"]; $m)) | \(col($c; ["writev"]; $m)) | \(col($c; ["recvfrom", "recvmsg"]; $m)) | \(col($c; ["sendto", "sendmsg"]; $m)) | \(col($c; ["epoll_wait", "epoll_pwait", "epoll_pwait2"]; $m)) | \(col($c; ["epoll_ctl"]; $m)) | \($other) |"' \
    "$results"
