"""numba rasteriser of MATLAB ``fspecial('motion', len, theta)`` (the one source of linear kernels).

Used by ``linear_kernel`` and by the per-pixel gather of ``LinearMotionField``, so that both
build bit-identical kernels. The leaf functions (``_geometry``, ``_half_extent``,
``_half_weight``) use only ``math`` so that ``operators._gather_cuda`` compiles the same Python
functions as CUDA device functions.
"""

import math

import numpy as np
from numba import njit

_EPS = 2.220446049250313e-16  # MATLAB eps


@njit(cache=True, nogil=True)
def _geometry(length, theta):
    """fspecial's (length, half length, cos, sin, sign of cos) for an angle in degrees."""
    length = max(1.0, length)
    phi = (theta % 180.0) / 180.0 * math.pi
    cosphi = math.cos(phi)
    xsign = 1.0 if cosphi > 0 else (-1.0 if cosphi < 0 else 0.0)
    return length, (length - 1.0) / 2.0, cosphi, math.sin(phi), xsign


@njit(cache=True, nogil=True)
def _half_extent(length, half, cosphi, sinphi, xsign):
    sx = math.trunc(half * cosphi + xsign - length * _EPS)
    sy = math.trunc(half * sinphi + 1.0 - length * _EPS)
    return int(sy), int(abs(sx))


@njit(cache=True, nogil=True)
def _half_weight(yy, xx, half, cosphi, sinphi, xsign):
    """Unnormalised fspecial weight of half-matrix entry (yy, xx) >= 0."""
    y = float(yy)
    x = xx * xsign
    d = y * cosphi - x * sinphi
    rad = math.sqrt(x * x + y * y)
    if rad >= half and abs(d) <= 1.0:
        x2last = half - abs((x + d * sinphi) / cosphi)
        d = math.sqrt(d * d + x2last * x2last)
    d = 1.0 + _EPS - abs(d)
    return d if d > 0.0 else 0.0


@njit(cache=True, nogil=True)
def motion_half_extent(length, theta):
    """(sy, |sx|) of the fspecial half matrix; the full kernel is (2 sy + 1) x (2 |sx| + 1)."""
    return _half_extent(*_geometry(length, theta))


@njit(cache=True, nogil=True)
def motion_kernel_into(length, theta, out):
    """Write fspecial('motion', length, theta) into ``out[:hk, :wk]``; returns (hk, wk).

    ``out`` must be at least (2 sy + 1) x (2 |sx| + 1) (see ``motion_half_extent``); entries
    outside ``[:hk, :wk]`` are left untouched.
    """
    length, half, cosphi, sinphi, xsign = _geometry(length, theta)
    sy, ax = _half_extent(length, half, cosphi, sinphi, xsign)
    ny = sy + 1
    nx = ax + 1
    hk = 2 * ny - 1
    wk = 2 * nx - 1
    for i in range(hk):
        for j in range(wk):
            out[i, j] = 0.0
    total = 0.0
    for yy in range(ny):
        for xx in range(nx):
            d = _half_weight(yy, xx, half, cosphi, sinphi, xsign)
            # bottom-right quadrant holds the half matrix, top-left its 180 degree rotation
            out[ny - 1 + yy, nx - 1 + xx] = d
            out[ny - 1 - yy, nx - 1 - xx] = d
            total += d if (yy == 0 and xx == 0) else 2.0 * d
    scale = 1.0 / (total + _EPS * length * length)
    for i in range(hk):
        for j in range(wk):
            out[i, j] *= scale
    if cosphi > 0:  # flipud
        for i in range(hk // 2):
            for j in range(wk):
                tmp = out[i, j]
                out[i, j] = out[hk - 1 - i, j]
                out[hk - 1 - i, j] = tmp
    return hk, wk


@njit(cache=True, nogil=True)
def motion_kernels_batch(lengths, angles, size, out):
    """``out[n]`` = fspecial kernel n centred in a size x size array (zeros elsewhere)."""
    buf = np.empty((size, size))
    c = size // 2
    for n in range(lengths.shape[0]):
        hk, wk = motion_kernel_into(lengths[n], angles[n], buf)
        out[n, :, :] = 0.0
        r0 = c - hk // 2
        c0 = c - wk // 2
        for i in range(hk):
            for j in range(wk):
                out[n, r0 + i, c0 + j] = buf[i, j]


@njit(cache=True, nogil=True)
def max_motion_size(lengths, angles):
    """Smallest odd K holding every (length, angle) kernel of the flattened maps."""
    size = 1
    for n in range(lengths.shape[0]):
        sy, ax = motion_half_extent(lengths[n], angles[n])
        size = max(size, 2 * max(sy, ax) + 1)
    return size
