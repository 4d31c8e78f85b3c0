"""Pictures of kernel fields (numpy images, written with imageio).

* ``kernel_grid``: each pixel's PSF sampled on a grid and drawn over the image, as in the
  papers' figures;
* ``flow_colours``: a linear-motion field in colour-wheel coding (hue = direction modulo 180,
  brightness = length);
* ``basis_panels``: basis kernels above their mixing maps (000 Fig. 2 style);
* ``kernel_panel``: a stack of PSFs as a contact sheet (e.g. samples of the kernel prior);
* ``uncertainty_overlay``: a ``LatentField``'s per-pixel kernel uncertainty over the image.
"""

from __future__ import annotations

import numpy as np
from skimage.color import gray2rgb, hsv2rgb
from skimage.transform import resize

from .fields import (BasisField, GridField, KernelField, LatentField, LinearMotionField,
                     UniformField)

__all__ = ["kernel_grid", "flow_colours", "basis_panels", "kernel_panel", "uncertainty_overlay"]


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


def kernel_panel(kernels, columns: int = 8, height: int = 48) -> np.ndarray:
    """PSFs (n, K, K) in rows of ``columns`` tiles, each scaled to its maximum (gray)."""
    kernels = np.asarray(kernels, dtype=np.float32)
    if kernels.ndim != 3 or kernels.shape[1] != kernels.shape[2]:
        raise ValueError(f"kernels must have shape (n, K, K), got {kernels.shape}")
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be an integer >= 1, got {columns!r}")
    tiles = [_kernel_tile(k, height) for k in kernels]
    blank = np.full_like(tiles[0], 0.5)
    tiles += [blank] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)


def uncertainty_overlay(image, field: LatentField, *, samples: int = 8, seed: int = 0,
                        scale: float | None = None) -> np.ndarray:
    """The image (gray, darkened) with ``field.uncertainty()`` in red on top: red = 1 at
    ``scale`` (default the map's maximum), so certain regions stay gray."""
    if not isinstance(field, LatentField):
        raise TypeError(f"field must be a LatentField, got {type(field).__name__}")
    base = _rgb(image)
    if base.shape[:2] != field.image_shape:
        raise ValueError(f"image has spatial shape {base.shape[:2]} but the field is defined "
                         f"on {field.image_shape}")
    u = field.uncertainty(samples=samples, seed=seed)
    top = float(u.max()) if scale is None else float(scale)
    red = np.clip(u / max(top, 1e-12), 0, 1)[..., None]
    gray = 0.6 * base.mean(axis=2, keepdims=True)
    return np.clip(gray * (1 - red) + red * np.array([1.0, 0.1, 0.1], np.float32), 0,
                   1).astype(np.float32)
