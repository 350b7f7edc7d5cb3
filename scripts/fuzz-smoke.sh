#!/usr/bin/env bash
# Fuzz smoke run: builds every cargo-fuzz target in fuzz/ (nightly only), writes the seed
# corpora generated from the fixtures (fuzz/src/bin/seeds.rs), and runs each target for a short,
# bounded time with memory and time limits. Any crash, hang (an input taking longer than the
# time limit) or out-of-memory fails the run, naming the target and the reproducing artifact.
#
# Without a nightly toolchain it prints "fuzz smoke skipped: no nightly toolchain" and exits 0
# (CI machines may have only stable). Installs cargo-fuzz when nightly is there but it is not.
#
# Environment:
#   FUZZ_SECONDS   seconds per target (default 20)
#   FUZZ_RSS_MB    memory limit per target process, MiB (default 1024)
#   FUZZ_TIMEOUT   seconds one input may take before it counts as a hang (default 10)
#   FUZZ_TARGETS   space-separated targets to run (default: all of them)
#   FUZZ_SEED      libFuzzer's random seed (default 1, so a CI run is repeatable; set another
#                  or 0 for a fresh one when hunting)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-20}"
rss_mb="${FUZZ_RSS_MB:-1024}"
timeout_s="${FUZZ_TIMEOUT:-10}"

if ! command -v rustup >/dev/null 2>&1 || ! rustup toolchain list 2>/dev/null | grep -q '^nightly' \
    || ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz smoke skipped: no nightly toolchain"
    exit 0
fi

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz (nightly present, cargo-fuzz missing)"
    cargo install cargo-fuzz --locked
fi

host="$(rustc +nightly -vV | sed -n 's/^host: //p')"
bin_dir="target/$host/release"

echo "building the fuzz targets (release, debug assertions, AddressSanitizer)"
start=$(date +%s)
# `cargo fuzz build` builds every binary of the crate, the seed generator included, with the
# same flags; -a keeps overflow checks and debug assertions on.
cargo +nightly fuzz build -a
echo "built in $(( $(date +%s) - start )) s"

targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list | grep -vx seeds)}"

echo "writing seed corpora"
"$bin_dir/seeds" corpus

failed=()
for target in $targets; do
    mkdir -p "corpus/$target" "artifacts/$target"
    log="artifacts/$target/smoke.log"
    t0=$(date +%s)
    status=0
    "$bin_dir/$target" "corpus/$target" \
        -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout="$timeout_s" \
        -seed="${FUZZ_SEED:-1}" \
        -artifact_prefix="artifacts/$target/" -print_final_stats=1 >"$log" 2>&1 || status=$?
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    if [ "$status" -ne 0 ]; then
        echo "FAIL $target (exit $status after $(( $(date +%s) - t0 )) s); the end of its log:"
        tail -n 40 "$log" | sed 's/^/    /'
        ls artifacts/"$target"/ | grep -v smoke.log | sed "s|^|    artifact: fuzz/artifacts/$target/|" || true
        failed+=("$target")
    else
        printf 'ok   %-18s %8s runs in %3d s\n' "$target" "${runs:-?}" "$(( $(date +%s) - t0 ))"
    fi
done

echo "fuzz smoke took $(( $(date +%s) - start )) s in all"
if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz smoke FAILED for: ${failed[*]} (reproduce: cd fuzz && cargo +nightly fuzz run <target> <artifact>)"
    exit 1
fi
echo "fuzz smoke passed: ${targets//$'\n'/ }"
