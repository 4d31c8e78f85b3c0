"""numba per-pixel gather (forward) and banded scatter (adjoint) for dense and linear fields.

Forward: v[i, j] = sum_{a, b} k_ij[a, b] * P[i + 2r - a, j + 2r - b] on the padded image P.
The accumulator has the image's dtype (``zero``), so float32 sums vectorise.

Linear fields rasterise each pixel's kernel on its nonzero band only (row ranges lo..hi) and
visit only that band: about 3 x length entries instead of the kernel's bounding box.

Adjoint: each pixel scatters k_ij * s[i, j] into the padded domain. Rows are cut into bands
of at least 2r rows, processed in two passes (even bands, then odd) so that bands running in
parallel never write to the same rows: no atomics, deterministic results.

Each linear kernel has a (C, H, W) twin that reads a pixel's kernel once for all channels. The
single-image versions stay beside them because numba compiles the channel loop and the
accumulator array into the inner loop: at C = 1 the twins are 1.5-1.7x slower (forward,
table adjoint; 256^2 and 1024^2, float32).
"""

import numpy as np
from numba import njit, prange

from ..kernels._motion_numba import motion_kernel_rows


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
        lo = np.empty(size, dtype=np.int64)
        hi = np.empty(size, dtype=np.int64)
        for j in range(w):
            hk, wk = motion_kernel_rows(lengths[i, j], angles[i, j], buf, lo, hi)
            ci = i + r + hk // 2
            cj = j + r + wk // 2
            acc = zero
            for a in range(hk):
                for b in range(lo[a], hi[a]):
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
            lo = np.empty(size, dtype=np.int64)
            hi = np.empty(size, dtype=np.int64)
            b0 = (2 * bi + parity) * band
            for i in range(b0, min(b0 + band, h)):
                for j in range(w):
                    hk, wk = motion_kernel_rows(lengths[i, j], angles[i, j], buf, lo, hi)
                    ci = i + r + hk // 2
                    cj = j + r + wk // 2
                    s = residual[i, j]
                    for a in range(hk):
                        for b in range(lo[a], hi[a]):
                            out[ci - a, cj - b] += buf[a, b] * s


@njit(cache=True, parallel=True, fastmath=True)
def linear_forward_channels(padded, lengths, angles, size, zero, out):
    """``linear_forward`` for (C, H, W) images: each pixel's kernel is built once."""
    nc, h, w = out.shape
    r = size // 2
    for i in prange(h):
        buf = np.empty((size, size))
        lo = np.empty(size, dtype=np.int64)
        hi = np.empty(size, dtype=np.int64)
        acc = np.empty(nc, dtype=out.dtype)
        for j in range(w):
            hk, wk = motion_kernel_rows(lengths[i, j], angles[i, j], buf, lo, hi)
            ci = i + r + hk // 2
            cj = j + r + wk // 2
            for c in range(nc):
                acc[c] = zero
            for a in range(hk):
                for b in range(lo[a], hi[a]):
                    weight = buf[a, b]
                    for c in range(nc):
                        acc[c] += weight * padded[c, ci - a, cj - b]
            for c in range(nc):
                out[c, i, j] = acc[c]


_CHUNK = 256


@njit(cache=True, parallel=True)
def kernel_counts(lengths, angles, size):
    """CSR row pointer of a kernel table: ptr[n + 1] - ptr[n] nonzeros in kernel n."""
    n = lengths.shape[0]
    counts = np.zeros(n + 1, dtype=np.int64)
    for chunk in prange((n + _CHUNK - 1) // _CHUNK):
        buf = np.empty((size, size))
        lo = np.empty(size, dtype=np.int64)
        hi = np.empty(size, dtype=np.int64)
        for k in range(chunk * _CHUNK, min((chunk + 1) * _CHUNK, n)):
            hk, wk = motion_kernel_rows(lengths[k], angles[k], buf, lo, hi)
            for a in range(hk):
                for b in range(lo[a], hi[a]):
                    if buf[a, b] != 0.0:
                        counts[k + 1] += 1
    return np.cumsum(counts)


@njit(cache=True, parallel=True)
def kernel_entries(lengths, angles, size, ptr):
    """Nonzero entries of the kernels of (lengths[n], angles[n]), CSR with ``ptr``.

    Kernel n owns entries ptr[n] <= e < ptr[n + 1]: weight[e] applied to the input sample
    (drow[e], dcol[e]) away from the output pixel, v(i, j) += weight u(i + drow, j + dcol).
    """
    n = lengths.shape[0]
    drow = np.empty(ptr[n], dtype=np.int16)
    dcol = np.empty(ptr[n], dtype=np.int16)
    weight = np.empty(ptr[n])
    for chunk in prange((n + _CHUNK - 1) // _CHUNK):
        buf = np.empty((size, size))
        lo = np.empty(size, dtype=np.int64)
        hi = np.empty(size, dtype=np.int64)
        for k in range(chunk * _CHUNK, min((chunk + 1) * _CHUNK, n)):
            hk, wk = motion_kernel_rows(lengths[k], angles[k], buf, lo, hi)
            e = ptr[k]
            for a in range(hk):
                for b in range(lo[a], hi[a]):
                    if buf[a, b] != 0.0:
                        drow[e], dcol[e], weight[e] = hk // 2 - a, wk // 2 - b, buf[a, b]
                        e += 1
    return drow, dcol, weight


@njit(cache=True, parallel=True, fastmath=True)
def table_forward(padded, labels, ptr, drow, dcol, weight, r, zero, out):
    """``linear_forward`` with every pixel's kernel read from a kernel table (CSR).

    ``weight`` has the image dtype.
    """
    h, w = out.shape
    for i in prange(h):
        for j in range(w):
            acc = zero
            for e in range(ptr[labels[i, j]], ptr[labels[i, j] + 1]):
                acc += weight[e] * padded[i + r + drow[e], j + r + dcol[e]]
            out[i, j] = acc


@njit(cache=True, parallel=True, fastmath=True)
def table_forward_channels(padded, labels, ptr, drow, dcol, weight, r, zero, out):
    """``table_forward`` for (C, H, W) images: each kernel entry is read once for all C."""
    nc, h, w = out.shape
    for i in prange(h):
        acc = np.empty(nc, dtype=out.dtype)
        for j in range(w):
            for c in range(nc):
                acc[c] = zero
            for e in range(ptr[labels[i, j]], ptr[labels[i, j] + 1]):
                row, col = i + r + drow[e], j + r + dcol[e]
                for c in range(nc):
                    acc[c] += weight[e] * padded[c, row, col]
            for c in range(nc):
                out[c, i, j] = acc[c]


@njit(cache=True, parallel=True, fastmath=True)
def table_adjoint(residual, labels, ptr, drow, dcol, weight, r, band, out):
    """``linear_adjoint`` with every pixel's kernel read from a kernel table (CSR)."""
    h, w = residual.shape
    nbands = (h + band - 1) // band
    for parity in range(2):
        for bi in prange((nbands - parity + 1) // 2):
            b0 = (2 * bi + parity) * band
            for i in range(b0, min(b0 + band, h)):
                for j in range(w):
                    s = residual[i, j]
                    for e in range(ptr[labels[i, j]], ptr[labels[i, j] + 1]):
                        out[i + r + drow[e], j + r + dcol[e]] += weight[e] * s


@njit(cache=True, parallel=True, fastmath=True)
def linear_adjoint_channels(residual, lengths, angles, size, band, out):
    """``linear_adjoint`` for (C, H, W) residuals: each pixel's kernel is built once."""
    nc, h, w = residual.shape
    r = size // 2
    nbands = (h + band - 1) // band
    for parity in range(2):
        for bi in prange((nbands - parity + 1) // 2):
            buf = np.empty((size, size))
            lo = np.empty(size, dtype=np.int64)
            hi = np.empty(size, dtype=np.int64)
            b0 = (2 * bi + parity) * band
            for i in range(b0, min(b0 + band, h)):
                for j in range(w):
                    hk, wk = motion_kernel_rows(lengths[i, j], angles[i, j], buf, lo, hi)
                    ci = i + r + hk // 2
                    cj = j + r + wk // 2
                    for a in range(hk):
                        for b in range(lo[a], hi[a]):
                            weight = buf[a, b]
                            for c in range(nc):
                                out[c, ci - a, cj - b] += weight * residual[c, i, j]


@njit(cache=True, parallel=True, fastmath=True)
def table_adjoint_channels(residual, labels, ptr, drow, dcol, weight, r, band, out):
    """``table_adjoint`` for (C, H, W) residuals: each kernel entry is read once for all C."""
    nc, h, w = residual.shape
    nbands = (h + band - 1) // band
    for parity in range(2):
        for bi in prange((nbands - parity + 1) // 2):
            b0 = (2 * bi + parity) * band
            for i in range(b0, min(b0 + band, h)):
                for j in range(w):
                    for e in range(ptr[labels[i, j]], ptr[labels[i, j] + 1]):
                        row, col = i + r + drow[e], j + r + dcol[e]
                        for c in range(nc):
                            out[c, row, col] += weight[e] * residual[c, i, j]
