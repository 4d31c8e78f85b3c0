"""Local inverse (deconvolution) filters of 001 eqs. 10-14 and the IRC convergence check.

For kernels k_0 .. k_n (K x K) the filters d_0 .. d_n on a w x w support solve

    min_d  || sum_i k_i *full d_i - delta ||^2 + rho sum_i ||d_i||^2        (001 eqs. 10-13)

whose solution is d = Q^T (Q Q^T + rho I)^-1 delta (minimum-norm / Tikhonov, eq. 13), with
Q = [M_0 .. M_n] and M_i the full convolution of k_i on the support: d_i = M_i^T a (eq. 14).
We solve the dual system (Q Q^T + rho I) a = delta on the (w + K - 1)^2 full-output grid by
conjugate gradients, many kernel sets at once, preconditioned by the circulant approximation
1 / (sum_i |K_i|^2 + rho) (exact up to the support's crop).

IRC (001 Algorithm 2.1) iterates x <- x + sum_i d_i * (c_i - k_i * x). Its error propagates
by the filter h = delta - sum_i d_i * k_i, whose frequency response e(w) gives the spectral
radius max |h(w)| (001 Proposition). With finite supports it can exceed 1 slightly (measured
by CPCR's authors: 1.001-1.010 at 31x31). We keep IRC convergent by *damping*: x <- x +
tau sum_i d_i r_i with the tau that minimises max |1 - tau e(w)|, which is cheaper than a
larger support (the cost of every IRC step grows with w^2) and changes nothing when the
radius is already below 1 (tau = 1 is kept then).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.signal

from .._backend import num_threads
from .._validation import check_positive_float, check_positive_int

__all__ = ["inverse_filters", "InverseFilters", "irc_response"]


@dataclass(frozen=True)
class InverseFilters:
    """Result of ``inverse_filters``.

    Attributes
    ----------
    filters : ndarray (n + 1, w, w)
        d_0 .. d_n (damping not applied).
    residual : float
        || sum_i k_i *full d_i - delta ||_2, the error of eq. 10.
    spectral_radius : float
        max over frequencies of |1 - sum_i D_i K_i| (001 Proposition), undamped.
    damping : float
        tau in (0, 1]: IRC steps x <- x + tau sum_i d_i r_i contract with ``damped_radius``.
    damped_radius : float
        max |1 - tau e(w)|; < 1 means IRC converges.
    """

    filters: np.ndarray
    residual: float
    spectral_radius: float
    damping: float
    damped_radius: float


def _as_kernel_sets(kernels) -> np.ndarray:
    k = np.asarray(kernels, dtype=np.float64)
    if k.ndim == 2:
        k = k[None, None]
    elif k.ndim == 3:
        k = k[None]
    if k.ndim != 4 or k.shape[-1] != k.shape[-2] or k.shape[-1] % 2 == 0:
        raise ValueError(f"kernels must be (n + 1, K, K) (or a batch (S, n + 1, K, K)) with K "
                         f"odd, got {np.shape(kernels)}")
    if not np.all(np.isfinite(k)):
        raise ValueError("kernels contain NaN or Inf values")
    return k


def solve_inverse_filters(kernel_sets: np.ndarray, support: int, rho: float, *,
                          tol: float = 1e-10, maxiter: int = 1000, return_dual: bool = False):
    """Filters (S, n + 1, w, w) for a batch of kernel sets (S, n + 1, K, K); see module doc.

    With ``return_dual`` also the dual filters a = (Q Q^T + rho I)^-1 delta, (S, F, F) with
    F = w + K - 1, of which every d_i is the cropped correlation with k_i (eq. 14).
    """
    sets, count, ksize, _ = kernel_sets.shape
    workers = num_threads()
    full = support + ksize - 1
    grid = scipy.fft.next_fast_len(full + ksize - 1, real=True)
    spectra = scipy.fft.rfft2(kernel_sets, s=(grid, grid), axes=(-2, -1), workers=workers)  # (S, n+1, g, g/2+1)

    def valid_corr(a_hat):
        """M_i^T a for every i: correlation with k_i, valid part (w x w)."""
        c = scipy.fft.irfft2(np.conj(spectra) * a_hat[:, None], s=(grid, grid), axes=(-2, -1), workers=workers)
        return c[..., :support, :support]

    def gram(a):
        """(Q Q^T + rho I) a on the full grid (a: (S, full, full))."""
        a_hat = scipy.fft.rfft2(a, s=(grid, grid), axes=(-2, -1), workers=workers)
        d = valid_corr(a_hat)
        back = scipy.fft.irfft2((spectra * scipy.fft.rfft2(d, s=(grid, grid), axes=(-2, -1), workers=workers))
                                .sum(axis=1), s=(grid, grid), axes=(-2, -1), workers=workers)
        return back[:, :full, :full] + rho * a

    power = (np.abs(scipy.fft.rfft2(kernel_sets, s=(full, full), axes=(-2, -1), workers=workers)) ** 2).sum(1)

    def precondition(r):
        return scipy.fft.irfft2(scipy.fft.rfft2(r, axes=(-2, -1), workers=workers) / (power + rho),
                                s=(full, full), axes=(-2, -1), workers=workers)

    rhs = np.zeros((sets, full, full))
    rhs[:, full // 2, full // 2] = 1.0
    a = precondition(rhs)
    r = rhs - gram(a)
    z = precondition(r)
    p = z.copy()
    rz = np.einsum("sij,sij->s", r, z)
    for _ in range(maxiter):
        active = np.sqrt(np.einsum("sij,sij->s", r, r)) > tol
        if not active.any():
            break
        q = gram(p)
        pq = np.einsum("sij,sij->s", p, q)
        alpha = np.where(active, rz / np.where(active, pq, 1), 0.0)
        a += alpha[:, None, None] * p
        r -= alpha[:, None, None] * q
        z = precondition(r)
        rz_new = np.einsum("sij,sij->s", r, z)
        p = z + np.where(active, rz_new / np.where(active, rz, 1), 0.0)[:, None, None] * p
        rz = rz_new
    # d_i = M_i^T a, the cropped correlation of a with k_i, aligned on the support
    a_hat = scipy.fft.rfft2(a, s=(grid, grid), axes=(-2, -1), workers=workers)
    filters = valid_corr(a_hat)
    return (filters, a) if return_dual else filters


def irc_response(kernels: np.ndarray, filters: np.ndarray, size: int = 256) -> np.ndarray:
    """e(w) = sum_i D_i(w) K_i(w) on a size x size frequency grid (complex)."""
    ksize = kernels.shape[-1]
    w = filters.shape[-1]
    prod = np.zeros((size, size), dtype=complex)
    for k, d in zip(kernels, filters):
        full = scipy.fft.fft2(k, s=(size, size)) * scipy.fft.fft2(d, s=(size, size))
        prod += full
    # centre the composite filter: k (K) *full d (w) has its centre at (K - 1 + w - 1) / 2
    shift = (ksize - 1 + w - 1) // 2
    f = np.fft.fftfreq(size)
    phase = np.exp(2j * np.pi * shift * (f[:, None] + f[None, :]))
    return prod * phase


def damping_for(response: np.ndarray) -> tuple[float, float, float]:
    """(spectral radius, tau, damped radius) minimising max |1 - tau e| over tau in (0, 1]."""
    radius = float(np.abs(1 - response).max())
    if radius < 1:
        return radius, 1.0, radius
    taus = np.linspace(0.02, 1.0, 50)
    radii = np.array([np.abs(1 - t * response).max() for t in taus])
    best = int(np.argmin(radii))
    lo, hi = taus[max(best - 1, 0)], taus[min(best + 1, len(taus) - 1)]
    for _ in range(30):  # golden-section refinement of the unimodal max |1 - tau e|
        m1, m2 = lo + 0.382 * (hi - lo), lo + 0.618 * (hi - lo)
        if np.abs(1 - m1 * response).max() <= np.abs(1 - m2 * response).max():
            hi = m2
        else:
            lo = m1
    tau = 0.5 * (lo + hi)
    return radius, float(tau), float(np.abs(1 - tau * response).max())


def inverse_filters(kernels, support: int, rho: float = 1e-2) -> InverseFilters:
    """Local inverse filters d_0 .. d_n of kernels k_0 .. k_n (001 eqs. 10-14).

    Parameters
    ----------
    kernels : array_like (n + 1, K, K) or (K, K)
        The kernels of the least-squares problem (a blur kernel and, in ADMM, the scaled
        prior filters); odd square sizes, zero-padded to a common K by the caller.
    support : int
        Odd filter width w (at least 2 x the kernel extent for good accuracy; 71 for 35 px
        linear motions).
    rho : float
        Tikhonov weight (1e-2 in CPCR and 001).

    Returns
    -------
    InverseFilters
        The filters, the eq. 10 residual and the spectral check with its damping.
    """
    sets = _as_kernel_sets(kernels)
    if sets.shape[0] != 1:
        raise ValueError("inverse_filters takes one kernel set; use LinearKernelLUT for tables")
    support = check_positive_int(support, "support", minimum=1)
    if support % 2 == 0:
        raise ValueError(f"support must be odd, got {support}")
    rho = check_positive_float(rho, "rho")
    filters = solve_inverse_filters(sets, support, rho)[0]
    return summarize(sets[0], filters)


def summarize(kernels: np.ndarray, filters: np.ndarray) -> InverseFilters:
    ksize, w = kernels.shape[-1], filters.shape[-1]
    full = np.zeros((ksize + w - 1, ksize + w - 1))
    for k, d in zip(kernels, filters):
        full += scipy.signal.convolve(k, d, mode="full")
    full[full.shape[0] // 2, full.shape[1] // 2] -= 1.0
    response = irc_response(kernels, filters)
    radius, tau, damped = damping_for(response)
    return InverseFilters(filters, float(np.linalg.norm(full)), radius, tau, damped)




def preconditioner_filter(kernels: np.ndarray, size: int, rho: float = 1e-2,
                          grid: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Shared IRC filter p with d_i = p * k_i^T (the structure of 001 eq. 14), and e(w).

    p is the circulant inverse 1 / (sum_i |K_i|^2 + rho) cut to ``size`` x ``size`` by a
    Gaussian window (sigma = size / 8), centro-symmetric, so its response stays real and
    positive. IRC steps x <- x + tau p * sum_i k_i^T r_i then have the exact least-squares
    solution as fixed point. Returns p and the response e(w) = P(w) sum_i |K_i(w)|^2 on a
    ``grid`` x ``grid`` frequency grid (last axis halved, as ``rfft2``).
    """
    filters, responses = preconditioner_filters(np.asarray(kernels)[None], size, rho, grid)
    return filters[0], responses[0]


def preconditioner_filters(kernel_sets: np.ndarray, size: int, rho: float = 1e-2,
                           grid: int = 256, chunk: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``preconditioner_filter`` for a batch of kernel sets (L, n, K, K), vectorised.

    Returns the filters (L, size, size) and responses (L, grid, grid // 2 + 1).
    """
    kernel_sets = np.asarray(kernel_sets, dtype=np.float64)
    grid = max(grid, scipy.fft.next_fast_len(2 * size))
    r = np.arange(size) - size // 2
    window = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * (size / 8.0) ** 2))
    count = len(kernel_sets)
    filters = np.empty((count, size, size))
    responses = np.empty((count, grid, grid // 2 + 1))
    workers = num_threads()
    for start in range(0, count, chunk):
        sets = kernel_sets[start:start + chunk]
        power = np.sum(np.abs(_centred_rfft2(sets, grid, workers)) ** 2, axis=1)
        p = scipy.fft.irfft2(1.0 / (power + rho), s=(grid, grid), workers=workers)
        p = np.roll(p, (size // 2, size // 2), axis=(-2, -1))[..., :size, :size] * window
        p = 0.5 * (p + p[..., ::-1, ::-1])
        filters[start:start + chunk] = p
        responses[start:start + chunk] = _centred_rfft2(p, grid, workers).real * power
    return filters, responses


def _centred_rfft2(kernels: np.ndarray, grid: int, workers: int) -> np.ndarray:
    """rfft2 on a periodic grid of centred odd kernels (..., K, K) moved to the origin."""
    k = kernels.shape[-1]
    padded = np.zeros(kernels.shape[:-2] + (grid, grid))
    padded[..., :k, :k] = kernels
    padded = np.roll(padded, (-(k // 2), -(k // 2)), axis=(-2, -1))
    return scipy.fft.rfft2(padded, workers=workers)
