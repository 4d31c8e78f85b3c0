"""Image-quality metrics used by the tests and benchmarks."""

from __future__ import annotations

import numpy as np

from ._validation import as_float_array, check_positive_int

__all__ = ["psnr", "psnr_shift_compensated", "ringing"]


def psnr(estimate, truth, *, data_range: float = 1.0, border: int = 0) -> float:
    """Peak signal-to-noise ratio in dB, optionally ignoring ``border`` pixels on each side."""
    estimate = as_float_array(estimate, "estimate").astype(np.float64)
    truth = as_float_array(truth, "truth").astype(np.float64)
    if estimate.shape != truth.shape:
        raise ValueError(f"estimate and truth shapes differ: {estimate.shape} vs {truth.shape}")
    if border:
        estimate = estimate[border:-border, border:-border]
        truth = truth[border:-border, border:-border]
    mse = np.mean((estimate - truth) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))


def psnr_shift_compensated(estimate, truth, *, max_shift: int = 10, border: int = 15,
                           data_range: float = 1.0) -> tuple[float, tuple[int, int]]:
    """Best PSNR over integer shifts of the estimate (Levin et al.'s comparison up to shift).

    Both images are compared on the truth's interior (``border`` pixels dropped on each side);
    ``border`` must be at least ``max_shift``. Returns (PSNR in dB, (dy, dx)).
    """
    estimate = as_float_array(estimate, "estimate").astype(np.float64)
    truth = as_float_array(truth, "truth").astype(np.float64)
    max_shift = check_positive_int(max_shift, "max_shift", minimum=0)
    border = check_positive_int(border, "border", minimum=max_shift)
    if estimate.shape != truth.shape:
        raise ValueError(f"estimate and truth shapes differ: {estimate.shape} vs {truth.shape}")
    h, w = truth.shape[:2]
    ref = truth[border:h - border, border:w - border]
    best = (-np.inf, (0, 0))
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            cand = estimate[border + dy:h - border + dy, border + dx:w - border + dx]
            mse = np.mean((cand - ref) ** 2)
            value = float("inf") if mse == 0 else 10 * np.log10(data_range**2 / mse)
            if value > best[0]:
                best = (float(value), (dy, dx))
    return best


def ringing(estimate, truth, region) -> float:
    """RMS error of ``estimate`` against ``truth`` inside a boolean ``region`` (e.g. a band
    around light sources, where deconvolution rings)."""
    estimate = as_float_array(estimate, "estimate").astype(np.float64)
    truth = as_float_array(truth, "truth").astype(np.float64)
    region = np.asarray(region, dtype=bool)
    if not region.any():
        raise ValueError("region is empty")
    return float(np.sqrt(np.mean((estimate[region] - truth[region]) ** 2)))
