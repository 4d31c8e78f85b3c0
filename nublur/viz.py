"""Pictures of kernel fields (numpy images, written with imageio).

* ``kernel_grid``: each pixel's PSF sampled on a grid and drawn over the image, as in the
  papers' figures;
* ``flow_colours``: a linear-motion field in colour-wheel coding (hue = direction modulo 180,
  brightness = length);
* ``basis_panels``: basis kernels above their mixing maps (000 Fig. 2 style).
"""

from __future__ import annotations

import numpy as np
from skimage.color import gray2rgb, hsv2rgb
from skimage.transform import resize

from .fields import BasisField, GridField, KernelField, LinearMotionField, UniformField

__all__ = ["kernel_grid", "flow_colours", "basis_panels"]


def _rgb(image):
    image = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    return gray2rgb(image) if image.ndim == 2 else image.copy()


def kernel_grid(image, field: KernelField, grid: int = 6, zoom: int = 2) -> np.ndarray:
    """The image (darkened) with the PSF of ``grid`` x ``grid`` sample pixels drawn over it.

    Each PSF is scaled to its maximum, magnified up to ``zoom`` times (less where the boxes
    would overlap), and drawn in yellow on a dark box centred on its pixel, so the picture
    shows where and how the blur changes.
    """
    out = 0.6 * _rgb(image)
    h, w = out.shape[:2]
    k = field.kernel_size
    zoom = max(1, min(zoom, min(h, w) // (grid * k)))  # boxes must not overlap
    size = k * zoom
    rows = np.linspace(size // 2, h - 1 - size // 2, grid).astype(int) if h > size else [h // 2]
    cols = np.linspace(size // 2, w - 1 - size // 2, grid).astype(int) if w > size else [w // 2]
    for r in rows:
        for c in cols:
            psf = field.kernel_at(int(r), int(c))
            psf = np.kron(psf / max(psf.max(), 1e-12), np.ones((zoom, zoom)))
            top, left = max(r - size // 2, 0), max(c - size // 2, 0)
            patch = psf[:h - top, :w - left]
            box = out[top:top + patch.shape[0], left:left + patch.shape[1]]
            box *= 0.25
            box += patch[..., None] * np.array([1.0, 0.9, 0.1])
    return np.clip(out, 0, 1)


def flow_colours(field: LinearMotionField, max_length: float | None = None) -> np.ndarray:
    """Colour-wheel picture of a linear-motion field: hue = angle (mod 180), value = length."""
    max_length = max_length or max(float(field.length.max()), 1.0)
    hsv = np.stack([field.angle / 180.0, np.ones(field.image_shape),
                    np.clip(field.length / max_length, 0, 1)], axis=-1)
    return hsv2rgb(hsv).astype(np.float32)


def basis_panels(field: BasisField, height: int = 96) -> np.ndarray:
    """Basis kernels (top row, each scaled to its max) above their mixing maps (bottom row).

    A ``GridField`` is drawn as its grid of kernels (row by row, as they sit on the image),
    a ``UniformField`` as its one PSF.
    """
    if isinstance(field, UniformField):
        return _kernel_tile(field.psf, height)
    if isinstance(field, GridField):
        rows = [np.concatenate([_kernel_tile(k, height) for k in row], axis=1)
                for row in field.grid_kernels]
        return np.concatenate(rows, axis=0)
    h, w = field.image_shape
    width = max(8, int(round(height * w / h)))
    tiles = []
    for kernel, mixing in zip(field.kernels, field.mixing):
        top = resize(kernel / max(kernel.max(), 1e-12), (height, height), order=0)
        top = np.pad(top, ((0, 0), (0, max(width - height, 0))))[:, :max(width, height)]
        bottom = resize(mixing, (height, top.shape[1]), anti_aliasing=True)
        tiles.append(np.pad(np.concatenate([top, bottom], 0), 2, constant_values=0.5))
    return np.clip(np.concatenate(tiles, axis=1), 0, 1).astype(np.float32)


def _kernel_tile(kernel, height):
    tile = resize(kernel / max(kernel.max(), 1e-12), (height, height), order=0)
    return np.clip(np.pad(tile, 2, constant_values=0.5), 0, 1).astype(np.float32)
