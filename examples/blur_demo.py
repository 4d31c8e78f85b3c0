"""Blur a built-in photograph with a spatially varying field and write the result.

The field is the linear motion of an in-plane camera rotation about the image centre: no blur
at the centre, tangential streaks growing towards the corners. Writes OUT/sharp.png,
OUT/blurred.png and OUT/field.npz (per-pixel length and angle).

Run: python examples/blur_demo.py [--out out] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from skimage import data
from skimage.util import img_as_float32, img_as_ubyte

import nublur


def rotation_field(shape, degrees: float = 4.0) -> nublur.LinearMotionField:
    """Linear-motion field of a camera rotation by ``degrees`` during the exposure."""
    h, w = shape
    rows, cols = np.indices(shape, dtype=np.float64)
    x, y = cols - (w - 1) / 2, (h - 1) / 2 - rows  # y up, as the flow convention
    omega = np.radians(degrees)
    return nublur.LinearMotionField.from_flow(-omega * y, omega * x)


def write_png(path: Path, image: np.ndarray) -> None:
    """Write atomically: a temporary file in the same folder, then a rename."""
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        iio.imwrite(tmp, img_as_ubyte(np.clip(image, 0, 1)))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


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

    write_png(args.out / "sharp.png", sharp)
    write_png(args.out / "blurred.png", blurred)
    np.savez_compressed(args.out / "field.npz", length=field.length, angle=field.angle)
    print(f"blurred {sharp.shape[1]}x{sharp.shape[0]} RGB with {field}; wrote {args.out}/")


if __name__ == "__main__":
    main()
