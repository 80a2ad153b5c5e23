#!/usr/bin/env bash
# The side-by-side benchmark of issue 6: PyTorch original vs ours (without and with the
# target cache), VGG16 (real weights) and DINOv2 ViT-S/14-reg (random weights) at 224 px,
# batch 1 and 4, 2 threads each, alternating. Writes BENCHMARKS.md.
#
#   scripts/bench.sh [extra bench.py flags, e.g. --rounds 5 --steps 3]
#   REPALIGN_BENCH_LIBTORCH=1 scripts/bench.sh   # adds ours on burn's LibTorch backend
#
# The LibTorch side builds the benchmark with `--features tch` against PyTorch 2.9.0
# (scripts/bench/setup_libtorch.sh makes that venv; LIBTORCH_USE_PYTORCH=1).
#
# Needs the reference venv (scripts/reference/setup.sh) and VGG16 weights
# (`repalign fetch vgg16`; REPALIGN_CACHE or ~/.cache/repalign).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/inputs.sh
source scripts/bench/inputs.sh

mkdir -p target/bench
libtorch=()
if [ "${REPALIGN_BENCH_LIBTORCH:-0}" = 1 ]; then
  venv=$(scripts/bench/setup_libtorch.sh)
  VIRTUAL_ENV=$venv PATH=$venv/bin:$PATH LIBTORCH_USE_PYTORCH=1 \
    cargo build --release --locked -p repalign --example bench_step --features tch
  cp target/release/examples/bench_step target/bench/bench_step_libtorch
  lib=$("$venv/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
  libtorch=(--ours-tch target/bench/bench_step_libtorch --ours-tch-lib "$lib")
fi
cargo build --release --locked -p repalign --example bench_step
dinov2=target/bench/dinov2_vits14_reg.safetensors
[ -f "$dinov2" ] || "$python" scripts/bench/make_weights.py "$dinov2"
"$python" scripts/bench/bench.py --ours target/release/examples/bench_step --python "$python" \
    --vgg16 "$vgg16" --dinov2 "$dinov2" --out BENCHMARKS.md "${libtorch[@]}" "$@"
