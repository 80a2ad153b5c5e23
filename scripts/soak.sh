#!/usr/bin/env bash
# Flat memory over long runs (issue 16): folder mode over generated pairs of mixed sizes
# and `repalign train`, each sampled for resident memory. Needs `repalign fetch vgg16
# efficientnet_lite0 mobilenet_v2 photos` (train's teacher, judges and photos).
#   scripts/soak.sh [PAIRS] [TRAIN_STEPS] [OUT]     (default 1000 1000 soak-out; 0 steps: no train)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p repalign-cli
# The cache folder as `repalign fetch` resolves it.
cache="${REPALIGN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/repalign}"
python3 scripts/soak/soak.py --bin target/release/repalign --weights "$cache/weights/vgg16.safetensors" \
    --pairs "${1:-1000}" --train-steps "${2:-1000}" --out "${3:-soak-out}"
