"""Iterative residual compensation (001 Algorithm 2.1)."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = ["irc"]

Op = Callable[[np.ndarray], np.ndarray]


def irc(x0: np.ndarray, targets: Sequence[np.ndarray], kernels: Sequence[Op],
        filters: Sequence[Op] | None = None, num_iter: int = 2, *,
        damping: float | Sequence[float] = 1.0,
        kernel_adjoints: Sequence[Op] | None = None,
        filter_adjoints: Sequence[Op] | None = None, preconditioner: Op | None = None,
        tol: float | None = None):
    """Minimise sum_i ||k_i(x) - c_i||^2 by residual compensation (001 Algorithm 2.1).

    Plain form (the paper's): x <- x + tau sum_i d_i(r_i) with r_i = c_i - k_i(x), which
    converges when the spectral radius of delta - sum_i d_i * k_i is below 1 (001
    Proposition). When adjoints are given, the normal form
    x <- x + tau E^T(sum_i d_i(r_i)) with E = sum_i d_i k_i is used instead: its error
    response 1 - tau |e|^2 contracts for any filters with tau < 2 / max |e|^2, where the plain
    form does not (see ``inverse_filters``). With ``preconditioner`` p and
    ``kernel_adjoints`` the factored form of eq. 14, d_i = p k_i^T, is used:
    x <- x + tau p(sum_i k_i^T r_i), whose fixed point is the exact least-squares solution.

    Parameters
    ----------
    x0 : ndarray
        Starting estimate (001 starts from sum_i d_i(c_i); ADMM warm-starts).
    targets : sequence of ndarray
        c_0 .. c_n.
    kernels, filters : sequences of callables
        k_i and the inverse filters d_i as operators on images.
    num_iter : int
        T_max.
    damping : float or sequence of float
        tau, or one tau per step (e.g. Chebyshev steps for a known spectral interval).
    kernel_adjoints, filter_adjoints : sequences of callables, optional
        k_i^T and d_i^T; both given selects the normal form.
    tol : float, optional
        Stop when sum_i ||r_i||^2 <= tol (Algorithm 2.1's epsilon).

    Returns
    -------
    x : ndarray
    residuals : list of float
        sum_i ||r_i||^2 before each step.
    """
    factored = preconditioner is not None
    if factored and kernel_adjoints is None:
        raise ValueError("the preconditioned form needs kernel_adjoints")
    if not factored and filters is None:
        raise ValueError("irc needs filters (or a preconditioner with kernel_adjoints)")
    normal = not factored and kernel_adjoints is not None and filter_adjoints is not None
    x = x0.copy()
    history = []
    steps = np.broadcast_to(np.asarray(damping, dtype=float), (num_iter,))
    for tau in steps:
        residuals = [c - k(x) for c, k in zip(targets, kernels)]
        history.append(float(sum(np.vdot(r, r).real for r in residuals)))
        if tol is not None and history[-1] <= tol:
            break
        if factored:
            step = preconditioner(sum(kt(r) for kt, r in zip(kernel_adjoints, residuals)))
        else:
            step = sum(d(r) for d, r in zip(filters, residuals))
        if normal:
            step = sum(kt(dt(step)) for kt, dt in zip(kernel_adjoints, filter_adjoints))
        x += tau * step
    return x, history

