"""Writes the odd-but-valid and broken image files of the CLI's bad-input tests
(crates/repalign-cli/tests/fixtures/images). Each is tiny; the expected decoded
values are stated next to each file here and asserted in tests/bad_inputs.rs.

    .venv/bin/python scripts/reference/make_image_fixtures.py crates/repalign-cli/tests/fixtures/images
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image

out = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/repalign-cli/tests/fixtures/images")
out.mkdir(parents=True, exist_ok=True)
W, H = 12, 8

# Gray 128 everywhere -> RGB (128/255,)*3.
Image.new("L", (W, H), 128).save(out / "gray.png")
# Gray 64 with alpha 10 -> alpha dropped: (64/255,)*3.
Image.new("LA", (W, H), (64, 10)).save(out / "gray_alpha.png")
# RGBA (200, 100, 50, 0): fully transparent, alpha dropped -> (200, 100, 50)/255.
Image.new("RGBA", (W, H), (200, 100, 50, 0)).save(out / "rgba.png")
# 16-bit gray 16384 -> 16384/65535.
Image.fromarray(np.full((H, W), 16384, dtype=np.uint16)).save(out / "gray16.png")
# 16-bit RGB: PIL cannot write it; a PNG writer by hand would be needed, so the
# 16-bit RGB case is generated in Rust by the test itself.
# Palette: index 1 = (10, 20, 30) everywhere.
palette = Image.new("P", (W, H), 1)
palette.putpalette([0, 0, 0, 10, 20, 30] + [0] * (256 * 3 - 6))
palette.save(out / "palette.png")
# CMYK JPEG of pure red (C=0, M=255, Y=255, K=0) -> RGB close to (1, 0, 0).
Image.new("CMYK", (W, H), (0, 255, 255, 0)).save(out / "cmyk.jpg", quality=95)
# EXIF orientation 6 (rotate 90 clockwise to view): stored 12 wide, 8 high, left half
# white and right half black -> shown 8 wide, 12 high, top half white.
stored = np.zeros((H, W, 3), dtype=np.uint8)
stored[:, : W // 2] = 255
exif = Image.Exif()
exif[0x0112] = 6
Image.fromarray(stored).save(out / "exif_rotated.jpg", quality=95, exif=exif.tobytes())
# A valid PNG cut in half, and bytes that are no image at all.
Image.new("RGB", (64, 64), (1, 2, 3)).save(out / "whole.png")
data = (out / "whole.png").read_bytes()
(out / "truncated.png").write_bytes(data[: len(data) // 2])
(out / "whole.png").unlink()
(out / "garbage.png").write_bytes(bytes(range(256)) * 4)
(out / "empty.png").write_bytes(b"")
print("wrote", sorted(p.name for p in out.iterdir()))
