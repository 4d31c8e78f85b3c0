"""Per-pixel gather operators for DenseField and LinearMotionField (numba, CPU)."""

from __future__ import annotations

import numpy as np

from .._backend import num_threads
from . import _gather_numba as gn
from .boundaries import pad, pad_adjoint


def _band_height(h: int, radius: int) -> int:
    """Band height >= 2r for the two-pass scatter, about 2 bands per thread and pass."""
    return max(2 * radius, 1, -(-h // (4 * num_threads())))


def dense_forward(image, field, boundary):
    r = field.kernel_size // 2
    out = np.empty(image.shape, dtype=image.dtype)
    kernels = np.ascontiguousarray(field.kernels, dtype=image.dtype)
    gn.dense_forward(pad(image, r, boundary), kernels, image.dtype.type(0), out)
    return out


def dense_adjoint(residual, field, boundary):
    r = field.kernel_size // 2
    h, w = residual.shape
    padded = np.zeros((h + 2 * r, w + 2 * r), dtype=residual.dtype)
    kernels = np.ascontiguousarray(field.kernels, dtype=residual.dtype)
    gn.dense_adjoint(residual, kernels, _band_height(h, r), padded)
    return pad_adjoint(padded, residual.shape, r, boundary)


def linear_forward(image, field, boundary):
    r = field.kernel_size // 2
    out = np.empty(image.shape, dtype=image.dtype)
    gn.linear_forward(pad(image, r, boundary), field.length, field.angle, field.kernel_size,
                     image.dtype.type(0), out)
    return out


def linear_adjoint(residual, field, boundary):
    r = field.kernel_size // 2
    h, w = residual.shape
    padded = np.zeros((h + 2 * r, w + 2 * r), dtype=residual.dtype)
    gn.linear_adjoint(residual, field.length, field.angle, field.kernel_size,
                      _band_height(h, r), padded)
    return pad_adjoint(padded, residual.shape, r, boundary)


def linear_forward_channels(image, field, boundary):
    """Forward blur of an (H, W, C) image, building each pixel's kernel once for all C."""
    r = field.kernel_size // 2
    padded = np.stack([pad(np.ascontiguousarray(image[..., c]), r, boundary)
                       for c in range(image.shape[-1])])
    out = np.empty((image.shape[-1],) + image.shape[:2], dtype=image.dtype)
    gn.linear_forward_channels(padded, field.length, field.angle, field.kernel_size,
                               image.dtype.type(0), out)
    return np.moveaxis(out, 0, -1)
