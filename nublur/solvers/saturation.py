"""Saturated-region mask of Whyte et al.'s saturation-aware Richardson-Lucy (000 section 7.1)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_erosion, uniform_filter

__all__ = ["unsaturated_weight"]

_BOX = np.ones((3, 3), dtype=bool)


def unsaturated_weight(estimate_pixel: np.ndarray, threshold: float = 0.99) -> np.ndarray:
    """Smooth weight u in [0, 1], 1 on reliable (unsaturated) pixels, per channel.

    As the authors' code (REFERENCE_NOTES.md): u = [x < threshold] on the current estimate in
    pixel space, the unsaturated region eroded by a 3x3 box (so the saturated region grows by
    one pixel), then smoothed by a 3x3 mean filter.
    """
    weight = np.empty(estimate_pixel.shape, dtype=estimate_pixel.dtype)
    for c in range(estimate_pixel.shape[-1]):
        reliable = binary_erosion(estimate_pixel[..., c] < threshold, _BOX, border_value=1)
        weight[..., c] = uniform_filter(reliable.astype(estimate_pixel.dtype), 3, mode="nearest")
    return weight
