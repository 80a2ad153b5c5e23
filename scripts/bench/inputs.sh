# Sourced by scripts/bench.sh and scripts/bench_fusion.sh from the repository root:
# the reference venv's python (made if missing) and the fetched VGG16 weights.
python=.venv/bin/python
[ -x "$python" ] || scripts/reference/setup.sh
if [ -n "${REPALIGN_CACHE:-}" ]; then cache=$REPALIGN_CACHE
elif [ -n "${XDG_CACHE_HOME:-}" ]; then cache=$XDG_CACHE_HOME/repalign
else cache=$HOME/.cache/repalign; fi
vgg16=$cache/weights/vgg16.safetensors
[ -f "$vgg16" ] || { echo "no $vgg16: run \`repalign fetch vgg16\`" >&2; exit 1; }
