"""Sparse-prior latent image for kernel estimation: L0 gradient restoration by half-quadratic
splitting with FFT solves (Xu et al. 2013, as used by Pan et al.; REFERENCE_NOTES.md "Blind
kernel estimation"), on an image extended smoothly to be periodic.

    min_x ||k conv x - y||^2 + lambda ||grad x||_0

is split with auxiliary gradients g: for beta = 2 lambda, 4 lambda, ... < 1e5, g keeps the
gradients of x whose squared magnitude is at least lambda / beta, and x solves the quadratic
``(|K|^2 + beta |D|^2) X = conj(K) Y + beta D^T G`` in the Fourier domain.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from ..._backend import num_threads

__all__ = ["periodic_extension", "l0_restore", "forward_gradients"]

_BETA_MAX = 1e5


def periodic_extension(image: np.ndarray, pad: int) -> np.ndarray:
    """``image`` extended by at least ``pad`` rows and columns after its end (to fast FFT
    sizes) so that it continues
    smoothly into its opposite side when taken as periodic (FFT) data.

    The extension blends the mirror of the last rows into the mirror of the first rows with
    a raised-cosine weight, first along rows then along columns, so both the border and the
    periodic seam are continuous (the role of Liu and Jia's wrap-boundary extension).
    """
    out = image
    for axis in (0, 1):
        n = image.shape[axis]
        out = _extend_axis(out, scipy.fft.next_fast_len(n + pad, real=True) - n, axis)
    return out


def _extend_axis(image: np.ndarray, pad: int, axis: int) -> np.ndarray:
    if pad <= 0:
        return image
    x = np.moveaxis(image, axis, 0)
    n = x.shape[0]
    j = np.arange(pad)
    tail = x[np.clip(n - 1 - j, 0, n - 1)]         # mirror of the end
    head = x[np.clip(pad - 1 - j, 0, n - 1)]       # mirror of the start, reaching row 0
    t = 0.5 - 0.5 * np.cos(np.pi * (j + 0.5) / pad)
    t = t.reshape((pad,) + (1,) * (x.ndim - 1))
    ext = (1 - t) * tail + t * head
    return np.moveaxis(np.concatenate([x, ext], axis=0), 0, axis)


def forward_gradients(x: np.ndarray):
    """Periodic forward differences (d/dcol, d/drow)."""
    gx = np.empty_like(x)
    gy = np.empty_like(x)
    np.subtract(x[:, 1:], x[:, :-1], out=gx[:, :-1])
    np.subtract(x[:, :1], x[:, -1:], out=gx[:, -1:])
    np.subtract(x[1:], x[:-1], out=gy[:-1])
    np.subtract(x[:1], x[-1:], out=gy[-1:])
    return gx, gy


def _gradient_adjoint(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """D^T g: (g(i - 1) - g(i)) summed over both directions, periodic."""
    out = np.empty_like(gx)
    np.subtract(gx[:, :-1], gx[:, 1:], out=out[:, 1:])
    np.subtract(gx[:, -1:], gx[:, :1], out=out[:, :1])
    out[1:] += gy[:-1] - gy[1:]
    out[:1] += gy[-1:] - gy[:1]
    return out


def kernel_otf(psf: np.ndarray, shape) -> np.ndarray:
    """rfft2 of a PSF centred at pixel (0, 0) of a periodic image of ``shape``."""
    k = psf.shape[0]
    padded = np.zeros(shape)
    padded[:k, :k] = psf
    padded = np.roll(padded, (-(k // 2), -(k // 2)), axis=(0, 1))
    return scipy.fft.rfft2(padded, workers=num_threads())


def _difference_energy(shape) -> np.ndarray:
    """|D_x|^2 + |D_y|^2 of the forward differences on the rfft2 grid."""
    h, w = shape
    wy = 2 - 2 * np.cos(2 * np.pi * np.fft.fftfreq(h))
    wx = 2 - 2 * np.cos(2 * np.pi * np.fft.rfftfreq(w))
    return wy[:, None] + wx[None, :]


def l0_restore(blurred: np.ndarray, psf: np.ndarray, lam: float, *, kappa: float = 2.0):
    """L0-gradient latent image of a periodic ``blurred`` image (see the module docstring).

    Parameters
    ----------
    blurred : ndarray (H, W)
        Periodic data (extend a photo with ``periodic_extension`` first).
    psf : ndarray (K, K)
        PSF in nublur's convention.
    lam : float
        Weight of the L0 gradient count.
    kappa : float
        Growth of beta per half-quadratic step.
    """
    shape = blurred.shape
    blurred = blurred.astype(np.float32)
    otf = kernel_otf(psf, shape)
    data = (np.conj(otf) * scipy.fft.rfft2(blurred)).astype(np.complex64)
    k_energy = (np.abs(otf) ** 2).astype(np.float32)
    d_energy = _difference_energy(shape).astype(np.float32)
    x = blurred
    beta = 2 * lam
    while beta < _BETA_MAX:
        gx, gy = forward_gradients(x)
        small = gx * gx + gy * gy < np.float32(lam / beta)
        gx[small] = 0
        gy[small] = 0
        rhs = scipy.fft.rfft2(_gradient_adjoint(gx, gy))
        rhs *= np.float32(beta)
        rhs += data
        rhs /= k_energy + np.float32(beta) * d_energy
        x = scipy.fft.irfft2(rhs, s=shape)
        beta *= kappa
    return x.astype(np.float64)

