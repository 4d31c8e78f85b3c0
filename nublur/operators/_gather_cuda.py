"""numba.cuda per-pixel gather (forward) and scatter (adjoint) for dense and linear fields.

The GPU twin of ``_gather_numba`` (same formulas, DESIGN.md section 1): one thread per output
pixel. The boundary extension is folded into the reads and writes through the index maps of
``boundaries.padding_indices`` (-1 marks a zero sample), so no padded copy is made. The
adjoints scatter with atomic adds: exact up to the order of float additions, which differs
from run to run.

Linear-motion kernels are not rasterised into a buffer: each tap's fspecial weight is
computed where it is used (``_tap_weight``), after one pass over the half matrix for the
normalisation, so a thread holds no local array.

The kernels take any arrays numba.cuda accepts: CuPy arrays on a GPU, or numpy arrays under
``NUMBA_ENABLE_CUDASIM=1`` (how the tests check them without a GPU).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from ..kernels import _motion_numba
from ..kernels._motion_numba import _EPS
from .boundaries import padding_indices

_BLOCK = (16, 16)

# the CPU rasteriser's leaf functions, compiled for the device: one source of the formulas
_geometry = cuda.jit(device=True)(_motion_numba._geometry.py_func)
_half_extent = cuda.jit(device=True)(_motion_numba._half_extent.py_func)
_half_weight = cuda.jit(device=True)(_motion_numba._half_weight.py_func)


@cuda.jit(device=True)
def _pixel_motion(length, angle):
    """fspecial geometry of one pixel's kernel: half-matrix extents and normalisation."""
    length, half, cosphi, sinphi, xsign = _geometry(length, angle)
    sy, ax = _half_extent(length, half, cosphi, sinphi, xsign)
    ny, nx = sy + 1, ax + 1
    total = 0.0
    for yy in range(ny):
        for xx in range(nx):
            d = _half_weight(yy, xx, half, cosphi, sinphi, xsign)
            total += d if (yy == 0 and xx == 0) else 2.0 * d
    return half, cosphi, sinphi, xsign, ny, nx, 1.0 / (total + _EPS * length * length)


@cuda.jit(device=True)
def _tap_weight(a, b, half, cosphi, sinphi, xsign, ny, nx, scale):
    """Entry (a, b) of the (2 ny - 1) x (2 nx - 1) fspecial kernel (kernels._motion_numba)."""
    if cosphi > 0:  # flipud
        a = 2 * ny - 2 - a
    yy = a - (ny - 1)
    xx = b - (nx - 1)
    if (yy > 0 and xx < 0) or (yy < 0 and xx > 0):
        return 0.0
    return _half_weight(abs(yy), abs(xx), half, cosphi, sinphi, xsign) * scale


@cuda.jit
def _linear_forward(image, rows, cols, lengths, angles, r, out):
    i, j = cuda.grid(2)
    h, w = out.shape
    if i >= h or j >= w:
        return
    half, cosphi, sinphi, xsign, ny, nx, scale = _pixel_motion(lengths[i, j], angles[i, j])
    ci = i + r + ny - 1
    cj = j + r + nx - 1
    acc = 0.0
    for a in range(2 * ny - 1):
        for b in range(2 * nx - 1):
            weight = _tap_weight(a, b, half, cosphi, sinphi, xsign, ny, nx, scale)
            if weight != 0.0:
                src_i = rows[ci - a]
                src_j = cols[cj - b]
                if src_i >= 0 and src_j >= 0:
                    acc += weight * image[src_i, src_j]
    out[i, j] = acc


@cuda.jit
def _linear_adjoint(residual, rows, cols, lengths, angles, r, out):
    i, j = cuda.grid(2)
    h, w = residual.shape
    if i >= h or j >= w:
        return
    half, cosphi, sinphi, xsign, ny, nx, scale = _pixel_motion(lengths[i, j], angles[i, j])
    ci = i + r + ny - 1
    cj = j + r + nx - 1
    s = residual[i, j]
    for a in range(2 * ny - 1):
        for b in range(2 * nx - 1):
            weight = _tap_weight(a, b, half, cosphi, sinphi, xsign, ny, nx, scale)
            if weight != 0.0:
                dst_i = rows[ci - a]
                dst_j = cols[cj - b]
                if dst_i >= 0 and dst_j >= 0:
                    cuda.atomic.add(out, (dst_i, dst_j), weight * s)


@cuda.jit
def _dense_forward(image, rows, cols, kernels, out):
    i, j = cuda.grid(2)
    h, w = out.shape
    if i >= h or j >= w:
        return
    k = kernels.shape[2]
    acc = 0.0
    for a in range(k):
        src_i = rows[i + k - 1 - a]
        if src_i < 0:
            continue
        for b in range(k):
            src_j = cols[j + k - 1 - b]
            if src_j >= 0:
                acc += kernels[i, j, a, b] * image[src_i, src_j]
    out[i, j] = acc


@cuda.jit
def _dense_adjoint(residual, rows, cols, kernels, out):
    i, j = cuda.grid(2)
    h, w = residual.shape
    if i >= h or j >= w:
        return
    k = kernels.shape[2]
    s = residual[i, j]
    for a in range(k):
        dst_i = rows[i + k - 1 - a]
        if dst_i < 0:
            continue
        for b in range(k):
            dst_j = cols[j + k - 1 - b]
            if dst_j >= 0:
                cuda.atomic.add(out, (dst_i, dst_j), kernels[i, j, a, b] * s)


def _grid(shape, block):
    return (-(-shape[0] // block[0]), -(-shape[1] // block[1]))


def _on_device(xp, field, name, dtype):
    """A device copy of a field array, made once per field, array module and dtype."""
    key = ("_device", xp.__name__, name, np.dtype(dtype).str)
    cache = field.__dict__
    if key not in cache:
        cache[key] = xp.array(getattr(field, name), dtype=dtype)  # a copy, writable
    return cache[key]


def _index_maps(xp, shape, r, boundary):
    return (xp.asarray(padding_indices(shape[0], r, boundary)),
            xp.asarray(padding_indices(shape[1], r, boundary)))


def linear_forward(xp, image, field, boundary, block=_BLOCK):
    """H x for a LinearMotionField on device arrays (``xp``: cupy, or numpy under the simulator)."""
    r = field.kernel_size // 2
    rows, cols = _index_maps(xp, image.shape, r, boundary)
    out = xp.empty(image.shape, dtype=image.dtype)
    lengths = _on_device(xp, field, "length", np.float64)
    angles = _on_device(xp, field, "angle", np.float64)
    _linear_forward[_grid(image.shape, block), block](image, rows, cols, lengths, angles, r, out)
    return out


def linear_adjoint(xp, residual, field, boundary, block=_BLOCK):
    """H^T r for a LinearMotionField on device arrays."""
    r = field.kernel_size // 2
    rows, cols = _index_maps(xp, residual.shape, r, boundary)
    out = xp.zeros(residual.shape, dtype=residual.dtype)
    lengths = _on_device(xp, field, "length", np.float64)
    angles = _on_device(xp, field, "angle", np.float64)
    _linear_adjoint[_grid(residual.shape, block), block](residual, rows, cols, lengths, angles,
                                                         r, out)
    return out


def dense_forward(xp, image, field, boundary, block=_BLOCK):
    """H x for a DenseField on device arrays."""
    rows, cols = _index_maps(xp, image.shape, field.kernel_size // 2, boundary)
    out = xp.empty(image.shape, dtype=image.dtype)
    kernels = _on_device(xp, field, "kernels", image.dtype)
    _dense_forward[_grid(image.shape, block), block](image, rows, cols, kernels, out)
    return out


def dense_adjoint(xp, residual, field, boundary, block=_BLOCK):
    """H^T r for a DenseField on device arrays."""
    rows, cols = _index_maps(xp, residual.shape, field.kernel_size // 2, boundary)
    out = xp.zeros(residual.shape, dtype=residual.dtype)
    kernels = _on_device(xp, field, "kernels", residual.dtype)
    _dense_adjoint[_grid(residual.shape, block), block](residual, rows, cols, kernels, out)
    return out
