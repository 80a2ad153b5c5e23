#!/usr/bin/env bash
# Create / update the Python virtualenv holding the reference-model stack
# (torch, torchvision, timm, transformers, safetensors, numpy; plus the judges
# lpips, DISTS-pytorch, pytorch-msssim), CPU use only.
#
#   scripts/reference/setup.sh
#
# Environment:
#   REPALIGN_VENV         venv location            (default: <repo>/.venv)
#   REPALIGN_PYTHON       interpreter for the venv (default: python3; lock is for 3.11)
#   REPALIGN_WITH_TRITON  1 = also install triton  (default: 0; only needed for
#                         torch.compile on a GPU, ~900 MB)
#
# Idempotent: if every pin in requirements.txt is already installed in the venv,
# nothing is downloaded; the import/CPU-op smoke test still runs (~10 s).
# Installs from PyPI only (plus whatever pip's config adds, e.g. find-links).
# First install downloads the CUDA-build torch wheel (~0.55 GB) plus the nvidia-*
# runtime wheels and takes ~3 min here; the venv is ~4.7 GB. pip keeps no wheel
# cache on this machine, so a from-scratch rerun downloads everything again.
set -euo pipefail

log() { printf '[reference/setup] %s\n' "$*"; }
die() { printf '[reference/setup] ERROR: %s\n' "$*" >&2; exit 1; }
trap 'rc=$?; printf "[reference/setup] ERROR: command failed (exit %s) at line %s: %s\n" "$rc" "$LINENO" "$BASH_COMMAND" >&2' ERR

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
REQ="$HERE/requirements.txt"
VENV="${REPALIGN_VENV:-$REPO/.venv}"
HOST_PY="${REPALIGN_PYTHON:-python3}"
WITH_TRITON="${REPALIGN_WITH_TRITON:-0}"
# torch 2.15.0 requires triton~=3.9.0 on Linux; left out of the lock on purpose.
TRITON_PIN="triton==3.9.0"

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

[[ -f "$REQ" ]] || die "missing $REQ"
command -v "$HOST_PY" >/dev/null 2>&1 || die "python interpreter '$HOST_PY' not found (set REPALIGN_PYTHON)"

pyver() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }
HOST_VER="$(pyver "$HOST_PY")" || die "cannot run '$HOST_PY'"
case "$HOST_VER" in
  3.11) ;;
  3.1[0-9]) log "WARNING: requirements.txt was locked for Python 3.11, '$HOST_PY' is $HOST_VER; pins may have no wheel" ;;
  *) die "'$HOST_PY' is Python $HOST_VER; need 3.10+ (lock is for 3.11)" ;;
esac
[[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] \
  || log "WARNING: lock was made for Linux x86_64, this is $(uname -s)-$(uname -m)"

log "venv:         $VENV"
log "python:       $("$HOST_PY" -c 'import sys; print(sys.executable)') ($HOST_VER)"
log "requirements: $REQ"

# --- 1. venv ---------------------------------------------------------------
VPY="$VENV/bin/python"
if [[ -e "$VENV" ]]; then
  [[ -f "$VENV/pyvenv.cfg" ]] || die "$VENV exists but is not a virtualenv (no pyvenv.cfg); refusing to touch it"
  if ! VENV_VER="$(pyver "$VPY" 2>/dev/null)"; then
    log "existing venv is broken (its python does not run); recreating"
    rm -rf -- "$VENV"
  elif [[ "$VENV_VER" != "$HOST_VER" ]]; then
    log "existing venv is Python $VENV_VER, want $HOST_VER; recreating"
    rm -rf -- "$VENV"
  fi
fi
if [[ ! -e "$VENV" ]]; then
  log "creating venv: $HOST_PY -m venv $VENV"
  "$HOST_PY" -m venv "$VENV"
fi
[[ -x "$VPY" ]] || die "venv python $VPY missing after creation"

# --- 2. which pins are missing? --------------------------------------------
# Prints one line per requirement that is not installed at exactly the pinned
# version; exits non-zero on a malformed requirements line.
check_pins() {
  "$VPY" -I - "$@" <<'PY'
import re, sys
from importlib import metadata

def canon(n):
    return re.sub(r"[-_.]+", "-", n).lower()

installed = {}
for d in metadata.distributions():
    name = d.metadata["Name"]
    if name:
        installed[canon(name)] = d.version

pins = []
for arg in sys.argv[1:]:
    if "==" in arg and not arg.endswith(".txt"):
        pins.append(arg)
        continue
    for ln, line in enumerate(open(arg), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!-]+", line):
            sys.exit(f"{arg}:{ln}: not an exact 'name==version' pin: {line!r}")
        pins.append(line)

for pin in pins:
    name, ver = pin.split("==")
    have = installed.get(canon(name))
    if have != ver:
        print(f"{name}: want {ver}, have {have or 'nothing'}")
PY
}

PIN_ARGS=("$REQ")
[[ "$WITH_TRITON" == 1 ]] && PIN_ARGS+=("$TRITON_PIN")

MISSING="$(check_pins "${PIN_ARGS[@]}")"
if [[ -z "$MISSING" ]]; then
  log "all $(grep -cE '^[A-Za-z0-9]' "$REQ") pinned packages already installed; skipping pip install"
else
  log "$(printf '%s\n' "$MISSING" | wc -l) package(s) to install/change:"
  printf '%s\n' "$MISSING" | sed 's/^/    /'
  INSTALL_ARGS=(-r "$REQ")
  [[ "$WITH_TRITON" == 1 ]] && INSTALL_ARGS+=("$TRITON_PIN")
  # --no-deps: requirements.txt is the full closure (minus triton, see there).
  # --only-binary: never fall back to building an sdist.
  log "running: $VPY -m pip install --no-deps --only-binary=:all: --progress-bar off ${INSTALL_ARGS[*]}"
  t0=$SECONDS
  "$VPY" -m pip install --no-deps --only-binary=:all: --progress-bar off "${INSTALL_ARGS[@]}" \
    | { grep -v '^Requirement already satisfied: ' || true; }
  log "pip install took $((SECONDS - t0)) s"
  MISSING="$(check_pins "${PIN_ARGS[@]}")"
  [[ -z "$MISSING" ]] || die "after install, pins still not satisfied:"$'\n'"$MISSING"
fi

# --- 3. dependency consistency (catches an incomplete lock) ----------------
log "checking dependency consistency (pip check)"
CHECK_OUT="$("$VPY" -m pip check 2>&1)" || true
if [[ "$WITH_TRITON" != 1 ]]; then
  CHECK_OUT="$(printf '%s\n' "$CHECK_OUT" | grep -v -E '^torch [^ ]+ requires triton' || true)"
fi
CHECK_OUT="$(printf '%s\n' "$CHECK_OUT" | grep -v -E '^No broken requirements found\.?$|^$' || true)"
[[ -z "$CHECK_OUT" ]] || die "pip check found problems:"$'\n'"$CHECK_OUT"

# --- 4. smoke test: imports + the CPU ops the reference code relies on ------
log "smoke test: imports, conv2d forward/backward, bicubic antialias interpolate"
"$VPY" - <<'PY'
import torch, torchvision, timm, transformers, safetensors
import lpips, DISTS_pytorch, pytorch_msssim  # judges; `import lpips` needs scipy
import torch.nn.functional as F

torch.manual_seed(0)
x = torch.randn(2, 3, 16, 16, dtype=torch.float64, requires_grad=True)
w = torch.randn(4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
F.conv2d(x, w, padding=1).square().sum().backward()
assert x.grad is not None and x.grad.shape == x.shape and torch.isfinite(x.grad).all()
assert w.grad is not None and w.grad.shape == w.shape and torch.isfinite(w.grad).all()
assert torch.autograd.gradcheck(lambda a: F.conv2d(a, w.detach(), padding=1),
                                (x.detach()[:1, :, :5, :5].clone().requires_grad_(),))

y = F.interpolate(x.detach(), size=(7, 9), mode="bicubic", align_corners=False, antialias=True)
assert y.shape == (2, 3, 7, 9) and torch.isfinite(y).all()
c = F.interpolate(torch.full((1, 1, 16, 16), 3.0), size=(5, 5), mode="bicubic", antialias=True)
assert torch.allclose(c, torch.full_like(c, 3.0), atol=1e-5), "antialias bicubic not constant-preserving"

print(f"[reference/setup] OK: torch {torch.__version__}, torchvision {torchvision.__version__}, "
      f"timm {timm.__version__}, transformers {transformers.__version__}, "
      f"safetensors {safetensors.__version__}, numpy {__import__('numpy').__version__}")
PY

log "done in $SECONDS s; venv size: $(du -sh "$VENV" 2>/dev/null | cut -f1)"
log "use: $VPY"
