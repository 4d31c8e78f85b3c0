"""Sharp images: the dead-leaves model and folders of photographs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import read_image
from ._leaves_numba import paint_discs

__all__ = ["dead_leaves", "image_folder", "ImageFolder"]

_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def dead_leaves(shape, rng: np.random.Generator, *, r_min: float = 1.0,
                r_max: float | None = None, alpha: float = 3.0, colour: bool = True,
                max_discs: int = 200_000) -> np.ndarray:
    """Dead-leaves image: occluding discs with a scale-invariant radius law.

    Radii follow p(r) ~ r^-alpha on [r_min, r_max] (alpha = 3 gives scale invariance and the
    1/f^2 power spectrum of natural images); centres are uniform (discs may hang over the
    border); colours uniform in [0, 1]^3 (or gray). Discs are laid front to back until every
    pixel is covered.

    Returns
    -------
    float32 ndarray (H, W, 3) or (H, W) if not ``colour``, in [0, 1].
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    h, w = (int(s) for s in shape)
    if h < 1 or w < 1:
        raise ValueError(f"shape must be positive, got {shape!r}")
    r_max = float(max(h, w)) / 2 if r_max is None else float(r_max)
    if not 0 < r_min < r_max:
        raise ValueError(f"need 0 < r_min < r_max, got {r_min}, {r_max}")
    channels = 3 if colour else 1
    out = np.zeros((h, w, channels), dtype=np.float32)
    count = 4096
    while True:  # draw more discs until the canvas is covered
        u = rng.random(count)
        if alpha == 1:
            radius = r_min * (r_max / r_min) ** u
        else:  # inverse CDF of r^-alpha on [r_min, r_max]
            a, b = r_min ** (1 - alpha), r_max ** (1 - alpha)
            radius = (a + u * (b - a)) ** (1 / (1 - alpha))
        cy = rng.uniform(-r_max / 4, h + r_max / 4, count)
        cx = rng.uniform(-r_max / 4, w + r_max / 4, count)
        colours = rng.random((count, channels)).astype(np.float32)
        out[...] = 0
        used = paint_discs(h, w, cy, cx, radius, colours, out)
        if used < count or count >= max_discs:
            break
        count *= 4
    return out if colour else out[..., 0]


class ImageFolder:
    """Sorted image files of a folder, loaded as float32 in [0, 1] on indexing."""

    def __init__(self, path, *, as_gray: bool = False):
        self.path = Path(path)
        if not self.path.is_dir():
            raise ValueError(f"path must be an existing folder, got {str(path)!r}")
        self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in _EXTENSIONS)
        if not self.files:
            raise ValueError(f"no images ({', '.join(_EXTENSIONS)}) in {str(path)!r}")
        self.as_gray = as_gray

    def __len__(self):
        return len(self.files)

    def __getitem__(self, index) -> np.ndarray:
        image, _ = read_image(self.files[index])
        if self.as_gray and image.ndim == 3:
            image = image @ np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)
        if not self.as_gray and image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        return image


def image_folder(path, *, as_gray: bool = False) -> ImageFolder:
    """The images of a folder (e.g. ../shared/data/kodak24 or bsd68), loaded lazily."""
    return ImageFolder(path, as_gray=as_gray)
