"""Total-variation term of regularised Richardson-Lucy (000 eqs. 13-14)."""

from __future__ import annotations

import numpy as np

__all__ = ["tv_divergence"]


def tv_divergence(x: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """div(grad x / |grad x|) with unit finite differences, per channel of (H, W, C).

    Forward differences for the gradient (zero across the last row/column, i.e. Neumann) and
    the matching backward differences for the divergence, so that div = -grad^T. ``eps``
    smooths |grad x| = sqrt(gx^2 + gy^2 + eps^2) where the image is flat.
    """
    gy = np.zeros_like(x)
    gx = np.zeros_like(x)
    gy[:-1] = x[1:] - x[:-1]
    gx[:, :-1] = x[:, 1:] - x[:, :-1]
    norm = np.sqrt(gx * gx + gy * gy + x.dtype.type(eps * eps))
    gy /= norm
    gx /= norm
    div = gy.copy()
    div[1:] -= gy[:-1]
    div[:, 0] += gx[:, 0]
    div[:, 1:] += gx[:, 1:] - gx[:, :-1]
    return div
