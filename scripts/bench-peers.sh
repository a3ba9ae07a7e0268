#!/usr/bin/env bash
# wsloop against other Rust WebSocket servers (peers/), with `wsloop tcp-echo`
# as the machine's ceiling. Every server gets the same client (`wsloop bench`,
# one loop) on the same scenarios, one server at a time, in the same run. The
# whole set is repeated, in alternating server order, because the machine is
# shared and noisy. Prints Markdown: one table per round, then medians.
#
#   scripts/bench-peers.sh [seconds per run, default 5] [rounds, default 3]
#
# Environment: ONLY=REGEX keeps the servers whose names match (tcp-echo is
# always kept, as the ratios' base); BASELINE=PATH adds "wsloop baseline", the
# echo server of another wsloop build, for before/after figures in one run.
#
# Needs jq and Linux /proc. Servers listen on 127.0.0.1:19200-19209; each is
# stopped by PID after its run (and on exit).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
rounds="${2:-3}"

cargo build --release --quiet --bin wsloop
cargo build --release --quiet --manifest-path peers/Cargo.toml
bin=target/release/wsloop
peer=peers/target/release

# name | command line (the port is appended) | bench flags
servers=(
    "tcp-echo (raw)|$bin tcp-echo --addr|--raw"
    "wsloop|$bin echo --ping-interval 0 --addr|"
    "tokio-tungstenite 1t|$peer/tokio-tungstenite-echo --threads 1 --addr|"
    "tokio-tungstenite 2t|$peer/tokio-tungstenite-echo --threads 2 --addr|"
    "fastwebsockets 1t|$peer/fastwebsockets-echo --threads 1 --addr|"
    "fastwebsockets 2t|$peer/fastwebsockets-echo --threads 2 --addr|"
)
if [ -n "${BASELINE:-}" ]; then
    servers+=("wsloop baseline|$BASELINE echo --ping-interval 0 --addr|")
fi
if [ -n "${ONLY:-}" ]; then
    kept=()
    for s in "${servers[@]}"; do
        name=${s%%|*}
        if [ "$name" = "tcp-echo (raw)" ] || [[ $name =~ $ONLY ]]; then kept+=("$s"); fi
    done
    servers=("${kept[@]}")
fi
scenarios=("100 20" "10 1k" "10 16k" "200 16k" "500 16k")

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
# accepts, benches it, records one JSON line, stops it.
run_one() {
    local idx=$1 round=$2 conns=$3 size=$4
    IFS='|' read -r name cmd flags <<<"${servers[$idx]}"
    local port=$((19200 + idx)) url
    if [ "$flags" = --raw ]; then url=127.0.0.1:$port; else url=ws://127.0.0.1:$port/; fi
    # shellcheck disable=SC2086
    $cmd 127.0.0.1:$port 2>/dev/null &
    pid=$!
    local deadline=$((SECONDS + 10))
    until (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            echo "$name did not start listening" >&2
            exit 1
        fi
        sleep 0.05
    done
    local before after report
    before=$(cpu_ns "$pid")
    # shellcheck disable=SC2086
    report=$(timeout $((secs + 60)) "$bin" bench "$url" $flags -c "$conns" -s "$size" -p 1 \
        -d "${secs}s" --json 2>/dev/null) || true
    after=$(cpu_ns "$pid")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
    if [ -z "$report" ]; then report='{"messages":0,"messages_per_sec":0,"latency_us":{"p99":0},"errors":-1}'; fi
    jq -c --arg name "$name" --arg scen "$conns x $size" --argjson round "$round" --argjson idx "$idx" \
        --argjson cpu "$((after - before))" \
        '{round: $round, scenario: $scen, server: $name, order: $idx, mps: .messages_per_sec,
          p99: .latency_us.p99, errors: .errors, messages: .messages, cpu_ns: $cpu}' \
        <<<"$report" >>"$results"
}

# Markdown for a set of result lines: one row per scenario and server.
table() {
    echo "| connections x size | server | msg/s | p99 ms | x raw | server CPU us/msg |"
    echo "|---|---|---:|---:|---:|---:|"
    jq -rs '
        def r: . * 100 | round / 100;
        def commas: if . < 1000 then tostring
            else (. / 1000 | floor | commas) + "," + ("00" + (. % 1000 | tostring))[-3:] end;
        sort_by(.order) | group_by(.scenario) as $g
        | ["100 x 20", "10 x 1k", "10 x 16k", "200 x 16k", "500 x 16k"][] as $s
        | ($g[] | select(.[0].scenario == $s)) as $rows
        | ($rows[] | select(.server == "tcp-echo (raw)") | .mps) as $raw
        | $rows[]
        | "| \(.scenario) | \(.server) | \(.mps | round | commas) | \(.p99 / 1000 | r) | \(if .ratio then .ratio | r elif $raw > 0 then .mps / $raw | r else "-" end) | \(if .messages > 0 then .cpu_ns / .messages / 1000 | r else "-" end)\(if .errors != 0 then " (errors: \(.errors))" else "" end) |"'
}

n=${#servers[@]}
for round in $(seq 1 "$rounds"); do
    for scenario in "${scenarios[@]}"; do
        set -- $scenario
        for i in $(seq 0 $((n - 1))); do
            # Odd rounds go down the list, even rounds up it.
            if [ $((round % 2)) = 1 ]; then idx=$i; else idx=$((n - 1 - i)); fi
            run_one "$idx" "$round" "$1" "$2"
        done
    done
    echo "Round $round ($(uptime | sed 's/.*load average/load average/')):"
    echo
    jq -c --argjson r "$round" 'select(.round == $r)' "$results" | table
    echo
done

echo "Median over $rounds rounds (each column its own median; x raw is the median of the rounds' ratios):"
echo
jq -s '
    def median: sort | if length == 0 then 0 elif length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    (map(select(.server == "tcp-echo (raw)") | {key: "\(.round)|\(.scenario)", value: .mps}) | from_entries) as $raw
    | map(. + {ratio: (if $raw["\(.round)|\(.scenario)"] > 0 then .mps / $raw["\(.round)|\(.scenario)"] else null end)})
    | group_by(.scenario + "|" + .server)[]
    | {scenario: .[0].scenario, server: .[0].server, order: .[0].order, mps: (map(.mps) | median),
       p99: (map(.p99) | median), errors: (map(.errors) | add),
       ratio: (map(select(.ratio) | .ratio) | median),
       messages: 1, cpu_ns: (map(select(.messages > 0) | .cpu_ns / .messages) | median)}' \
    "$results" | table
