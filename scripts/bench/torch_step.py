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
from reference import ReferenceRepAlignLoss, image  # noqa: E402


def teacher(name, weights):
    state = load_file(weights)
    if name == "vgg16":
        # Our cached VGG16 is the feature extractor, keyed `features.N` as torchvision.
        model = torchvision.models.vgg16().features
        state = {key.removeprefix("features."): value for key, value in state.items()}
    elif name == "dinov2_vits14_reg":
        from goldens_dinov2 import HubDinov2
        model = HubDinov2(384, 12, registers=4)
    else:
        raise SystemExit(f"unknown teacher {name}")
    model.load_state_dict(state)
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

    normalize = T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    loss_fn = ReferenceRepAlignLoss(teacher(args.teacher, args.weights), normalize)
    shape = (args.batch, 3, args.size, args.size)
    # The same images as bench_step.rs (SplitMix64 recipes), so the losses agree.
    target = image(1, shape)
    student_output = target * 0.9 + image(2, shape) * 0.1

    times = []
    phases = {"target": [], "forward": [], "loss": [], "backward": []}
    for step in range(args.warmup + args.steps):
        output = student_output.clone().requires_grad_(True)
        start = time.perf_counter()
        with torch.no_grad():
            ys = loss_fn.make_data(target)
        after_target = time.perf_counter()
        xs = loss_fn.make_data(output)
        after_forward = time.perf_counter()
        loss, _ = loss_fn(xs, ys)
        after_loss = time.perf_counter()
        loss.backward()
        end = time.perf_counter()
        if step >= args.warmup:
            times.append(end - start)
            phases["target"].append(after_target - start)
            phases["forward"].append(after_forward - after_target)
            phases["loss"].append(after_loss - after_forward)
            phases["backward"].append(end - after_loss)
    print(json.dumps({"times": times, "phases": phases, "loss": loss.item()}))


if __name__ == "__main__":
    main()
