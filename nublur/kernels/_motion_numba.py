"""numba rasteriser of MATLAB ``fspecial('motion', len, theta)`` (the one source of linear kernels).

Used by ``linear_kernel`` and by the per-pixel gather of ``LinearMotionField``, so that both
build bit-identical kernels.
"""

import numpy as np
from numba import njit

_EPS = 2.220446049250313e-16  # MATLAB eps


@njit(cache=True, nogil=True)
def _geometry(length, theta):
    """fspecial's (length, half length, cos, sin, sign of cos) for an angle in degrees."""
    length = max(1.0, length)
    phi = (theta % 180.0) / 180.0 * np.pi
    cosphi = np.cos(phi)
    xsign = 1.0 if cosphi > 0 else (-1.0 if cosphi < 0 else 0.0)
    return length, (length - 1.0) / 2.0, cosphi, np.sin(phi), xsign


@njit(cache=True, nogil=True)
def motion_half_extent(length, theta):
    """(sy, |sx|) of the fspecial half matrix; the full kernel is (2 sy + 1) x (2 |sx| + 1)."""
    length, half, cosphi, sinphi, xsign = _geometry(length, theta)
    sx = np.trunc(half * cosphi + xsign - length * _EPS)
    sy = np.trunc(half * sinphi + 1.0 - length * _EPS)
    return int(sy), int(abs(sx))


@njit(cache=True, nogil=True)
def motion_kernel_into(length, theta, out):
    """Write fspecial('motion', length, theta) into ``out[:hk, :wk]``; returns (hk, wk).

    ``out`` must be at least (2 sy + 1) x (2 |sx| + 1) (see ``motion_half_extent``); entries
    outside ``[:hk, :wk]`` are left untouched.
    """
    length, half, cosphi, sinphi, xsign = _geometry(length, theta)
    sy, ax = motion_half_extent(length, theta)
    ny = sy + 1
    nx = ax + 1
    hk = 2 * ny - 1
    wk = 2 * nx - 1
    for i in range(hk):
        for j in range(wk):
            out[i, j] = 0.0
    total = 0.0
    for yy in range(ny):
        y = float(yy)
        for xx in range(nx):
            x = xx * xsign
            d = y * cosphi - x * sinphi
            rad = np.sqrt(x * x + y * y)
            if rad >= half and abs(d) <= 1.0:
                x2last = half - abs((x + d * sinphi) / cosphi)
                d = np.sqrt(d * d + x2last * x2last)
            d = 1.0 + _EPS - abs(d)
            if d < 0.0:
                d = 0.0
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
