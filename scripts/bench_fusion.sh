#!/usr/bin/env bash
# burn's kernel fusion off and on, on this machine's wgpu device (a GPU, or Mesa's
# lavapipe without one): bench_step built both ways, run alternately. Writes
# docs/fusion.md.
#
#   scripts/bench_fusion.sh [fusion.py flags, e.g. --rounds 5 --vgg16-size 224 --batch 8]
#
# Needs VGG16 weights (`repalign fetch vgg16`) and the reference venv for DINOv2's
# random weights (scripts/reference/setup.sh), as scripts/bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/inputs.sh
source scripts/bench/inputs.sh
# Mesa wants a runtime folder; without one it warns once per process.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

mkdir -p target/bench
# The dev profile: the workspace builds dependencies (burn, cubecl) at opt-level 3 there,
# and the GPU step is theirs; a release build of each side would take twice as long.
for features in wgpu wgpu,fusion; do
  cargo build --locked -p repalign --example bench_step --features "$features,testing"
  cp target/debug/examples/bench_step "target/bench/bench_step_${features/,/_}"
done
dinov2=target/bench/dinov2_vits14_reg.safetensors
[ -f "$dinov2" ] || "$python" scripts/bench/make_weights.py "$dinov2"
python3 scripts/bench/fusion.py --plain target/bench/bench_step_wgpu --fused target/bench/bench_step_wgpu_fusion \
    --vgg16 "$vgg16" --dinov2 "$dinov2" --out docs/fusion.md "$@"
