"""Camera pipeline of the synthetic data: saturation, noise, gamma, quantisation."""

from __future__ import annotations

import numpy as np
from .._validation import check_nonnegative_float, check_positive_float

__all__ = ["saturation_augment", "gaussian_noise", "poisson_gaussian_noise", "gamma_encode",
           "gamma_decode", "quantize_8bit"]


def saturation_augment(image, rng: np.random.Generator, low: float = 0.5, high: float = 1.5):
    """Scale the HSV value by f ~ U[low, high] (000 section 4), so bright areas exceed 1.

    With hue and saturation fixed, RGB is linear in the value V, so scaling V by f is exactly
    scaling R, G and B by f (no HSV round trip needed). Returns float32, unclipped.
    """
    factor = np.float32(rng.uniform(low, high))
    return np.asarray(image, dtype=np.float32) * factor


def gaussian_noise(image, rng: np.random.Generator, sigma: float):
    """image + N(0, sigma^2), same dtype."""
    sigma = check_nonnegative_float(sigma, "sigma")
    image = np.asarray(image)
    return (image + rng.normal(0, sigma, image.shape)).astype(image.dtype)


def poisson_gaussian_noise(image, rng: np.random.Generator, peak: float, sigma: float):
    """Poisson(peak * x) / peak + N(0, sigma^2): shot noise at ``peak`` photons for 1.0."""
    peak = check_positive_float(peak, "peak")
    sigma = check_nonnegative_float(sigma, "sigma")
    image = np.asarray(image)
    shot = rng.poisson(np.maximum(image, 0) * peak) / peak
    return (shot + rng.normal(0, sigma, image.shape)).astype(image.dtype)


def gamma_encode(linear, gamma: float = 2.2):
    """Linear intensity to display values: max(x, 0) ** (1 / gamma)."""
    gamma = check_positive_float(gamma, "gamma")
    linear = np.asarray(linear)
    return np.maximum(linear, 0) ** linear.dtype.type(1 / gamma)


def gamma_decode(display, gamma: float = 2.2):
    """Display values to linear intensity: max(v, 0) ** gamma."""
    gamma = check_positive_float(gamma, "gamma")
    display = np.asarray(display)
    return np.maximum(display, 0) ** display.dtype.type(gamma)


def quantize_8bit(image):
    """Clip to [0, 1] and round to the 256 levels of an 8-bit file."""
    image = np.asarray(image)
    return (np.round(np.clip(image, 0, 1) * 255) / 255).astype(image.dtype)
