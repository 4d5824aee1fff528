#!/usr/bin/env bash
# Fuzzes every decoder of repository bytes (store/src/untrusted.rs) with
# cargo-fuzz (libFuzzer), SECONDS_PER_TARGET each (default 60), starting from
# the seeds in fuzz/corpus/<target>/ and keeping what it finds there.
#
#   bash fuzz/run.sh                 # every target, 60 s each
#   SECONDS_PER_TARGET=600 bash fuzz/run.sh tree_blob snapshot
#
# Needs `cargo install cargo-fuzz`. cargo-fuzz passes nightly-only flags: with
# a nightly toolchain installed it is used, else the stable one with
# RUSTC_BOOTSTRAP=1 (what this repository's machines have). A crash leaves its
# input in fuzz/artifacts/<target>/; copy it into fuzz/corpus/<target>/ once
# fixed, so the stable replay test (store/tests/decoders.rs) keeps it fixed.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${SECONDS_PER_TARGET:-60}
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list 2>/dev/null || ls fuzz_targets | sed 's/\.rs$//')
fi

toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi

# Sanitizer "none": the decoders are safe Rust (unsafe_code is forbidden in the
# workspace), so what is sought is panics, overflows in debug assertions, and
# allocations libFuzzer's malloc limit refuses; ASan would only slow it down.
cargo "${toolchain[@]}" fuzz build -O --debug-assertions -s none
failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" artifacts
    log="artifacts/$t.log"
    echo "fuzz/run.sh: $t for ${seconds}s (log: fuzz/$log)" >&2
    if ! cargo "${toolchain[@]}" fuzz run -O --debug-assertions -s none "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 \
        -max_len=262144 -print_final_stats=1 >"$log" 2>&1; then
        failed+=("$t")
    fi
    grep -E '^(stat::number_of_executed_units|stat::new_units_added)|^SUMMARY|Test unit written' "$log" | sed "s/^/  $t: /" >&2 || true
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz/run.sh: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz/run.sh: ${#targets[@]} targets, no crash" >&2
