"""Random DINOv2 ViT-S/14-reg weights in the hub layout (the benchmark's second
teacher; no real weights are reachable here), from the recipes of the golden tests.

    python make_weights.py OUT.safetensors
"""

import sys
from pathlib import Path

from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "reference"))
from goldens_dinov2 import HubDinov2  # noqa: E402
from reference import randomize  # noqa: E402

model = HubDinov2(384, 12, registers=4)
randomize(model, 14)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, sys.argv[1])
