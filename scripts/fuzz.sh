#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 30) and
# fails on the first crash or broken invariant.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# First on the stable toolchain without a sanitizer (`-s none`: plain
# libFuzzer coverage, which needs no unstable flag), then, when a nightly
# toolchain is installed, again with AddressSanitizer (which does). Both
# with `-a`: debug assertions and overflow checks, so an arithmetic
# overflow in length handling is a crash, not a silent wrap. Each
# target grows its working corpus in fuzz/corpus/TARGET (not committed) from
# the committed seeds in fuzz/seeds/TARGET. A crashing input is saved in
# fuzz/artifacts/TARGET/; replay it with `cargo fuzz run -s none -a TARGET FILE`.
# The executions each run reached are printed at the end.
#
# FUZZ_TARGET_DIR (default fuzz/target) is where both builds go, the
# AddressSanitizer one in its asan/ subdirectory: a CI machine that keeps
# it between runs rebuilds only what changed instead of every dependency
# twice. FUZZ_ASAN=0 skips the sanitizer runs even with a nightly present.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-30}
shift || true
target_dir=${FUZZ_TARGET_DIR:-target}

if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked
fi
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

summary=()
total=0
# run LABEL [+TOOLCHAIN] FUZZ-ARGS...: every target with the given flags.
run() {
    local label=$1
    shift
    local t log runs
    for t in "${targets[@]}"; do
        mkdir -p "corpus/$t"
        log=$(mktemp)
        if ! cargo "$@" "$t" "corpus/$t" "seeds/$t" -- \
            -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
            tail -n 60 "$log"
            echo "fuzz.sh: $t ($label) FAILED; the input is in fuzz/artifacts/$t/" >&2
            exit 1
        fi
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        rm -f "$log"
        total=$((total + ${runs:-0}))
        summary+=("$(printf '%-20s %-8s %12s executions in %ss' "$t" "$label" "${runs:-?}" "$seconds")")
    done
}

cargo fuzz build -s none -a --target-dir "$target_dir" >/dev/null
run stable fuzz run -s none -a --target-dir "$target_dir"
if [ "${FUZZ_ASAN:-1}" = 0 ]; then
    echo "fuzz.sh: FUZZ_ASAN=0, skipping the AddressSanitizer runs"
elif rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    # Its own target directory, so the two toolchains do not rebuild over
    # each other's artifacts.
    cargo +nightly fuzz build -s address -a --target-dir "$target_dir/asan" >/dev/null
    run asan +nightly fuzz run -s address -a --target-dir "$target_dir/asan"
else
    echo "fuzz.sh: no nightly toolchain installed, skipping the AddressSanitizer runs"
fi
printf '%s\n' "${summary[@]}"
echo "fuzz.sh: $total executions in total, no crash"
