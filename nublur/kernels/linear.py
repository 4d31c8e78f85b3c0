"""Linear motion kernels, compatible with MATLAB ``fspecial('motion', len, theta)``."""

from __future__ import annotations

import numbers

import numpy as np

from ._motion_numba import motion_half_extent, motion_kernel_into

__all__ = ["linear_kernel", "linear_kernel_size"]


def _check_motion(length, angle):
    for name, value in (("length", length), ("angle", angle)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if length < 0:
        raise ValueError(f"length must be >= 0 (values below 1 give the delta), got {length!r}")


def linear_kernel_size(length: float, angle: float) -> int:
    """Smallest odd K such that ``linear_kernel(length, angle)`` fits in K x K."""
    _check_motion(length, angle)
    sy, ax = motion_half_extent(float(length), float(angle))
    return 2 * max(sy, ax) + 1


def linear_kernel(length: float, angle: float, size: int | None = None,
                  dtype=np.float64) -> np.ndarray:
    """PSF of a linear motion of ``length`` pixels at ``angle`` degrees.

    Reproduces MATLAB ``fspecial('motion', length, angle)`` (an anti-aliased line of width 1,
    normalised to sum 1; 002 eq. 4 discretised), centred in a square odd ``size`` x ``size``
    array. The angle is counter-clockwise from the +x axis with image rows pointing down
    (DESIGN.md section 1); lengths below 1 give the delta.

    Parameters
    ----------
    length, angle : float
        Motion length in pixels (>= 0) and angle in degrees (any real, taken modulo 180).
    size : int, optional
        Odd output size; default the smallest that holds the kernel.
    dtype : numpy dtype
        float64 (default) or float32.

    Returns
    -------
    ndarray, shape (size, size)
    """
    _check_motion(length, angle)
    needed = linear_kernel_size(length, angle)
    if size is None:
        size = needed
    elif isinstance(size, bool) or not isinstance(size, numbers.Integral) or size % 2 == 0 \
            or size < needed:
        raise ValueError(f"size must be an odd integer >= {needed} for length {length} and "
                         f"angle {angle}, got {size!r}")
    sy, ax = motion_half_extent(float(length), float(angle))
    raw = np.empty((2 * sy + 1, 2 * ax + 1))
    motion_kernel_into(float(length), float(angle), raw)
    out = np.zeros((size, size))
    c = size // 2
    out[c - sy:c + sy + 1, c - ax:c + ax + 1] = raw
    return out.astype(dtype, copy=False)
