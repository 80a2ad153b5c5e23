#!/usr/bin/env bash
# A Python venv holding PyTorch 2.9.0, the libtorch that burn's LibTorch backend (the
# `tch` feature) builds and runs against. Only the optional LibTorch side of
# scripts/bench.sh needs it; nothing else in the repository does.
#
#   scripts/bench/setup_libtorch.sh          # prints the venv path last
#
# REPALIGN_LIBTORCH_VENV: where (default <repo>/.venv-libtorch). REPALIGN_PYTHON: the
# interpreter (default python3; the lock is for 3.11). About 2.5 GB of wheels, 6 GB
# installed; idempotent (nothing is downloaded when torch 2.9.0 is already there).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${REPALIGN_LIBTORCH_VENV:-$repo/.venv-libtorch}"
python="${REPALIGN_PYTHON:-python3}"
version() { "$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || true; }
if [ "$(version)" != 2.9.0 ]; then
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --no-cache-dir --no-deps \
    --only-binary=:all: --progress-bar off -r "$here/libtorch-requirements.txt" >&2
fi
[ "$(version)" = 2.9.0 ] || { echo "setup_libtorch: torch 2.9.0 does not import from $venv" >&2; exit 1; }
echo "$venv"
