"""One side of the benchmark: the PyTorch original's training step, as its README
shows it: teacher forward on the target under no_grad, teacher forward on the output,
loss, backward. Prints the per-step seconds as JSON.

    python torch_step.py --teacher vgg16 --weights W.safetensors --batch 4 --steps 5
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torchvision
import torchvision.transforms as T
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "reference"))
from reference import ReferenceRepAlignLoss  # noqa: E402


def teacher(name, weights):
    if name == "vgg16":
        model = torchvision.models.vgg16().features
    elif name == "dinov2_vits14_reg":
        from goldens_dinov2 import HubDinov2
        model = HubDinov2(384, 12, registers=4)
    else:
        raise SystemExit(f"unknown teacher {name}")
    model.load_state_dict(load_file(weights))
    return model.eval()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    normalize = T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    loss_fn = ReferenceRepAlignLoss(teacher(args.teacher, args.weights), normalize)
    shape = (args.batch, 3, args.size, args.size)
    target = torch.rand(shape)
    student_output = (target + 0.1 * torch.randn(shape)).clamp(0, 1)

    times = []
    for step in range(args.warmup + args.steps):
        output = student_output.clone().requires_grad_(True)
        start = time.perf_counter()
        with torch.no_grad():
            ys = loss_fn.make_data(target)
        xs = loss_fn.make_data(output)
        loss, _ = loss_fn(xs, ys)
        loss.backward()
        elapsed = time.perf_counter() - start
        if step >= args.warmup:
            times.append(elapsed)
    print(json.dumps({"times": times, "loss": loss.item()}))


if __name__ == "__main__":
    main()
