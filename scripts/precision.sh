#!/usr/bin/env bash
# How far a half-precision teacher is from the f32 one on real weights and a real pair
# (the README's stereo pair): the loss value, and the input gradient (cosine and
# relative L2 against f32's) for bf16; f16 gives values only. Needs `repalign fetch`
# of the teachers and photos. Usage: scripts/precision.sh [TEACHER...]
# Prints a Markdown table (docs/guide/backends.md's).
set -euo pipefail
cd "$(dirname "$0")/.."
teachers=("$@")
[ ${#teachers[@]} -gt 0 ] || teachers=(vgg16 alexnet mobilenet_v2 efficientnet_lite0)
cargo build --release --locked -p repalign-cli >&2
bin=target/release/repalign
photos=$(python3 -c 'import os;print(os.environ.get("REPALIGN_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),"repalign"))')/photos
a=$photos/motorcycle_left.png
b=$photos/motorcycle_right.png
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "| teacher | normalisation | f32 loss | bf16 loss (rel) | bf16 gradient cosine | bf16 gradient rel L2 | f16 loss (rel) |"
echo "|---|---|---:|---:|---:|---:|---:|"
for teacher in "${teachers[@]}"; do
    for normalization in groups sample; do
        run() { "$bin" compare "$a" "$b" --teacher "$teacher" --normalization "$normalization" --precision "$@"; }
        f32=$(run f32 --grad-out "$work/f32.npy")
        bf16=$(run bf16 --grad-out "$work/bf16.npy")
        f16=$(run f16)
        python3 - "$teacher" "$normalization" "$f32" "$bf16" "$f16" "$work" <<'PY'
import math, struct, sys
teacher, normalization, f32, bf16, f16, work = sys.argv[1:]
f32, bf16, f16 = float(f32), float(bf16), float(f16)
def load(path):
    data = open(path, "rb").read()
    header = struct.unpack("<H", data[8:10])[0]
    n = (len(data) - 10 - header) // 4
    return struct.unpack(f"<{n}f", data[10 + header:])
a, b = load(f"{work}/f32.npy"), load(f"{work}/bf16.npy")
dot = sum(x * y for x, y in zip(a, b))
na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
diff = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
rel = lambda v: abs(v - f32) / abs(f32)
print(f"| {teacher} | {normalization} | {f32:.7g} | {bf16:.7g} ({rel(bf16):.1e}) | {dot / (na * nb):.4f} | {diff / na:.2e} | {f16:.7g} ({rel(f16):.1e}) |")
PY
    done
done
