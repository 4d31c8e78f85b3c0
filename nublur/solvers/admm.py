"""ADMM with iterative residual compensation and its FFT and CG baselines (001 section 2).

All solvers address 001 eq. 1 with the gradient filters g_1 = [-1, 1], g_2 = g_1^T:

    min_x  1/2 ||H x - y||^2 + lam sum_i ||g_i * x||_l        l = 1 (soft) or 0 (hard)

ADMM (001 eqs. 2-5, 15; scaled multipliers beta_i, penalty rho):

    z_i  <- shrink(g_i * x + beta_i, lam / rho)                                  (eq. 4)
    x    <- argmin ||H x - y||^2 + rho sum_i ||g_i * x - (z_i - beta_i)||^2       (eq. 5)
    beta <- beta_i + g_i * x - z_i                                                 (eq. 15)

Eq. 5 is multiplied by rho here (001 divides by it: k_0 = k / sqrt(rho)); the minimiser is
the same and the kernel set {H, sqrt(rho) g_1, sqrt(rho) g_2} stays well scaled for the inverse
filters. ``admm_irc`` solves eq. 5 approximately with ``num_irc`` IRC steps; ``deconv_cg``
with prior "l1" runs the same ADMM with exact (CG) x-updates; ``deconv_fft`` and
``deconv_cg`` with prior "l2" solve the quadratic version, lam sum_i ||g_i * x||^2.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft
from scipy.sparse.linalg import LinearOperator, cg
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .._backend import num_threads
from .._validation import (as_image, check_boundary, check_nonnegative_float,
                           check_positive_float, check_positive_int, restore_channel_axis)
from ..fields import KernelField, LinearMotionField, UniformField
from ..operators.blur import _apply_2d, as_field
from ..operators.filtering import FiniteDifference, FilterOperator, gradient_filters
from .inverse_filters import preconditioner_filters
from ._windowed_step import WindowedFilters, node_centres
from .lut import KERNEL_SIZE, LinearKernelLUT

__all__ = ["admm_irc", "deconv_cg", "deconv_fft", "shrink", "objective", "DEFAULT_RHO"]

DEFAULT_RHO = 0.1
MAX_TABLE_LENGTH = 35.0  # the longest motion of the 511-kernel table
"""Default ADMM penalty (chosen on 5 Levin kernel/image pairs with sigma = 0.01, lam = 0.003)."""


def shrink(v: np.ndarray, threshold: float, prior: str) -> np.ndarray:
    """Proximal map of threshold * |.|_l: soft (l = 1) or hard (l = 0, at sqrt(2 t))."""
    if prior == "l1":
        return np.sign(v) * np.maximum(np.abs(v) - threshold, 0)
    return np.where(np.abs(v) > np.sqrt(2 * threshold), v, 0)


class _Problem:
    """H, the gradient filters and their adjoints on one (H, W) channel."""

    def __init__(self, field: KernelField, shape, dtype, boundary: str):
        self.field, self.boundary, self.shape, self.dtype = field, boundary, shape, dtype
        self.grads = [FiniteDifference(axis, boundary) for axis in (0, 1)]

    def blur(self, x):
        return _apply_2d(x, self.field, self.boundary, adjoint=False)

    def blur_t(self, r):
        return _apply_2d(r, self.field, self.boundary, adjoint=True)

    def grad(self, x):
        return [g.forward(x) for g in self.grads]

    def grad_t(self, vs):
        return sum(g.adjoint(v) for g, v in zip(self.grads, vs))

    def normal(self, x, weight: float):
        """(H^T H + weight G^T G) x, the normal operator of eq. 5 (weight rho) and of the
        quadratic eq. 16 (weight 2 lam)."""
        return self.blur_t(self.blur(x)) + weight * self.grad_t(self.grad(x))


def objective(x, y, problem: _Problem, lam: float, prior: str) -> float:
    """1/2 ||H x - y||^2 + lam sum_i ||g_i * x||_l (l = 1: sum of |.|; l = 0: count)."""
    data = 0.5 * float(np.sum((problem.blur(x) - y) ** 2, dtype=np.float64))
    grads = problem.grad(x)
    if prior == "l1":
        reg = sum(float(np.abs(g).sum(dtype=np.float64)) for g in grads)
    else:
        reg = float(sum(np.count_nonzero(np.abs(g) > 1e-12) for g in grads))
    return data + lam * reg


def _check_common(lam, prior, num_admm, rho, callback):
    if prior not in ("l1", "l0"):
        raise ValueError(f"prior must be 'l1' or 'l0', got {prior!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    return (check_nonnegative_float(lam, "lam"), check_positive_int(num_admm, "num_admm"),
            DEFAULT_RHO if rho is None else check_positive_float(rho, "rho"))


def _admm(y, problem, lam, prior, num_admm, rho, x_update, callback, progress, desc):
    x = y.copy()
    beta = [np.zeros_like(y) for _ in problem.grads]
    for t in tqdm(range(num_admm), desc=desc, disable=not progress, leave=False):
        gx = problem.grad(x)
        z = [shrink(g + b, lam / rho, prior) for g, b in zip(gx, beta)]
        targets = [np.sqrt(rho) * (zi - bi) for zi, bi in zip(z, beta)]
        x = x_update(x, targets)
        gx = problem.grad(x)
        beta = [b + g - zi for b, g, zi in zip(beta, gx, z)]
        if callback is not None:
            callback(t + 1, x, objective(x, y, problem, lam, prior))
    return x


class _Preconditioner:
    """v -> s^1/2 M s^1/2 v: the IRC step operator.

    M is the filter p, or for a spatially varying blend its symmetric part (M + M^T) / 2,
    at the cost of one more filter pass: a blend of filters is far from symmetric inside the
    image, and with a symmetric step operator the preconditioned normal operator has a real
    spectrum, so power iteration finds its top and a fixed step stays stable (without it, 2
    of 3 test fields diverged once the filter support grew to 101). A single filter is
    symmetric up to the border folds, which the power estimate covers. s is the border
    scale of ``_border_scale``, applied as s^1/2 on both sides. The filtering runs in
    float32 whatever the image's precision: S only has to approximate the inverse, the fixed
    point of IRC stays the exact solution (001 Proposition), and float32 FFTs are twice as fast.
    """

    def __init__(self, filters: FilterOperator, scale: np.ndarray, symmetrize: bool):
        self.filters, self.root, self.symmetrize = filters, np.sqrt(scale), symmetrize

    def __call__(self, v: np.ndarray) -> np.ndarray:
        u = (self.root * v).astype(np.float32, copy=False)
        if not self.symmetrize:
            return self.root * self.filters.forward(u)
        return self.root * (0.5 * (self.filters.forward(u) + self.filters.adjoint(u)))


class _IRCUpdate:
    """IRC x-update (eq. 5) for a uniform PSF or a LinearMotionField.

    Uses the factored form of the eq. 14 filters, d_i = p * k_i^T, with p the shared filter of
    ``preconditioner_filter``; for a LinearMotionField, one p per LUT label of its 4-neighbour
    blend, mixed per pixel with the eq. 17 weights (001 section 2.2), taken from the
    ``LinearKernelLUT`` of factored filters (cached on disk) and compressed to a few basis
    filters (24 or fewer, more where that would flip a response; ``_compress_filters``);
    k_0^T is the exact adjoint of the per-pixel gather. The fixed point is the exact solution
    of eq. 5 whatever the boundary: x <- x + tau S(H^T r + rho G^T r_g) with the step
    operator S of ``_Preconditioner``.

    Step size: each label's filter is scaled by its own best Richardson step
    2 / (e_min + e_max) (from its periodic response e(w)); the global tau is then
    1.9 / (e_min + e_max) over the used labels, with e_max raised to 1.1 x a power-iteration
    estimate (Rayleigh quotient in the H^T H + rho G^T G inner product, in which the
    preconditioned operator is self-adjoint) when the boundaries push the top higher. For a
    translation-invariant problem (a uniform PSF or a constant linear motion) the estimate
    runs on a 96 x 96 problem with the same boundary (its top modes live at edges and
    corners), otherwise on the problem itself. Where the boundary folds the padding back,
    H^T H 1 exceeds 1 near the border; S divides the step there by that local gain (a diagonal
    preconditioner, as RL's H^T 1), which keeps the border modes from dictating tau.
    """

    def __init__(self, problem: _Problem, rho: float, num_irc: int, support, filter_rho,
                 lookup: str = "softmax", invariant: bool | None = None):
        self.problem, self.num_irc, self.rho = problem, num_irc, rho
        field = problem.field
        if isinstance(field, LinearMotionField):
            filters, responses = self._blend(field, support, filter_rho, lookup)
        else:
            filters, responses = _uniform_filter(field.psf, rho, support, filter_rho,
                                                 problem.boundary)
        self.spectral_max = float(responses.max())
        self.spectral_min = float(responses.min())
        if invariant is None:
            invariant = _translation_invariant(field)
        self.precondition = _Preconditioner(filters, _border_scale(problem), not invariant)
        if invariant:  # a small problem with the same borders suffices
            proxy, proxy_filters = _proxy(problem, filters)
            step = _Preconditioner(proxy_filters, _border_scale(proxy), False)
            estimate = _power_estimate(proxy, step, rho, iters=15)
        else:
            estimate = _power_estimate(problem, self.precondition, rho, iters=8)
        top = max(self.spectral_max, 1.1 * estimate)
        # Richardson's best fixed step for a spectrum in [e_min, e_max]: 2 / (e_min + e_max)
        self.damping = 1.9 / (max(self.spectral_min, 0.0) + top)

    def _blend(self, field, support, filter_rho, lookup):
        """Blended, step-scaled LUT filters of a linear field and their response ranges."""
        lut = step_lut(self.rho, support, filter_rho)
        labels, weights = _lookup(lut, field.length, field.angle, lookup)
        used, inverse = np.unique(labels, return_inverse=True)
        self.labels = used
        inverse = inverse.reshape(labels.shape)
        responses = lut.response_range(used)
        steps = 2.0 / responses.sum(axis=1)
        basis, coeffs = _compress_filters(lut.filters_for(used)[:, 0] * steps[:, None, None],
                                          spectra=lambda grid: _label_spectra(lut, used, grid)
                                          * steps[:, None])
        filters = FilterOperator(basis, _basis_mixing(coeffs, inverse, weights),
                                 boundary=_step_boundary(self.problem.boundary))
        return filters, responses * steps[:, None]

    def start(self, problem: _Problem, y: np.ndarray) -> None:
        """Sets the channel to solve: its problem and H^T y, which every x-update reuses."""
        self.problem = problem
        self.hty = problem.blur_t(y)

    def __call__(self, x, grad_targets, rho: float | None = None, step_scales=None):
        """Algorithm 2.1 in the factored form (``irc`` with a preconditioner), on the normal
        residual: sum_i k_i^T (c_i - k_i x) = H^T y + sqrt(rho) G^T t - A x with
        A = H^T H + rho G^T G, so H^T y is computed once per image and the gradient
        residuals never materialise; the iterates are those of ``irc``.

        ``rho`` (default: the penalty the step was built for) and ``step_scales`` (one factor
        on the damping per IRC step, default 1) are IRC-Net's per-stage parameters.
        """
        p = self.problem
        rho = self.rho if rho is None else rho
        scales = np.ones(self.num_irc) if step_scales is None else step_scales
        rhs = self.hty + np.sqrt(rho) * p.grad_t(grad_targets)
        for scale in scales:
            residual = rhs - p.normal(x, rho)
            x = x + (self.damping * scale) * self.precondition(residual)
        return x


class _SubspaceUpdate:
    """IRC x-update (eq. 5) whose steps are combined optimally (``admm_irc(step="optimal")``).

    The T IRC directions z_k = S r_k (r_k the normal residual after k steps) are combined as
    x <- x + sum_k c_k z_k with c minimising the eq. 5 objective over their span,
    (Z^T A Z) c = Z^T r_0 with A = H^T H + rho G^T G. That span is the T-step Krylov space
    in which T fixed IRC steps (``_IRCUpdate``) also stay, so no damping does better on any
    x-update; no step size has to be estimated (``_IRCUpdate``'s power iteration costs about
    8 steps) and S need not be symmetric for stability. With a symmetric S this is
    preconditioned CG restarted at each x-update. Each direction costs one S and one A, as a
    fixed IRC step does: the A z_k update the residual, which is carried into the next
    x-update, where only its right-hand side changes.

    A is the same in every x-update, so the previous x-update's directions and their A z
    are kept in the span at the cost of a few inner products (Krylov subspace recycling):
    on ``benchmarks/bench_nonuniform.py`` this took 2 steps from 0.22 to 0.06 dB below
    exact x-updates.

    S: for a spatially varying ``LinearMotionField`` the windowed LUT filters of
    ``_windowed_step`` (symmetric, a tenth of the FFT work of the per-pixel blend); for a
    uniform PSF or a constant linear motion the single filter of ``_IRCUpdate``.
    """

    def __init__(self, problem: _Problem, rho: float, num_irc: int, support, filter_rho,
                 lookup: str = "softmax"):
        self.problem, self.num_irc, self.rho = problem, num_irc, rho
        field = problem.field
        if _translation_invariant(field):
            filters = _invariant_filter(field, rho, support, filter_rho, lookup,
                                        problem.boundary)
            self.precondition = _Preconditioner(filters, _border_scale(problem), False)
        else:
            self.precondition = _windowed_step(field, problem.shape, rho, support, filter_rho,
                                               lookup)
        self._carried, self._kept = None, []

    def start(self, problem: _Problem, y: np.ndarray) -> None:
        """Sets the channel to solve: its problem and H^T y, which every x-update reuses."""
        self.problem, self.hty = problem, problem.blur_t(y)
        self._carried, self._kept = None, []

    def __call__(self, x, grad_targets):
        p, rho = self.problem, self.rho
        rhs = self.hty + np.sqrt(rho) * p.grad_t(grad_targets)
        carried = self._carried
        if carried is not None and carried[0] is x:  # the previous x-update's result
            start, kept = carried[1] + (rhs - carried[2]), self._kept
        else:
            start, kept = rhs - p.normal(x, rho), []
        residual, directions, images = start, [d for d, _ in kept], [a for _, a in kept]
        for _ in range(self.num_irc):
            directions.append(self.precondition(residual).astype(x.dtype, copy=False))
            images.append(p.normal(directions[-1], rho))
            coeffs = _subspace_coefficients(directions, images, start)
            residual = start - sum(c * a for c, a in zip(coeffs, images))
        x = x + sum(c * z for c, z in zip(coeffs, directions))
        self._carried = (x, residual, rhs)
        self._kept = list(zip(directions, images))[-self.num_irc:]
        return x


def _subspace_coefficients(directions, images, residual) -> np.ndarray:
    """c minimising ||x + Z c - x*||_A: (Z^T A Z) c = Z^T r (least squares if singular)."""
    gram = np.array([[np.vdot(z, a) for a in images] for z in directions], dtype=np.float64)
    gram = 0.5 * (gram + gram.T)
    target = np.array([np.vdot(z, residual) for z in directions], dtype=np.float64)
    return np.linalg.lstsq(gram, target, rcond=1e-12)[0]


NODE_SPACING = 32
"""Node spacing (px) of the windowed IRC step filters of a spatially varying linear field."""


def _windowed_step(field: LinearMotionField, shape, rho, support, filter_rho, lookup):
    """The step operator S of ``_SubspaceUpdate`` for a spatially varying linear field: the
    LUT filters of each node's motion (eq. 17 blend or nearest label, each label scaled by
    its best Richardson step as in ``_IRCUpdate``) on a grid of ``NODE_SPACING`` px, joined
    by hat windows (``_windowed_step.WindowedFilters``); the field is sampled at the nodes."""
    lut = step_lut(rho, support, filter_rho)
    rows, cols = (node_centres(n, NODE_SPACING) for n in shape)
    at = np.ix_(np.round(rows).astype(int), np.round(cols).astype(int))
    labels, weights = _lookup(lut, field.length[at], field.angle[at], lookup)
    used, inverse = np.unique(labels, return_inverse=True)
    inverse = inverse.reshape(labels.shape)
    steps = 2.0 / lut.response_range(used).sum(axis=1)
    return WindowedFilters(lut.filters_for(used)[:, 0], inverse, weights * steps[inverse],
                           rows, cols, shape)


def _lookup(lut, length, angle, lookup: str):
    """(labels, weights) (..., n) of the motions: eq. 17's 4-neighbour blend or the nearest."""
    if lookup == "softmax":
        return lut.blend(length, angle)
    labels = lut.nearest(length, angle)[..., None]
    return labels, np.ones(labels.shape)


def _invariant_filter(field: KernelField, rho, support, filter_rho, lookup, boundary):
    """The single IRC step filter of a uniform PSF (``preconditioner_filters``) or of a
    constant linear motion (its LUT labels' filters blended, each scaled by its best
    Richardson step), with the step boundary of ``_step_boundary``."""
    if isinstance(field, LinearMotionField):
        lut = step_lut(rho, support, filter_rho)
        labels, weights = _lookup(lut, field.length[0, 0], field.angle[0, 0], lookup)
        steps = 2.0 / lut.response_range(labels).sum(axis=1)
        p = np.tensordot(weights * steps, lut.filters_for(labels)[:, 0], axes=1)
        return FilterOperator(p, boundary=_step_boundary(boundary))
    return _uniform_filter(field.psf, rho, support, filter_rho, boundary)[0]


def _uniform_filter(psf, rho, support, filter_rho, boundary):
    """The IRC step filter of a uniform PSF (``preconditioner_filters`` of {k, sqrt(rho) g_1,
    sqrt(rho) g_2} on max(31, 4K + 1) px unless ``support``) with the step boundary of
    ``_step_boundary``, and its response."""
    kernel_set = _kernel_set(psf, gradient_filters() * np.sqrt(rho))
    size = support or max(31, 4 * psf.shape[0] + 1)
    p, responses = preconditioner_filters(kernel_set[None], size, filter_rho)
    return FilterOperator(p[0], boundary=_step_boundary(boundary)), responses


@functools.lru_cache(maxsize=4)
def step_lut(rho: float, support: int | None = None, filter_rho: float = 1e-2):
    """The table of factored IRC filters ``admm_irc`` blends for a LinearMotionField at
    penalty ``rho`` (companions: 001's gradient filters times sqrt(rho)), solved lazily and
    kept for the process (loading it from the disk cache costs about 50 ms)."""
    return LinearKernelLUT(support or 2 * KERNEL_SIZE + 1, filter_rho,
                           gradient_filters() * np.sqrt(rho), lazy=True, form="factored")


def _step_boundary(boundary: str) -> str:
    """Boundary of the IRC step filters: the problem's, except "reflect" for "replicate",
    whose folds pile a kernel's worth of samples onto each edge pixel and make the step
    operator indefinite there (ADMM-IRC diverged on every replicate test field, uniform and
    varying). S only approximates the inverse: the fixed point stays exact."""
    return "reflect" if boundary == "replicate" else boundary


def _basis_mixing(coeffs: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-pixel weights of the basis filters: sum_n w_n c[label_n, :] over a pixel's labels.

    ``labels`` and ``weights`` are (H, W, n) (n = 4 for the eq. 17 blend); returns (R, H, W).
    """
    table = np.ascontiguousarray(coeffs.T)
    out = np.zeros((coeffs.shape[1],) + labels.shape[:2])
    for n in range(labels.shape[-1]):
        out += np.take(table, labels[..., n], axis=1) * weights[..., n]
    return out


_PROXY_SIZE = 96


def _translation_invariant(field: KernelField) -> bool:
    if isinstance(field, LinearMotionField):
        return bool(np.ptp(field.length) == 0 and np.ptp(field.angle) == 0)
    return True


def _proxy(problem: _Problem, filters: FilterOperator):
    """The same translation-invariant problem on at most 96 x 96 pixels."""
    h, w = (min(n, _PROXY_SIZE) for n in problem.shape)
    field = problem.field
    if isinstance(field, LinearMotionField):
        field = LinearMotionField(field.length[:h, :w], field.angle[:h, :w])
    if filters.mixing is not None:
        filters = FilterOperator(filters.filters, filters.mixing[:, :h, :w],
                                 boundary=filters.boundary)
    return _Problem(field, (h, w), problem.dtype, problem.boundary), filters


def _border_scale(problem: _Problem) -> np.ndarray:
    """1 / max(H^T H 1, 1): H^T H 1 is 1 inside and up to ~2 where the boundary folds."""
    gain = problem.blur_t(problem.blur(np.ones(problem.shape, problem.dtype)))
    return 1.0 / np.maximum(gain, 1.0)


def _power_estimate(problem: _Problem, step, rho: float, iters: int) -> float:
    """Largest |eigenvalue| of T = S A, A = H^T H + rho G^T G, by power iteration.

    T is self-adjoint in the A inner product, so growth is measured in the A norm,
    ||T v||_A / ||v||_A, and the Rayleigh quotient <A v, T v> / <A v, v> is kept as well;
    both come from the products the iteration computes anyway.
    """
    v = np.random.default_rng(0).standard_normal(problem.shape)
    top, previous = 0.0, None
    for _ in range(iters):
        a = problem.normal(v, rho)
        energy = float(np.vdot(a, v))  # ||v||_A^2
        if previous is not None:  # ||T v_prev||_A^2 = ||t_prev||^2 ||v||_A^2
            growth_sq = previous[1] ** 2 * energy / previous[0]
            top = max(top, float(np.sqrt(max(growth_sq, 0.0))))
        t = step(a)
        top = max(top, abs(float(np.vdot(a, t))) / energy)
        previous = (energy, float(np.linalg.norm(t)))
        v = t / previous[1]
    return top


def _compress_filters(filters: np.ndarray, rel_tol: float = 1e-3, max_rank: int = 24,
                      ranks=(32, 48, 64), floor: float = 0.25, spectra=None):
    """Low-rank form p_m ~ sum_j c[m, j] q_j of many IRC filters (truncated SVD).

    The blended operator sum_m w_m (p_m * r) then costs one FFT convolution per basis filter
    q_j (mixing sum_m w_m c[m, j]) instead of one per label. The rank is the smallest one
    reaching ``rel_tol`` (at most ``max_rank``), raised through ``ranks`` (and, failing
    those, to the exact full rank) until every
    compressed filter keeps a frequency response of at least ``floor`` times its own (no
    check with ``floor=None``): a truncation that lets a response turn negative makes IRC
    diverge along those frequencies.
    """
    flat = filters.reshape(len(filters), -1)
    # SVD through the small Gram matrix: only the leading singular pairs are kept
    eigenvalues, u = np.linalg.eigh(flat @ flat.T)
    order = np.argsort(eigenvalues)[::-1]
    s = np.sqrt(np.maximum(eigenvalues[order], 0.0))
    u = u[:, order]
    significant = int(np.count_nonzero(s > s[0] * 1e-7))  # Gram: ~sqrt(eps)
    energy = np.cumsum(s[::-1] ** 2)[::-1] / np.sum(s**2)  # energy[j]: share from rank j on
    rank = int(np.clip(np.searchsorted(-energy, -rel_tol**2), 1, max_rank))
    vt = (u[:, :significant].T @ flat) / s[:significant, None]
    coeffs = u[:, :significant] * s[:significant]
    tried = sorted({min(r, significant) for r in (rank,) + tuple(ranks) + (significant,)
                    if r >= rank})
    check = None if floor is None else _ResponseCheck(filters, vt, floor, spectra)
    for candidate in tried:
        rank = candidate
        if check is None or check.kept(coeffs[:, :rank]):
            break
    return vt[:rank].reshape((rank,) + filters.shape[1:]), coeffs[:, :rank]


class _ResponseCheck:
    """Whether sum_j c[m, j] Q_j(w) >= min(floor P_m(w), P_m(w)) for every filter m and w.

    Where a filter's own response is negative (a truncated support), nothing worse is
    allowed. The exact responses P_m are computed once and those of the basis Q_j as far as
    the ranks tried need them, so trying several ranks costs little more than the largest.
    """

    def __init__(self, filters, basis_flat, floor: float, spectra=None):
        self.width = filters.shape[-1]
        self.grid = _check_grid(self.width)
        self.basis_flat = basis_flat
        self.basis = np.zeros((0, self.grid * (self.grid // 2 + 1)))
        exact = (_real_spectra(filters, self.grid).reshape(len(filters), -1) if spectra is None
                 else spectra(self.grid))
        self.wanted = np.minimum(floor * exact, exact) - 1e-9 * np.abs(exact).max()

    def kept(self, coeffs: np.ndarray) -> bool:
        rank, known = coeffs.shape[1], len(self.basis)
        if rank > known:
            more = self.basis_flat[known:rank].reshape(-1, self.width, self.width)
            more = _real_spectra(more, self.grid).reshape(rank - known, -1)
            self.basis = np.concatenate([self.basis, more])
        return not np.any(coeffs @ self.basis[:rank] < self.wanted)


def _check_grid(width: int) -> int:
    """Periodic grid on which ``_ResponseCheck`` samples the responses of width-w filters."""
    return scipy.fft.next_fast_len(2 * width, real=True)


def _label_spectra(lut, labels, grid: int) -> np.ndarray:
    """(len(labels), grid * (grid // 2 + 1)) ``_real_spectra`` of the LUT's filters, computed
    once per label and kept on the table (float64, 84 kB per label at w = 71)."""
    store = lut.__dict__.setdefault("_spectra", {})
    if grid not in store:
        store[grid] = (np.zeros((lut.size, grid * (grid // 2 + 1))),
                       np.zeros(lut.size, dtype=bool))
    table, done = store[grid]
    missing = np.unique(labels[~done[labels]])
    if len(missing):
        table[missing] = _real_spectra(lut.filters_for(missing)[:, 0], grid).reshape(
            len(missing), -1)
        done[missing] = True
    return table[labels]


def _real_spectra(filters: np.ndarray, grid: int) -> np.ndarray:
    """Real part of the rfft2 of centred filters (M, w, w) on a periodic grid."""
    w = filters.shape[-1]
    wrapped = (np.arange(w) - w // 2) % grid  # the centre tap at the origin
    padded = np.zeros((len(filters), grid, grid))
    padded[:, wrapped[:, None], wrapped[None, :]] = filters
    return scipy.fft.rfft2(padded, workers=num_threads()).real


def _kernel_set(psf, grads):
    k = max(psf.shape[0], grads.shape[-1])
    out = np.zeros((3, k, k))
    _center(out[0], psf)
    _center(out[1], grads[0])
    _center(out[2], grads[1])
    return out


def _center(dst, src):
    c, r = dst.shape[0] // 2, src.shape[0] // 2
    dst[c - r:c + r + 1, c - r:c + r + 1] = src


def _prepare(image, psf, boundary, channel_axis, allow_fields):
    field = as_field(psf, "psf")
    if not isinstance(field, allow_fields):
        names = " or ".join(t.__name__ for t in allow_fields)
        raise TypeError(f"psf must be a 2-D array or a {names}, got {type(field).__name__}")
    if isinstance(field, LinearMotionField) and field.length.max() > MAX_TABLE_LENGTH:
        raise ValueError("psf: linear motions longer than 35 px are outside the 511-kernel "
                         f"table (max length {field.length.max():.1f})")
    boundary = check_boundary(boundary)
    img, axis = as_image(image, "image", channel_axis)
    field.check_image_shape(img.shape[:2], "image")
    channels = img[..., None] if axis is None else img
    return field, boundary, channels, axis


def _finish(channels_out, axis, channel_axis):
    out = np.stack(channels_out, axis=-1)
    return out[..., 0] if axis is None else restore_channel_axis(out, channel_axis)


def admm_irc(image, psf, *, lam: float = 0.003, prior: str = "l1", num_admm: int = 10,
             num_irc: int = 2, rho: float | None = None, boundary: str = "reflect",
             support: int | None = None, filter_rho: float = 1e-2, lookup: str = "softmax",
             step: str = "optimal", channel_axis=None, callback=None, progress: bool = False):
    """Non-blind deblurring by ADMM with IRC x-updates (001 eqs. 2-5, 15, Algorithm 2.1).

    Parameters
    ----------
    image : ndarray
        Blurry image, (H, W) or with ``channel_axis``.
    psf : ndarray (K, K) or LinearMotionField
        Uniform PSF, or per-pixel linear motion (lengths up to 35 px): the inverse filters of
        every pixel are blended from the 511-kernel LUT (001 eq. 17) and the forward model is
        nublur's gather (001 section 2.2).
    lam : float
        Prior weight (001 Table 1: 0.003).
    prior : "l1" or "l0"
        Soft or hard thresholding of the gradients (001 eq. 4).
    num_admm, num_irc : int
        ADMM iterations and IRC steps per x-update (001: 10 and 2).
    rho : float, optional
        ADMM penalty (default ``DEFAULT_RHO``).
    boundary : str
        Boundary of H and of the gradient filters.
    support, filter_rho : int, float
        Width of the shared IRC filter (default max(31, 4K + 1), 71 for linear fields) and
        its Tikhonov weight.
    lookup : "softmax" or "nearest"
        How a LinearMotionField's per-pixel motion picks LUT labels: the 4-neighbour softmax
        blend of 001 eq. 17, or the nearest label (CPCR).
    step : "optimal" or "fixed"
        How each x-update combines its ``num_irc`` IRC directions. "optimal": with the
        coefficients that minimise eq. 5 over their span (preconditioned CG restarted at every
        x-update; never worse than any fixed damping), and for a spatially varying
        LinearMotionField with the eq. 17 filters of nodes every ``NODE_SPACING`` px joined
        by hat windows. "fixed": Algorithm 2.1's steps x <- x + tau S r with one damping tau
        from a power estimate and the filters blended at every pixel (IRC-Net's form:
        ``load_solver("ircnet")`` with untrained parameters equals it).
    callback : callable, optional
        ``callback(t, x, objective)`` after ADMM iteration t, per channel.
    progress : bool
        tqdm bar over ADMM iterations.

    Returns
    -------
    ndarray, like ``image``.
    """
    lam, num_admm, rho = _check_common(lam, prior, num_admm, rho, callback)
    num_irc = check_positive_int(num_irc, "num_irc")
    filter_rho = check_positive_float(filter_rho, "filter_rho")
    if lookup not in ("softmax", "nearest"):
        raise ValueError(f"lookup must be 'softmax' or 'nearest', got {lookup!r}")
    if step not in ("optimal", "fixed"):
        raise ValueError(f"step must be 'optimal' or 'fixed', got {step!r}")
    field, boundary, channels, axis = _prepare(image, psf, boundary, channel_axis,
                                               (UniformField, LinearMotionField))
    kind = _SubspaceUpdate if step == "optimal" else _IRCUpdate
    outs = []
    update = None
    for c in range(channels.shape[-1]):
        y = np.ascontiguousarray(channels[..., c])
        problem = _Problem(field, y.shape, y.dtype, boundary)
        if update is None:
            update = kind(problem, rho, num_irc, support, filter_rho, lookup)
        update.start(problem, y)
        outs.append(_admm(y, problem, lam, prior, num_admm, rho, update, callback, progress,
                          "admm-irc"))
    return _finish(outs, axis, channel_axis)


def _cg_solve(matvec, rhs, x0, maxiter, tol):
    """scipy's CG with single-threaded BLAS.

    Its BLAS work is level 1 on image-sized vectors, which threads barely speed up, while
    the idle BLAS threads spin on the cores the parallel gathers need (2.8x slower NU-CG on
    2 cores, ``benchmarks/bench_nonuniform.py``).
    """
    n = rhs.size
    op = LinearOperator((n, n), matvec=lambda v: matvec(v.reshape(rhs.shape)).ravel(),
                        dtype=np.float64)
    with threadpool_limits(limits=1, user_api="blas"):
        sol, _ = cg(op, rhs.ravel().astype(np.float64), x0=x0.ravel().astype(np.float64),
                    rtol=tol, maxiter=maxiter)
    return sol.reshape(rhs.shape).astype(rhs.dtype)


def deconv_cg(image, psf, lam: float = 0.003, *, prior: str = "l2", maxiter: int = 100,
              tol: float = 1e-6, num_admm: int = 10, rho: float | None = None,
              boundary: str = "reflect", channel_axis=None, callback=None,
              progress: bool = False):
    """Conjugate-gradient baseline for 001 eq. 1 with any kernel field.

    ``prior="l2"``: CG on (H^T H + 2 lam G^T G) x = H^T y (the quadratic version).
    ``prior="l1"`` or ``"l0"``: the ADMM of ``admm_irc`` with exact x-updates, CG on
    (H^T H + rho G^T G) x = H^T y + rho G^T (z - beta), warm-started.
    ``maxiter`` and ``tol`` (relative residual) apply to each CG solve.
    """
    if prior not in ("l1", "l0", "l2"):
        raise ValueError(f"prior must be 'l1', 'l0' or 'l2', got {prior!r}")
    lam, num_admm, rho = _check_common(lam, "l1" if prior == "l2" else prior, num_admm, rho,
                                       callback)
    maxiter = check_positive_int(maxiter, "maxiter")
    tol = check_positive_float(tol, "tol")
    field, boundary, channels, axis = _prepare(image, psf, boundary, channel_axis,
                                               (KernelField,))
    outs = []
    for c in range(channels.shape[-1]):
        y = np.ascontiguousarray(channels[..., c])
        p = _Problem(field, y.shape, y.dtype, boundary)
        hty = p.blur_t(y)
        if prior == "l2":
            outs.append(_cg_solve(lambda v: p.normal(v, 2 * lam), hty, y, maxiter, tol))
            continue

        def update(x, targets):
            rhs = hty + np.sqrt(rho) * p.grad_t(targets)
            return _cg_solve(lambda v: p.normal(v, rho), rhs, x, maxiter, tol)
        outs.append(_admm(y, p, lam, prior, num_admm, rho, update, callback, progress,
                          "admm-cg"))
    return _finish(outs, axis, channel_axis)


def deconv_fft(image, psf, lam: float = 0.003, *, boundary: str = "reflect",
               channel_axis=None):
    """Closed-form Fourier solution of the quadratic version of 001 eq. 16.

    x = F^-1[ conj(K) Y / (|K|^2 + 2 lam sum_i |G_i|^2) ] minimises
    1/2 ||k * x - y||^2 + lam sum_i ||g_i * x||^2 for a periodic image. With ``boundary``
    "reflect" (or another extension mode) y is first extended by 2K pixels on each side and
    the result cropped, which removes most of the wrap-around artefacts; ``"none"`` solves on
    y as it is (001's FFT-nopad).
    """
    field = as_field(psf, "psf")
    if not isinstance(field, UniformField):
        raise TypeError("deconv_fft needs a uniform PSF (2-D array or UniformField)")
    lam = check_nonnegative_float(lam, "lam")
    if boundary != "none":
        boundary = check_boundary(boundary)
    img, axis = as_image(image, "image", channel_axis)
    channels = img[..., None] if axis is None else img
    k = field.psf
    pad = 0 if boundary == "none" else 2 * k.shape[0]
    outs = []
    for c in range(channels.shape[-1]):
        y = channels[..., c]
        if pad:
            from ..operators.boundaries import pad as extend
            y = extend(np.ascontiguousarray(y), pad, boundary)
        shape = y.shape
        otf = _otf(k, shape)
        reg = sum(np.abs(_otf(g, shape)) ** 2 for g in gradient_filters())
        spec = np.conj(otf) * np.fft.rfft2(y) / (np.abs(otf) ** 2 + 2 * lam * reg)
        x = np.fft.irfft2(spec, s=shape).astype(img.dtype)
        outs.append(x[pad:shape[0] - pad, pad:shape[1] - pad] if pad else x)
    return _finish(outs, axis, channel_axis)


def _otf(kernel, shape):
    """rfft2 of a centred kernel placed at the origin of a periodic ``shape`` grid."""
    padded = np.zeros(shape)
    k = kernel.shape[0]
    padded[:k, :k] = kernel
    padded = np.roll(padded, (-(k // 2), -(k // 2)), axis=(0, 1))
    return np.fft.rfft2(padded)
