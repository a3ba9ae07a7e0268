# Sourced by scripts/bench-peers.sh, scripts/syscalls.sh and
# scripts/callgrind.sh: the echo servers they compare, the scenarios they run,
# the CPU pinning and the start of one server. Not a script of its own.
#
# Defines: bin (wsloop), pin_server / pin_client (taskset prefixes, empty
# without pinning), servers ("name|command line, port appended|bench flags"),
# scenarios ("label|connections|size|pipeline|echo or cycle|messages for a
# fixed-count run"), order_json / servers_json (their names, for jq),
# start_server IDX PORT (sets pid).
#
# Environment: ONLY=REGEX keeps the servers whose names match (tcp-echo is
# always kept, as the ratios' base); BASELINE=PATH adds "wsloop baseline", the
# echo server of another wsloop build; PIN=0 turns pinning off;
# SCENARIOS=all adds the older P1 set (100 x 20, 10 x 1k, 10 x 16k,
# 200 x 16k, 500 x 16k); ONLY_SCENARIOS=REGEX then keeps the scenarios whose
# labels match (e.g. 'MiB' for more rounds of one scenario in the same time).

cargo build --release --quiet --bin wsloop
cargo build --release --quiet --manifest-path peers/Cargo.toml
bin=${CARGO_TARGET_DIR:-target}/release/wsloop
peer=${CARGO_TARGET_DIR:-peers/target}/release

# The server on cpu1, the load generator on cpu0, where there are two.
pin_server=() pin_client=()
if [ "${PIN:-1}" != 0 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    pin_server=(taskset -c 1) pin_client=(taskset -c 0)
fi

# The peers run one thread (a current-thread runtime): the server has one
# core, so more threads would only share it.
servers=(
    "tcp-echo (raw)|$bin tcp-echo --addr|--raw"
    "wsloop|$bin echo --ping-interval 0 --addr|"
    "fastwebsockets|$peer/fastwebsockets-echo --threads 1 --addr|"
    "tokio-tungstenite|$peer/tokio-tungstenite-echo --threads 1 --addr|"
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

# Connection cycles: open, upgrade, one 32 B echo, close, 50 at a time.
scenarios=(
    "100 x 32 B P1|100|32|1|echo|30000"
    "100 x 1 KiB P16|100|1k|16|echo|300000"
    "10 x 64 KiB P4|10|64k|4|echo|5000"
    "1 x 1 MiB P1|1|1m|1|echo|300"
    "cycles, 50 at a time|50|32|1|cycle|2000"
)
if [ "${SCENARIOS:-}" = all ]; then
    scenarios+=(
        "100 x 20 B P1|100|20|1|echo|30000"
        "10 x 1 KiB P1|10|1k|1|echo|30000"
        "10 x 16 KiB P1|10|16k|1|echo|20000"
        "200 x 16 KiB P1|200|16k|1|echo|20000"
        "500 x 16 KiB P1|500|16k|1|echo|20000"
    )
fi
if [ -n "${ONLY_SCENARIOS:-}" ]; then
    kept=()
    for s in "${scenarios[@]}"; do
        if [[ ${s%%|*} =~ $ONLY_SCENARIOS ]]; then kept+=("$s"); fi
    done
    scenarios=("${kept[@]}")
fi
order_json=$(printf '%s\n' "${scenarios[@]}" | cut -d'|' -f1 | jq -R . | jq -sc .)
# shellcheck disable=SC2034 # used by the scripts that source this
servers_json=$(printf '%s\n' "${servers[@]}" | cut -d'|' -f1 | jq -R . | jq -sc .)

# Starts server $1 (index into servers) on port $2, pinned, with the command
# prefix in the array named by $3 if given (e.g. a profiler), and waits until
# it accepts. Sets pid.
start_server() {
    local idx=$1 port=$2 name cmd _
    IFS='|' read -r name cmd _ <<<"${servers[$idx]}"
    local -n prefix=${3:-pin_server}
    # shellcheck disable=SC2086
    "${prefix[@]}" $cmd 127.0.0.1:$port 2>/dev/null &
    pid=$!
    local deadline=$((SECONDS + 30))
    until (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            echo "$name did not start listening" >&2
            exit 1
        fi
        sleep 0.05
    done
}

# Into the array named by $4: the URL of server $1 on port $3 and the bench
# flags of scenario $2 (without -d / -n).
bench_args() {
    local idx=$1 scen=$2 port=$3 _name _cmd flags _label conns size pipe mode _count
    local -n out=$4
    IFS='|' read -r _name _cmd flags <<<"${servers[$idx]}"
    IFS='|' read -r _label conns size pipe mode _count <<<"${scenarios[$scen]}"
    if [ "$flags" = --raw ]; then out=(127.0.0.1:$port --raw); else out=(ws://127.0.0.1:$port/); fi
    out+=(-c "$conns" -s "$size")
    if [ "$mode" = cycle ]; then out+=(--connect-rate); else out+=(-p "$pipe"); fi
}

# Stops the server started last (SIGTERM) and waits for it.
stop_server() {
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
}

# Stops a counter or profiler attached to the server (SIGINT makes strace and
# perf detach and write their summary) and waits for it.
interrupt() {
    kill -INT "$1"
    wait "$1" 2>/dev/null || true
}
