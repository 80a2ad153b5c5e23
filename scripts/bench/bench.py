"""Side-by-side benchmark of one training step of the loss: the PyTorch original vs
ours without and with the target cache, alternating, same threads and inputs.
Median step time, ratio to PyTorch, and each process's peak RSS; writes a markdown
table. Run through `scripts/bench.sh`, which builds ours and sets the paths.

    python bench.py --ours BIN --vgg16 W.safetensors --dinov2 W.safetensors --out BENCHMARKS.md
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ours", required=True, help="the bench_step example binary")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--vgg16", required=True)
    parser.add_argument("--dinov2", required=True)
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per process")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    teachers = [("vgg16", args.vgg16, "VGG16 (real weights)"),
                ("dinov2_vits14_reg", args.dinov2, "DINOv2 ViT-S/14-reg (random weights)")]
    sides = {
        "PyTorch original": lambda t, w, b: [args.python, str(HERE / "torch_step.py"), "--teacher", t,
                                             "--weights", w, "--batch", str(b), "--steps", str(args.steps),
                                             "--threads", str(args.threads)],
        "repalign, no cache": lambda t, w, b: [args.ours, "--teacher", t, "--weights", w, "--batch", str(b),
                                               "--steps", str(args.steps)],
        "repalign, target cache": lambda t, w, b: [args.ours, "--teacher", t, "--weights", w, "--batch",
                                                   str(b), "--steps", str(args.steps), "--cache"],
    }
    rows = []
    for teacher, weights, title in teachers:
        for batch in map(int, args.batches.split(",")):
            times = {side: [] for side in sides}
            phases = {side: {} for side in sides}
            peaks = {side: 0.0 for side in sides}
            for round_ in range(args.rounds):
                # Alternate the sides every round so drift hits them alike.
                for side, command in sides.items():
                    result, peak = measure(command(teacher, weights, batch), args.threads)
                    times[side] += result["times"]
                    for phase, values in result.get("phases", {}).items():
                        phases[side].setdefault(phase, []).extend(values)
                    peaks[side] = max(peaks[side], peak)
                    print(f"{title} b{batch} round {round_ + 1}: {side}: "
                          f"{statistics.median(result['times']):.3f} s, {peak:.0f} MiB, loss {result['loss']:.6f}",
                          file=sys.stderr, flush=True)
            base = statistics.median(times["PyTorch original"])
            base_rss = peaks["PyTorch original"]
            for side in sides:
                median = statistics.median(times[side])
                split = {phase: statistics.median(values) for phase, values in phases[side].items()}
                rows.append((title, batch, side, median, median / base, peaks[side], peaks[side] / base_rss,
                             len(times[side]), split))

    lines = [
        "# Benchmark: one training step of the loss",
        "",
        f"Made by `scripts/bench.sh` on {datetime.date.today()} ({platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, {args.threads} threads per side, 224x224 images). A step is: teacher pass on "
        "the target (no autodiff; with the cache, a lookup), teacher pass on the output on the autodiff tape, "
        "loss, backward to the output image. Sides alternate every round; medians over all timed steps; "
        "peak RSS is the whole process's.",
        "",
        "| teacher | batch | side | median step (s) | vs PyTorch | peak RSS (MiB) | vs PyTorch | steps |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for title, batch, side, median, ratio, rss, rss_ratio, n, _ in rows:
        lines.append(f"| {title} | {batch} | {side} | {median:.3f} | {ratio:.2f}x | {rss:.0f} | {rss_ratio:.2f}x | {n} |")
    lines += [
        "",
        "Where the time goes (median seconds per phase; target = teacher pass on the ground truth, "
        "or the cache lookup; forward = teacher pass on the output, recording the tape; loss = the grouped "
        "normalise-and-compare over all taps; backward = gradient back to the output image):",
        "",
        "| teacher | batch | side | target | forward | loss | backward |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for title, batch, side, *_, split in rows:
        cells = " | ".join(f"{split.get(p, float('nan')):.3f}" for p in ("target", "forward", "loss", "backward"))
        lines.append(f"| {title} | {batch} | {side} | {cells} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def measure(command, threads):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    stdout = process.stdout.read()
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        sys.exit(f"{' '.join(map(str, command))} failed ({status}):\n{stderr.decode()[-2000:]}")
    # ru_maxrss is in KiB on Linux.
    return json.loads(stdout.decode().strip().splitlines()[-1]), usage.ru_maxrss / 1024


if __name__ == "__main__":
    main()
