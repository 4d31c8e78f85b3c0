"""How strongly to deblur with an estimated field: the rule that keeps a photo from coming
out worse than it went in.

A blind estimate is never exact, and the damage an error does does not shrink with the blur:
a field whose kernels spread over a pixel or two gains at most about 1 dB when it is exact
(measured on recorded hand shake, ``benchmarks/bench_blind.py``) and loses 2 to 6 dB when its
fine structure is slightly wrong. So:

* blur radius (``blur_radius``, the radius of gyration of the kernels at the resolution the
  estimate was made on) below ``SMALL_BLUR`` px: the photo is returned unchanged;
* confidence below ``NO_CONFIDENCE``: unchanged; below ``LOW_CONFIDENCE``: gentle
  (``iterations x confidence`` iterations, TV at least ``GENTLE_TV``);
* otherwise the iterations asked for; the TV weight, unless given, follows the noise:
  ``TV_PER_NOISE`` x the noise standard deviation of the linearised image (plain RL amplifies
  sensor noise, and even the true field then falls below the blurry input on lightly
  blurred photos).
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["DeblurPlan", "deblur_plan", "blur_radius", "SMALL_BLUR", "LOW_CONFIDENCE",
           "NO_CONFIDENCE", "TV_PER_NOISE", "GENTLE_TV"]

SMALL_BLUR = 1.75
LOW_CONFIDENCE = 0.5
NO_CONFIDENCE = 0.2
TV_PER_NOISE = 0.4
GENTLE_TV = 5e-3


@dataclasses.dataclass(frozen=True)
class DeblurPlan:
    """What to do with an estimated field.

    Attributes
    ----------
    action : {"full", "gentle", "none"}
    iterations : int
        Iterations of the solver (0 with ``"none"``).
    tv_weight : float
    reason : str
        One line for the user (empty with ``"full"``).
    """

    action: str
    iterations: int
    tv_weight: float
    reason: str = ""


def blur_radius(kernels) -> float:
    """Median radius of gyration (px) of a stack of kernels (K, K) or (n, K, K): the root
    mean square distance of the PSF's mass from its centroid."""
    k = np.asarray(kernels, dtype=np.float64)
    if k.ndim == 2:
        k = k[None]
    if k.ndim != 3 or k.shape[-1] != k.shape[-2]:
        raise ValueError(f"kernels must be (K, K) or (n, K, K), got shape {k.shape}")
    k = np.maximum(k, 0)
    rows, cols = np.indices(k.shape[1:])
    total = k.sum(axis=(1, 2))
    if np.any(total <= 0):
        raise ValueError("kernels must each have a positive sum")
    mr = (k * rows).sum(axis=(1, 2)) / total
    mc = (k * cols).sum(axis=(1, 2)) / total
    spread = (k * ((rows - mr[:, None, None]) ** 2 + (cols - mc[:, None, None]) ** 2))
    return float(np.median(np.sqrt(spread.sum(axis=(1, 2)) / total)))


def deblur_plan(*, confidence=None, radius=None, noise=None, iterations: int = 30,
                tv_weight=None) -> DeblurPlan:
    """The deblurring strength for an estimate (see the module docstring).

    Parameters
    ----------
    confidence : float, optional
        The estimator's confidence in [0, 1]; None for a field given by the user (trusted).
    radius : float, optional
        ``blur_radius`` of the estimate at its estimation resolution; None skips the rule.
    noise : float, optional
        Noise standard deviation of the linearised image, for the automatic TV weight.
    iterations : int
        Iterations for a trusted estimate.
    tv_weight : float, optional
        TV weight; None chooses ``TV_PER_NOISE x noise`` (0 without ``noise``).
    """
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    if confidence is not None and not 0 <= confidence <= 1:
        raise ValueError(f"confidence must be in [0, 1], got {confidence}")
    if radius is not None and not radius >= 0:
        raise ValueError(f"radius must be a non-negative number of pixels, got {radius}")
    tv = float(tv_weight) if tv_weight is not None else \
        (TV_PER_NOISE * float(noise) if noise is not None else 0.0)
    if tv < 0:
        raise ValueError(f"tv_weight must be non-negative, got {tv_weight}")
    if radius is not None and radius < SMALL_BLUR:
        return DeblurPlan("none", 0, tv, f"the blur found is too small to remove safely "
                                         f"(radius {radius:.2f} px < {SMALL_BLUR})")
    if confidence is None or confidence >= LOW_CONFIDENCE:
        return DeblurPlan("full", iterations, tv)
    if confidence < NO_CONFIDENCE:
        return DeblurPlan("none", 0, tv, f"the blur estimate is unreliable (confidence "
                                         f"{confidence:.2f})")
    gentle = max(3, int(round(iterations * confidence)))
    tv = max(tv, GENTLE_TV)
    return DeblurPlan("gentle", gentle, tv, f"the blur estimate is uncertain (confidence "
                                            f"{confidence:.2f}); deblurring gently ({gentle} "
                                            f"iterations, TV {tv:g})")
