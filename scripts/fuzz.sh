#!/usr/bin/env bash
# Fuzzes what reads user input (image decoding, safetensors weights, the pickle-based
# checkpoint readers, and masks through arbitrary resize/crop plans into the loss)
# with cargo-fuzz / libFuzzer, each for SECONDS (default 600), and prints executions
# and crashes per target. Targets can run as separate instances side by side.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Needs the nightly toolchain (`rustup toolchain install nightly`); installs
# cargo-fuzz if missing. The committed seeds in fuzz/corpus/TARGET are copied into
# target/fuzz-corpus/TARGET, which grows across runs; crashes land in
# fuzz/artifacts/TARGET (each one becomes a regression test).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode_image load_weights read_checkpoint masked_loss)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# Panics are what we hunt in safe Rust; no sanitizer keeps burn's build and each run fast.
flags=(--sanitizer none --release)
cargo +nightly fuzz build "${flags[@]}" 2>&1 | tail -n 3

# One row per target in target/fuzz/TARGET.row, so instances for different targets can
# run side by side; the table at the end lists every row there.
mkdir -p target/fuzz
for target in "${targets[@]}"; do
    work=target/fuzz-corpus/$target
    mkdir -p "$work" "fuzz/artifacts/$target"
    cp -n fuzz/corpus/$target/* "$work/" 2>/dev/null || true
    log=target/fuzz/$target.log
    status=0
    cargo +nightly fuzz run "${flags[@]}" "$target" "$work" -- \
        -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=4096 -timeout=30 \
        > "$log" 2>&1 || status=$?
    executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    # Slow inputs are kept too (slow-unit-*): worth a look, but not crashes.
    crashes=$(find "fuzz/artifacts/$target" -type f ! -name 'slow-unit-*' | wc -l)
    corpus=$(find "$work" -type f | wc -l)
    printf '| %s | %s | %s | %s | %s |\n' "$target" "$seconds" "$executions" "$corpus" "$crashes" > "target/fuzz/$target.row"
    [ "$status" -eq 0 ] || echo "$target: libFuzzer exited with $status (see $log)" >&2
done
printf '| target | seconds | executions | corpus | crashes |\n|---|---:|---:|---:|---:|\n'
cat target/fuzz/*.row
