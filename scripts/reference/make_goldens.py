"""Writes every golden fixture the Rust tests compare against.

    scripts/reference/setup.sh
    .venv/bin/python scripts/reference/make_goldens.py crates/repalign/tests/fixtures [FAMILY...]

Each family lives in `goldens_<family>.py` with a `main(out_dir)`; with no FAMILY
arguments, all of them run.
"""

import importlib
import sys
from pathlib import Path

import torch

from reference import write_versions

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)


def main():
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/repalign/tests/fixtures")
    out_dir.mkdir(parents=True, exist_ok=True)
    here = Path(__file__).parent
    families = sys.argv[2:] or sorted(p.stem.removeprefix("goldens_") for p in here.glob("goldens_*.py"))
    for family in families:
        importlib.import_module(f"goldens_{family}").main(out_dir)
    write_versions(out_dir)


if __name__ == "__main__":
    main()
