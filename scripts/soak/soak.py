"""Flat memory over long runs: folder mode over many generated pairs of mixed sizes, and
`repalign train` for many steps, each sampled for resident memory (VmRSS) as it runs.

    python3 scripts/soak/soak.py --bin target/release/repalign --weights W.safetensors \
        --pairs 1000 --train-steps 1000 --out soak-out

Writes `soak-out/{folder,train}.csv` (seconds, RSS in MiB), `soak-out/rss.svg` (both
curves) and prints, per run, the peak and the growth after warm-up: the median RSS of
the last tenth of the run against the median of the tenth after its first quarter (the
first quarter is warm-up: teachers loaded, and in `train` the L1 run, then the target
cache filling as the RepAlign run first sees each crop). The bound of issue 16 is 5%.
No third-party Python packages: PNGs are written with zlib.
"""

import argparse
import os
import random
import statistics
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path


def write_png(path, width, height, rows):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + row for row in rows)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")
    path.write_bytes(png)


def make_pairs(folder, count, seed):
    """`count` pairs of mixed sizes (most ordinary, some thin, some large) in folder/{output,target}."""
    rng = random.Random(seed)
    out, tgt = folder / "output", folder / "target"
    out.mkdir(parents=True, exist_ok=True)
    tgt.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        kind = rng.random()
        if kind < 0.05:
            width, height = rng.choice([(2, 900), (900, 2), (1, 500), (500, 1)])
        elif kind < 0.15:
            width, height = rng.randint(500, 900), rng.randint(500, 900)
        else:
            width, height = rng.randint(32, 400), rng.randint(32, 400)
        rows = [os.urandom(3 * width) for _ in range(height)]
        noisy = [bytes(min(255, b + 8) for b in row) if r % 7 == 0 else row for r, row in enumerate(rows)]
        write_png(out / f"{i:05}.png", width, height, noisy)
        write_png(tgt / f"{i:05}.png", width, height, rows)


def sample_rss(command, csv_path, env=None, period=0.25):
    """Runs `command`, sampling its VmRSS; returns [(seconds, MiB)] and the exit code."""
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    samples = []
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    samples.append((time.monotonic() - start, int(line.split()[1]) / 1024))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(period)
    stderr = process.stderr.read().decode(errors="replace")
    csv_path.write_text("seconds,rss_mib\n" + "".join(f"{t:.2f},{m:.1f}\n" for t, m in samples))
    return samples, process.returncode, stderr


def growth(samples):
    n = len(samples)
    if n < 20:
        return float("nan")
    early = statistics.median(m for _, m in samples[n // 4 : n * 35 // 100])
    late = statistics.median(m for _, m in samples[n - n // 10 :])
    return 100.0 * (late - early) / early


def svg(curves, path):
    width, height, pad = 720, 360, 50
    t_max = max(t for samples, _ in curves for t, _ in samples) or 1
    m_max = max(m for samples, _ in curves for _, m in samples) * 1.1 or 1
    lines = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - 10}" y2="{height - pad}" stroke="black"/>',
        f'<line x1="{pad}" y1="10" x2="{pad}" y2="{height - pad}" stroke="black"/>',
        f'<text x="{width / 2}" y="{height - 12}" text-anchor="middle">seconds (run time, each run from 0)</text>',
        f'<text x="14" y="{height / 2}" transform="rotate(-90 14 {height / 2})" text-anchor="middle">RSS (MiB)</text>',
    ]
    for k in range(5):
        m = m_max * k / 4
        y = height - pad - (height - pad - 10) * k / 4
        lines.append(f'<text x="{pad - 4}" y="{y + 4}" text-anchor="end">{m:.0f}</text>')
        t = t_max * k / 4
        x = pad + (width - pad - 10) * k / 4
        lines.append(f'<text x="{x}" y="{height - pad + 16}" text-anchor="middle">{t:.0f}</text>')
    for (samples, label), colour, row in zip(curves, ["#1f77b4", "#d62728"], [0, 1]):
        points = " ".join(
            f"{pad + (width - pad - 10) * t / t_max:.1f},{height - pad - (height - pad - 10) * m / m_max:.1f}"
            for t, m in samples
        )
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>')
        lines.append(f'<text x="{pad + 10}" y="{24 + 16 * row}" fill="{colour}">{label}</text>')
    lines.append("</svg>")
    path.write_text("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--weights", required=True, help="VGG16 safetensors for folder mode")
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--train-steps", type=int, default=1000, help="0: folder mode only")
    parser.add_argument("--out", default="soak-out")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = []

    make_pairs(out / "pairs", args.pairs, seed=0)
    command = [args.bin, "compare", str(out / "pairs/output"), str(out / "pairs/target"),
               "--teacher", "vgg16", "--weights", args.weights]
    samples, code, stderr = sample_rss(command, out / "folder.csv")
    print(f"folder mode, {args.pairs} pairs: exit {code}, {len(samples)} samples, "
          f"peak {max(m for _, m in samples):.0f} MiB, growth after warm-up {growth(samples):+.1f}%")
    if code not in (0, 1):
        sys.exit(f"folder mode failed: {stderr[-2000:]}")
    curves.append((samples, f"folder mode, {args.pairs} pairs (VGG16)"))

    if args.train_steps == 0:
        svg(curves, out / "rss.svg")
        print(f"curves: {out / 'rss.svg'} (train skipped: --train-steps 0)")
        return
    command = [args.bin, "train", "--steps", str(args.train_steps), "--out", str(out / "train-out")]
    samples, code, stderr = sample_rss(command, out / "train.csv")
    print(f"train, {args.train_steps} steps per run: exit {code}, {len(samples)} samples, "
          f"peak {max(m for _, m in samples):.0f} MiB, growth after warm-up {growth(samples):+.1f}%")
    if code != 0:
        sys.exit(f"train failed: {stderr[-2000:]}")
    curves.append((samples, f"train, {args.train_steps} steps x 2 runs"))
    svg(curves, out / "rss.svg")
    print(f"curves: {out / 'rss.svg'}")


if __name__ == "__main__":
    main()
