"""Camera response: smooth saturation R and gamma (000 eqs. 3-4)."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from .._validation import as_float_array, check_positive_float

__all__ = ["smooth_clip", "smooth_clip_derivative", "camera_response"]


def smooth_clip(x, a: float = 50.0) -> np.ndarray:
    """R(x) = x - log(1 + exp(a (x - 1))) / a, a smooth clip at 1 (000 eq. 4).

    Evaluated as ``x - logaddexp(0, a (x - 1)) / a``, which does not overflow.
    """
    x = as_float_array(x, "x")
    a = check_positive_float(a, "a")
    return x - np.logaddexp(0.0, a * (x - 1.0)) / np.asarray(a, dtype=x.dtype)


def smooth_clip_derivative(x, a: float = 50.0) -> np.ndarray:
    """R'(x) = 1 / (1 + exp(a (x - 1))) (000 eq. 4 differentiated)."""
    x = as_float_array(x, "x")
    a = check_positive_float(a, "a")
    return expit(-a * (x - 1.0)).astype(x.dtype, copy=False)


def camera_response(x, gamma: float = 2.2, a: float = 50.0) -> np.ndarray:
    """v = R(x) ** (1 / gamma) (000 eq. 3 without the noise term).

    ``x`` is linear intensity (e.g. ``blur(u, field)`` plus noise). R(x) is negative for
    negative x; it is clipped at 0 before the gamma so the result is real.
    """
    gamma = check_positive_float(gamma, "gamma")
    clipped = np.maximum(smooth_clip(x, a), 0)
    return clipped ** np.asarray(1.0 / gamma, dtype=clipped.dtype)
