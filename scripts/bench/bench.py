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
    parser.add_argument("--ours-tch", help="bench_step built with --features tch: adds the LibTorch side")
    parser.add_argument("--ours-tch-lib", help="libtorch's lib folder, on LD_LIBRARY_PATH of that side only "
                        "(on the PyTorch side it would shadow the reference venv's own libtorch)")
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
    torch = lambda t, w, b: [args.python, str(HERE / "torch_step.py"), "--teacher", t, "--weights", w,
                             "--batch", str(b), "--steps", str(args.steps), "--threads", str(args.threads)]
    ours = lambda binary, *flags: lambda t, w, b: [binary, "--teacher", t, "--weights", w, "--batch", str(b),
                                                   "--steps", str(args.steps), *flags]
    # Each side: (command, extra environment).
    sides = {
        "PyTorch original": (torch, {}),
        # Our binaries tune glibc's malloc at startup (malloc::tune_for_tensors in the repalign binary and bench_step);
        # this side gives PyTorch the same settings, so that the gap is not the allocator.
        "PyTorch original, our malloc settings": (torch, TUNED_MALLOC),
        "repalign, no cache": (ours(args.ours), {}),
        "repalign, target cache": (ours(args.ours, "--cache"), {}),
    }
    if args.ours_tch:
        env = {"LD_LIBRARY_PATH": args.ours_tch_lib} if args.ours_tch_lib else {}
        sides["repalign on LibTorch, target cache"] = (ours(args.ours_tch, "--cache", "--device", "libtorch"), env)
    rows = []
    for teacher, weights, title in teachers:
        for batch in map(int, args.batches.split(",")):
            times = {side: [] for side in sides}
            phases = {side: {} for side in sides}
            peaks = {side: 0.0 for side in sides}
            for round_ in range(args.rounds):
                # Alternate the sides every round so drift hits them alike.
                for side, (command, env) in sides.items():
                    result, peak = measure(command(teacher, weights, batch), args.threads, env)
                    times[side] += result["times"]
                    for phase, values in merge_forward_and_loss(result.get("phases", {})).items():
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
        "peak RSS is the whole process's. Our binaries set glibc's malloc to keep freed tensor buffers "
        "(`malloc::tune_for_tensors in the repalign binary and bench_step`, called first thing in `main`); the row \"PyTorch original, our "
        "malloc settings\" runs the PyTorch side with the same settings (glibc's `MALLOC_*_` variables); ratios "
        "are to the plain PyTorch original, as its users run it.",
        "",
        "| teacher | batch | side | median step (s) | vs PyTorch | peak RSS (MiB) | vs PyTorch | steps |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for title, batch, side, median, ratio, rss, rss_ratio, n, _ in rows:
        lines.append(f"| {title} | {batch} | {side} | {median:.3f} | {ratio:.2f}x | {rss:.0f} | {rss_ratio:.2f}x | {n} |")
    lines += [
        "",
        "Where the time goes (median seconds per phase; target = teacher pass on the ground truth, "
        "or the cache lookup; forward + loss = teacher pass on the output, recording the tape, and the "
        "grouped normalise-and-compare over all taps (ours compares each tap as it is produced, so the two "
        "are one phase); backward = gradient back to the output image):",
        "",
        "| teacher | batch | side | target | forward + loss | backward |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for title, batch, side, *_, split in rows:
        cells = " | ".join(f"{split.get(p, float('nan')):.3f}" for p in ("target", "forward_loss", "backward"))
        lines.append(f"| {title} | {batch} | {side} | {cells} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


# glibc's environment names for what malloc::tune_for_tensors in the repalign binary and bench_step sets with mallopt.
TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
                "MALLOC_TOP_PAD_": str(256 << 20)}


def merge_forward_and_loss(phases):
    """Ours compares each tap as the teacher produces it (`loss_against`), so its output
    pass and its loss are one phase; PyTorch's two are added step by step to match."""
    if "forward" in phases and "loss" in phases:
        phases = dict(phases)
        phases["forward_loss"] = [f + l for f, l in zip(phases.pop("forward"), phases.pop("loss"))]
    return phases


def measure(command, threads, extra_env):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), **extra_env)
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
