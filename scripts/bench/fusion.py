"""burn's kernel fusion off and on, side by side: our training step (bench_step with
the target cache) built without and with `--features fusion`, on the same wgpu device,
alternating every round. Median step time and the ratio fused / plain; writes a
markdown table. Run through `scripts/bench_fusion.sh`, which builds both.

    python fusion.py --plain BIN --fused BIN --vgg16 W --dinov2 W --out docs/fusion.md
"""

import argparse
import datetime
import json
import statistics
import subprocess
import sys
from pathlib import Path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--plain", required=True, help="bench_step built with --features wgpu")
    parser.add_argument("--fused", required=True, help="bench_step built with --features wgpu,fusion")
    parser.add_argument("--device", default="wgpu")
    parser.add_argument("--vgg16", required=True)
    parser.add_argument("--dinov2", required=True)
    parser.add_argument("--vgg16-size", type=int, default=64)
    parser.add_argument("--dinov2-size", type=int, default=56, help="a multiple of 14")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per process")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    teachers = [("vgg16", args.vgg16, args.vgg16_size, "VGG16 (real weights)"),
                ("dinov2_vits14_reg", args.dinov2, args.dinov2_size, "DINOv2 ViT-S/14-reg (random weights)")]
    sides = {"fusion off": args.plain, "fusion on": args.fused}
    rows, device = [], None
    for teacher, weights, size, title in teachers:
        times = {side: [] for side in sides}
        losses = {}
        for round_ in range(args.rounds):
            # Alternate the sides every round so drift hits them alike.
            for side, binary in sides.items():
                command = [binary, "--teacher", teacher, "--weights", weights, "--batch", str(args.batch),
                           "--size", str(size), "--steps", str(args.steps), "--warmup", "1", "--cache",
                           "--device", args.device]
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
                result = json.loads(done.stdout.strip().splitlines()[-1])
                device = result.get("device", device)
                times[side] += result["times"]
                losses[side] = result["loss"]
                print(f"{title} round {round_ + 1}: {side}: {statistics.median(result['times']):.3f} s, "
                      f"loss {result['loss']:.6f}", file=sys.stderr, flush=True)
        plain = statistics.median(times["fusion off"])
        for side in sides:
            median = statistics.median(times[side])
            rows.append((title, size, side, median, median / plain, len(times[side]), losses[side]))

    lines = [
        "# burn's kernel fusion: off and on",
        "",
        f"Made by `scripts/bench_fusion.sh` on {datetime.date.today()}, device: {device}. Our training step "
        f"(`bench_step --cache`: target features from the cache, teacher pass on the output on the autodiff "
        f"tape, loss, backward to the output image), batch {args.batch}, built without and with `--features "
        "fusion` (dev profile: dependencies at opt-level 3); sides alternate every round; medians over all "
        "timed steps.",
        "",
        "| teacher | size | side | median step (s) | vs fusion off | steps | loss |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for title, size, side, median, ratio, n, loss in rows:
        lines.append(f"| {title} | {size} | {side} | {median:.3f} | {ratio:.2f}x | {n} | {loss:.8f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
