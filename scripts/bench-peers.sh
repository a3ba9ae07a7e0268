#!/usr/bin/env bash
# wsloop against other Rust WebSocket servers (peers/), with `wsloop tcp-echo`
# as the machine's ceiling. Every server gets the same client (`wsloop bench`,
# one loop) on the same scenarios, one server at a time, in the same run. The
# whole set is repeated, in alternating server order, because the machine is
# shared and noisy. Prints Markdown: one table per round, then medians, then
# the server CPU per message of every server side by side, then in how many
# rounds wsloop's was below each other server's (a paired count: the rounds
# move together, so it separates a small lead from the noise between rounds
# better than two medians do).
#
#   scripts/bench-peers.sh [seconds per run, default 5] [rounds, default 3]
#
# The figure to read is the server's CPU time per echoed message (per cycle
# for the connection-cycle scenario), summed over its threads from
# /proc/PID/task/*/schedstat, and its ratio to tcp-echo's in the same round.
# On a machine with at least 2 CPUs the server is pinned to cpu1 and the load
# generator to cpu0 (PIN=0 turns that off), so neither steals the other's core.
#
# Scenarios (conns x size, messages in flight per connection):
#   100 x 32 B P1, 100 x 1 KiB P16, 10 x 64 KiB P4, 1 x 1 MiB P1, and
#   connection cycles (`bench --connect-rate -c 50`: open, upgrade, one 32 B
#   echo, close, 50 at a time). SCENARIOS=all adds the older P1 set
#   (100 x 20, 10 x 1k, 10 x 16k, 200 x 16k, 500 x 16k), doubling the time.
# Servers: tcp-echo, wsloop, fastwebsockets and tokio-tungstenite, each on
# one thread (see scripts/echo-servers.sh).
#
# Environment: ONLY=REGEX keeps the servers whose names match (tcp-echo is
# always kept, as the ratios' base); BASELINE=PATH adds "wsloop baseline", the
# echo server of another wsloop build, for before/after figures in one run;
# PIN=0 turns the pinning off; ONLY_SCENARIOS=REGEX keeps the scenarios whose
# labels match.
#
# Needs jq and Linux /proc. Servers listen on 127.0.0.1:19200-19209; each is
# stopped by PID after its run (and on exit).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
rounds="${2:-3}"

# shellcheck source=scripts/echo-servers.sh
. scripts/echo-servers.sh

results=$(mktemp)
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi; rm -f "$results"' EXIT

# CPU time (ns) of every thread of a process, from the scheduler's accounting.
cpu_ns() {
    local sum=0 ns _
    # Bash arithmetic, not awk: mawk clamps integers past 2^31.
    for f in /proc/"$1"/task/*/schedstat; do
        read -r ns _ 2>/dev/null <"$f" || continue
        sum=$((sum + ns))
    done
    echo "$sum"
}

# Starts server $1 (index into servers) on its own port, waits until it
# accepts, benches it with scenario $3 (index into scenarios), records one
# JSON line, stops it.
run_one() {
    local idx=$1 round=$2 scen=$3 name label args
    name=${servers[$idx]%%|*}
    label=${scenarios[$scen]%%|*}
    local port=$((19200 + idx))
    start_server "$idx" "$port"
    bench_args "$idx" "$scen" "$port" args
    local before after report
    before=$(cpu_ns "$pid")
    report=$(timeout $((secs + 60)) "${pin_client[@]}" "$bin" bench "${args[@]}" \
        -d "${secs}s" --json 2>/dev/null) || true
    after=$(cpu_ns "$pid")
    stop_server
    if [ -z "$report" ]; then report='{"messages":0,"messages_per_sec":0,"latency_us":{"p99":0},"errors":-1}'; fi
    jq -c --arg name "$name" --arg scen "$label" --argjson round "$round" --argjson idx "$idx" \
        --argjson cpu "$((after - before))" \
        '{round: $round, scenario: $scen, server: $name, order: $idx, mps: .messages_per_sec,
          p99: .latency_us.p99, errors: .errors, messages: .messages, cpu_ns: $cpu}' \
        <<<"$report" >>"$results"
}

# Adds to each result line the ratio of its CPU per message to tcp-echo's in
# the same round and scenario.
with_ratios() {
    jq -sc '
        (map(select(.server == "tcp-echo (raw)" and .messages > 0)
             | {key: "\(.round)|\(.scenario)", value: (.cpu_ns / .messages)}) | from_entries) as $raw
        | .[] | . + {cpu_per: (if .messages > 0 then .cpu_ns / .messages else null end)}
        | . + {cpu_ratio: (if .cpu_per and $raw["\(.round)|\(.scenario)"]
                           then .cpu_per / $raw["\(.round)|\(.scenario)"] else null end)}'
}

# Markdown for a set of result lines (with ratios): one row per scenario and server.
table() {
    echo "| scenario | server | msg/s | p99 ms | server CPU µs/msg | CPU x tcp-echo |"
    echo "|---|---|---:|---:|---:|---:|"
    jq -rs --argjson order "$order_json" '
        def r: . * 100 | round / 100;
        def commas: if . < 1000 then tostring
            else (. / 1000 | floor | commas) + "," + ("00" + (. % 1000 | tostring))[-3:] end;
        sort_by(.order) | group_by(.scenario) as $g
        | $order[] as $s
        | ($g[] | select(.[0].scenario == $s)) as $rows
        | $rows[]
        | "| \(.scenario) | \(.server) | \(.mps | round | commas) | \(.p99 / 1000 | r) | \(if .cpu_per then .cpu_per / 1000 | r else "-" end)\(if .errors != 0 then " (errors: \(.errors))" else "" end) | \(if .cpu_ratio then .cpu_ratio | r else "-" end) |"'
}

n=${#servers[@]}
for round in $(seq 1 "$rounds"); do
    for scen in $(seq 0 $((${#scenarios[@]} - 1))); do
        for i in $(seq 0 $((n - 1))); do
            # Odd rounds go down the list, even rounds up it.
            if [ $((round % 2)) = 1 ]; then idx=$i; else idx=$((n - 1 - i)); fi
            run_one "$idx" "$round" "$scen"
        done
    done
    echo "Round $round ($(uptime | sed 's/.*load average/load average/')${pin_server:+; server on cpu1, client on cpu0}):"
    echo
    jq -c --argjson r "$round" 'select(.round == $r)' "$results" | with_ratios | table
    echo
done

medians=$(with_ratios <"$results" | jq -sc '
    def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    group_by(.scenario + "|" + .server)[]
    | {scenario: .[0].scenario, server: .[0].server, order: .[0].order, mps: (map(.mps) | median),
       p99: (map(.p99) | median), errors: (map(.errors) | add),
       cpu_ratio: (map(select(.cpu_ratio) | .cpu_ratio) | median),
       cpu_per: (map(select(.cpu_per) | .cpu_per) | median)}')

echo "Median over $rounds rounds (each column its own median; the CPU ratio is the median of the rounds' ratios):"
echo
table <<<"$medians"
echo
echo "Server CPU per echoed message (per cycle for cycles), µs, median; in brackets the median ratio to tcp-echo:"
echo
jq -rs --argjson order "$order_json" --argjson servers "$servers_json" '
    def r: . * 100 | round / 100;
    ("| scenario | " + ($servers | join(" | ")) + " |"),
    ("|---|" + ($servers | map("---:") | join("|")) + "|"),
    ($order[] as $s
     | map(select(.scenario == $s)) as $rows
     | "| \($s) | " + ([$servers[] as $name | ($rows | map(select(.server == $name)) | first) as $x
        | if $x == null or $x.cpu_per == null then "-"
          elif $name == "tcp-echo (raw)" then ($x.cpu_per / 1000 | r | tostring)
          else "\($x.cpu_per / 1000 | r) (\($x.cpu_ratio | r)x)" end] | join(" | ")) + " |")' \
    <<<"$medians"
echo
echo "Rounds in which wsloop's server CPU per message was below the other server's, in the same round and scenario:"
echo
jq -rs --argjson order "$order_json" --argjson servers "$servers_json" '
    ($servers | map(select(. != "wsloop"))) as $others
    | ("| scenario | " + ($others | join(" | ")) + " |"),
      ("|---|" + ($others | map("---:") | join("|")) + "|"),
      ($order[] as $s
       | map(select(.scenario == $s and .messages > 0)) as $rows
       | [$rows[] | select(.server == "wsloop")] as $ours
       | "| \($s) | " + ([$others[] as $name
           | [$ours[] as $w | $rows[] | select(.server == $name and .round == $w.round)
              | ($w.cpu_ns / $w.messages) < (.cpu_ns / .messages)] as $wins
           | if ($wins | length) == 0 then "-"
             else "\($wins | map(select(.)) | length) of \($wins | length)" end] | join(" | ")) + " |")
    ' "$results"
