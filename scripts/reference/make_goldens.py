"""Writes every golden fixture the Rust tests compare against.

    scripts/reference/setup.sh
    .venv/bin/python scripts/reference/make_goldens.py crates/repalign/tests/fixtures [FAMILY...] [--only GLOB]...

Each family lives in `goldens_<family>.py` with a `main(out_dir)`; with no FAMILY
arguments, all of them run. `--only GLOB` (repeatable) writes only the loss cases
whose fixture name matches, e.g. `dinov2 --only 'dinov2_hf5_*'` to add new cases
without rewriting the others (a family's other fixtures, such as vgg's `resize.json`,
are still written when the family runs).
"""

import importlib
import sys
from pathlib import Path

import torch

import reference
from reference import write_versions

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)


def main():
    args = sys.argv[1:]
    while "--only" in args:
        at = args.index("--only")
        if at + 1 == len(args):
            sys.exit("--only needs a GLOB")
        reference.ONLY.append(args[at + 1])
        del args[at:at + 2]
    out_dir = Path(args[0] if args else "crates/repalign/tests/fixtures")
    out_dir.mkdir(parents=True, exist_ok=True)
    here = Path(__file__).parent
    families = args[1:] or sorted(p.stem.removeprefix("goldens_") for p in here.glob("goldens_*.py"))
    for family in families:
        importlib.import_module(f"goldens_{family}").main(out_dir)
    write_versions(out_dir)


if __name__ == "__main__":
    main()
