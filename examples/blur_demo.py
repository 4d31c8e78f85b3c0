"""Blur a built-in photograph with a spatially varying field and write the result.

The field is the linear motion of an in-plane camera rotation about the image centre: no blur
at the centre, tangential streaks growing towards the corners. Writes OUT/sharp.png,
OUT/blurred.png and OUT/field.npz (per-pixel length and angle).

Run: python examples/blur_demo.py [--out out] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from skimage import data
from skimage.util import img_as_float32

import nublur
from nublur.io import write_image


def rotation_field(shape, degrees: float = 4.0) -> nublur.LinearMotionField:
    """Linear-motion field of a camera rotation by ``degrees`` during the exposure."""
    h, w = shape
    rows, cols = np.indices(shape, dtype=np.float64)
    x, y = cols - (w - 1) / 2, (h - 1) / 2 - rows  # y up, as the flow convention
    omega = np.radians(degrees)
    return nublur.LinearMotionField.from_flow(-omega * y, omega * x)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out"))
    parser.add_argument("--degrees", type=float, default=4.0,
                        help="camera rotation during the exposure")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    sharp = img_as_float32(data.astronaut())
    field = rotation_field(sharp.shape[:2], args.degrees)
    blurred = nublur.blur(sharp, field, channel_axis=-1)

    write_image(args.out / "sharp.png", sharp, force=True)  # atomic, 8-bit
    write_image(args.out / "blurred.png", blurred, force=True)
    np.savez_compressed(args.out / "field.npz", length=field.length, angle=field.angle)
    print(f"blurred {sharp.shape[1]}x{sharp.shape[0]} RGB with {field}; wrote {args.out}/")


if __name__ == "__main__":
    main()
