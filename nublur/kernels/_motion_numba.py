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
def _band(yy, nx, cosphi, sinphi, xsign):
    """Columns [lo, hi) of half-matrix row ``yy`` that can hold a nonzero weight.

    A weight is nonzero only where the distance to the line, |y cos - x sin| (raised further
    at the end caps), is below 1 + eps: a band about 2 / |sin| wide; one cell of margin on
    each side absorbs rounding.
    """
    slope = xsign * sinphi
    if abs(slope) < 1e-9:
        return 0, nx
    a = (yy * cosphi - 1.0) / slope
    b = (yy * cosphi + 1.0) / slope
    if slope < 0.0:
        a, b = b, a
    lo = int(math.floor(min(max(a, -2.0), nx + 2.0))) - 1
    hi = int(math.ceil(min(max(b, -2.0), nx + 2.0))) + 2
    lo, hi = max(lo, 0), min(hi, nx)
    return (lo, hi) if lo < hi else (0, 0)


@njit(cache=True, nogil=True)
def motion_kernel_rows(length, theta, out, lo, hi):
    """fspecial('motion', length, theta) on its nonzero band only; returns (hk, wk).

    Row i of the (hk, wk) kernel is written to ``out[i, lo[i]:hi[i]]``; every entry outside
    those ranges is zero and is not written. The weights, their sum and their scaling are
    those of the full rasterisation (``motion_kernel_into``), entry for entry, at a cost
    proportional to the length instead of the kernel's area.
    """
    length, half, cosphi, sinphi, xsign = _geometry(length, theta)
    sy, ax = _half_extent(length, half, cosphi, sinphi, xsign)
    ny = sy + 1
    nx = ax + 1
    hk = 2 * ny - 1
    wk = 2 * nx - 1
    total = 0.0
    for yy in range(ny):
        b0, b1 = _band(yy, nx, cosphi, sinphi, xsign)
        # bottom-right quadrant holds the half matrix, top-left its 180 degree rotation;
        # fspecial's final flipud (cos > 0) swaps the two rows
        lower, upper = ny - 1 + yy, ny - 1 - yy
        if cosphi > 0:
            lower, upper = upper, lower
        lo[lower], hi[lower] = nx - 1 + b0, nx - 1 + b1
        lo[upper], hi[upper] = nx - b1, nx - b0
        if yy == 0:  # the centre row takes both halves (its band always holds x = 0)
            lo[lower], hi[lower] = nx - b1, nx - 1 + b1
        for xx in range(b0, b1):
            d = _half_weight(yy, xx, half, cosphi, sinphi, xsign)
            out[lower, nx - 1 + xx] = d
            out[upper, nx - 1 - xx] = d
            total += d if (yy == 0 and xx == 0) else 2.0 * d
    scale = 1.0 / (total + _EPS * length * length)
    for i in range(hk):
        for j in range(lo[i], hi[i]):
            out[i, j] *= scale
    return hk, wk


@njit(cache=True, nogil=True)
def motion_kernel_into(length, theta, out):
    """Write fspecial('motion', length, theta) into ``out[:hk, :wk]``; returns (hk, wk).

    ``out`` must be at least (2 sy + 1) x (2 |sx| + 1) (see ``motion_half_extent``); entries
    outside ``[:hk, :wk]`` are left untouched.
    """
    size = max(out.shape[0], out.shape[1])
    lo = np.empty(size, dtype=np.int64)
    hi = np.empty(size, dtype=np.int64)
    sy, ax = motion_half_extent(length, theta)
    for i in range(2 * sy + 1):
        for j in range(2 * ax + 1):
            out[i, j] = 0.0
    return motion_kernel_rows(length, theta, out, lo, hi)


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
