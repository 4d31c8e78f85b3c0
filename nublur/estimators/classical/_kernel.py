"""Kernel step of blind estimation: least squares on image gradients, then cleaning.

    min_k sum_d ||k conv (D_d x) - D_d y||^2 + gamma ||k||^2      (Pan et al. / Cho and Lee)

over the K x K support. Its normal matrix is Toeplitz: ``(R conv k)(q) + gamma k(q)`` with R the
autocorrelation of the latent gradients at lags up to K - 1, so after one FFT of the image the
conjugate-gradient iterations only convolve (2K - 1)^2 with K^2 arrays.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.ndimage

from ..._backend import num_threads

__all__ = ["kernel_least_squares", "conjugate_gradients", "clean_kernel", "centre_kernel", "trim_kernel",
           "resize_kernel", "delta_segment"]


def _correlations(latent_grads, blurred_grads, size: int):
    """Autocorrelation R (2K-1, 2K-1) of the latent gradients and their cross-correlation
    c (K, K) with the blurred gradients, on zero-padded (non-periodic) images."""
    h, w = latent_grads[0].shape
    shape = (scipy.fft.next_fast_len(h + 2 * size), scipy.fft.next_fast_len(w + 2 * size))
    auto = np.zeros((shape[0], shape[1] // 2 + 1))
    cross = np.zeros((shape[0], shape[1] // 2 + 1), dtype=complex)
    for lx, bx in zip(latent_grads, blurred_grads):
        fl = scipy.fft.rfft2(lx, s=shape, workers=num_threads())
        fb = scipy.fft.rfft2(bx, s=shape, workers=num_threads())
        auto += np.abs(fl) ** 2
        cross += np.conj(fl) * fb
    r_full = scipy.fft.irfft2(auto, s=shape, workers=num_threads())
    c_full = scipy.fft.irfft2(cross, s=shape, workers=num_threads())
    lags = np.arange(-(size - 1), size)
    auto_lags = r_full[np.ix_(lags % shape[0], lags % shape[1])]
    half = size // 2
    q = np.arange(-half, half + 1)
    return auto_lags, c_full[np.ix_(q % shape[0], q % shape[1])]


def kernel_least_squares(latent_grads, blurred_grads, size: int, weight: float,
                         *, init=None, num_iter: int = 20, sparsity: float = 0.0,
                         reweights: int = 2, support=None) -> np.ndarray:
    """Unconstrained K x K least-squares kernel (CG on the Toeplitz normal equations).

    Parameters
    ----------
    latent_grads, blurred_grads : sequences of (H, W) arrays
        Gradients of the latent and the blurred image (zero where masked out).
    size : int
        Odd kernel size K.
    weight : float
        Tikhonov weight gamma (Pan et al.: 2 on [0, 1] images).
    sparsity : float
        Weight of a sum |k|^(1/2) penalty, by ``reweights`` reweighted least-squares passes.
    support : ndarray of bool (K, K), optional
        Entries outside are held at (nearly) zero by a penalty 1e6 times ``weight``.
    """
    auto, rhs = _correlations(latent_grads, blurred_grads, size)
    n = scipy.fft.next_fast_len(3 * size - 2, real=True)
    auto_f = scipy.fft.rfft2(auto, s=(n, n))
    valid = slice(size - 1, 2 * size - 1)

    outside = 0.0 if support is None else np.where(support, 0.0, 1e6 * weight)
    penalty = weight + outside

    def normal(k):  # fftconvolve(auto, k, "valid") with auto's transform kept
        full = scipy.fft.irfft2(auto_f * scipy.fft.rfft2(k, s=(n, n)), s=(n, n))
        return full[valid, valid] + penalty * k

    k = np.full((size, size), 1.0 / size**2) if init is None else init.astype(np.float64)
    k = conjugate_gradients(normal, rhs, k, num_iter)
    for _ in range(reweights if sparsity > 0 else 0):
        # iteratively reweighted least squares for sum |k|^(1/2): thin kernels
        floor = 1e-3 * max(np.abs(k).max(), 1e-12)
        penalty = weight + outside + sparsity * np.maximum(np.abs(k), floor) ** -1.5
        k = conjugate_gradients(normal, rhs, k, num_iter)
    return k


def conjugate_gradients(normal, rhs, k, num_iter):
    """``num_iter`` conjugate-gradient steps on ``normal(k) = rhs`` from ``k`` (any array
    shape; ``normal`` symmetric positive definite)."""
    r = rhs - normal(k)
    p = r.copy()
    rr = np.vdot(r, r)
    scale = np.vdot(rhs, rhs)
    for _ in range(num_iter):
        if rr <= 1e-20 * scale:
            break
        ap = normal(p)
        alpha = rr / np.vdot(p, ap)
        k = k + alpha * p
        r = r - alpha * ap
        rr_new = np.vdot(r, r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return k


def clean_kernel(k: np.ndarray, *, threshold: float = 0.05, min_mass: float = 0.1):
    """Zero entries below ``threshold`` x max, drop 8-connected pieces holding less than
    ``min_mass`` of the mass, clip negatives and normalise (Pan et al.'s kernel pruning)."""
    k = np.where(k >= threshold * k.max(), k, 0.0)
    k = np.maximum(k, 0.0)
    total = k.sum()
    if total <= 0:
        return delta_segment(k.shape[0], length=1)
    labels, count = scipy.ndimage.label(k > 0, structure=np.ones((3, 3)))
    if count > 1:
        mass = scipy.ndimage.sum(k, labels, index=np.arange(1, count + 1)) / total
        keep = np.concatenate([[False], mass >= min_mass])
        if not keep.any():
            keep[1 + int(np.argmax(mass))] = True
        k = np.where(keep[labels], k, 0.0)
    return k / k.sum()


def centre_kernel(k: np.ndarray) -> np.ndarray:
    """Shift ``k`` by whole pixels so that its centroid is at the centre (mass that would
    leave the array stays: the shift is clipped to the free margin)."""
    size = k.shape[0]
    rows, cols = np.indices(k.shape)
    total = k.sum()
    shift = [int(round(size // 2 - (idx * k).sum() / total)) for idx in (rows, cols)]
    nz_r, nz_c = np.nonzero(k)
    if len(nz_r) == 0:
        return k
    shift[0] = int(np.clip(shift[0], -nz_r.min(), size - 1 - nz_r.max()))
    shift[1] = int(np.clip(shift[1], -nz_c.min(), size - 1 - nz_c.max()))
    return np.roll(k, shift, axis=(0, 1))


def trim_kernel(k: np.ndarray, margin: int = 1) -> np.ndarray:
    """The smallest odd square around the centre that holds every non-zero entry (plus
    ``margin`` pixels); the centre stays at the centre."""
    size = k.shape[0]
    c = size // 2
    nz_r, nz_c = np.nonzero(k)
    if len(nz_r) == 0:
        return k
    reach = max(c - nz_r.min(), nz_r.max() - c, c - nz_c.min(), nz_c.max() - c) + margin
    reach = min(reach, c)
    return k[c - reach:c + reach + 1, c - reach:c + reach + 1].copy()


def pad_kernel(k: np.ndarray, size: int) -> np.ndarray:
    """``k`` centred in a size x size array (cropped where smaller)."""
    out = np.zeros((size, size))
    n = k.shape[0]
    if n <= size:
        o = (size - n) // 2
        out[o:o + n, o:o + n] = k
    else:
        o = (n - size) // 2
        out[:] = k[o:o + size, o:o + size]
    return out


def resize_kernel(k: np.ndarray, size: int) -> np.ndarray:
    """``k`` magnified (or shrunk) about its centre to an odd size x size kernel, non-negative
    and normalised (bilinear interpolation of its samples)."""
    n = k.shape[0]
    if n == size:
        return k / k.sum()
    c_old, c_new = n // 2, size // 2
    scale = (size - 1) / max(n - 1, 1) if n > 1 else 1.0
    coords = (np.arange(size) - c_new) / scale + c_old
    rows, cols = np.meshgrid(coords, coords, indexing="ij")
    out = scipy.ndimage.map_coordinates(k, [rows, cols], order=1, mode="constant")
    out = np.maximum(out, 0)
    total = out.sum()
    if total <= 0:
        return delta_segment(size, length=1)
    return out / total


def delta_segment(size: int, length: int = 2) -> np.ndarray:
    """A short horizontal segment of ``length`` pixels at the centre (length 1: the delta);
    the usual start of coarse-to-fine estimation."""
    k = np.zeros((size, size))
    c = size // 2
    length = min(length, size)
    k[c, c - (length - 1) // 2:c - (length - 1) // 2 + length] = 1.0
    return k / k.sum()
