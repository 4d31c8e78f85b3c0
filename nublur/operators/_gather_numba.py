"""numba per-pixel gather (forward) and banded scatter (adjoint) for dense and linear fields.

Forward: v[i, j] = sum_{a, b} k_ij[a, b] * P[i + 2r - a, j + 2r - b] on the padded image P.
The accumulator has the image's dtype (``zero``), so float32 sums vectorise.

Adjoint: each pixel scatters k_ij * s[i, j] into the padded domain. Rows are cut into bands
of at least 2r rows, processed in two passes (even bands, then odd) so that bands running in
parallel never write to the same rows: no atomics, deterministic results.
"""

import numpy as np
from numba import njit, prange

from ..kernels._motion_numba import motion_kernel_into


@njit(cache=True, parallel=True, fastmath=True)
def dense_forward(padded, kernels, zero, out):
    h, w = out.shape
    k = kernels.shape[2]
    r2 = k - 1
    for i in prange(h):
        for j in range(w):
            acc = zero
            for a in range(k):
                for b in range(k):
                    acc += kernels[i, j, a, b] * padded[i + r2 - a, j + r2 - b]
            out[i, j] = acc


@njit(cache=True, parallel=True, fastmath=True)
def dense_adjoint(residual, kernels, band, out):
    h, w = residual.shape
    k = kernels.shape[2]
    r2 = k - 1
    nbands = (h + band - 1) // band
    for parity in range(2):
        for bi in prange((nbands - parity + 1) // 2):
            b0 = (2 * bi + parity) * band
            for i in range(b0, min(b0 + band, h)):
                for j in range(w):
                    s = residual[i, j]
                    for a in range(k):
                        for b in range(k):
                            out[i + r2 - a, j + r2 - b] += kernels[i, j, a, b] * s


@njit(cache=True, parallel=True, fastmath=True)
def linear_forward(padded, lengths, angles, size, zero, out):
    h, w = out.shape
    r = size // 2
    for i in prange(h):
        buf = np.empty((size, size))
        for j in range(w):
            hk, wk = motion_kernel_into(lengths[i, j], angles[i, j], buf)
            ci = i + r + hk // 2
            cj = j + r + wk // 2
            acc = zero
            for a in range(hk):
                for b in range(wk):
                    acc += buf[a, b] * padded[ci - a, cj - b]
            out[i, j] = acc


@njit(cache=True, parallel=True, fastmath=True)
def linear_adjoint(residual, lengths, angles, size, band, out):
    h, w = residual.shape
    r = size // 2
    nbands = (h + band - 1) // band
    for parity in range(2):
        for bi in prange((nbands - parity + 1) // 2):
            buf = np.empty((size, size))
            b0 = (2 * bi + parity) * band
            for i in range(b0, min(b0 + band, h)):
                for j in range(w):
                    hk, wk = motion_kernel_into(lengths[i, j], angles[i, j], buf)
                    ci = i + r + hk // 2
                    cj = j + r + wk // 2
                    s = residual[i, j]
                    for a in range(hk):
                        for b in range(wk):
                            out[ci - a, cj - b] += buf[a, b] * s


@njit(cache=True, parallel=True, fastmath=True)
def linear_forward_channels(padded, lengths, angles, size, zero, out):
    """``linear_forward`` for (C, H, W) images: each pixel's kernel is built once."""
    nc, h, w = out.shape
    r = size // 2
    for i in prange(h):
        buf = np.empty((size, size))
        acc = np.empty(nc, dtype=out.dtype)
        for j in range(w):
            hk, wk = motion_kernel_into(lengths[i, j], angles[i, j], buf)
            ci = i + r + hk // 2
            cj = j + r + wk // 2
            for c in range(nc):
                acc[c] = zero
            for a in range(hk):
                for b in range(wk):
                    weight = buf[a, b]
                    if weight != 0.0:
                        for c in range(nc):
                            acc[c] += weight * padded[c, ci - a, cj - b]
            for c in range(nc):
                out[c, i, j] = acc[c]
