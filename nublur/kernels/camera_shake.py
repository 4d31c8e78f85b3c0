"""Random camera-shake PSFs from Boracchi-Foi trajectories."""

from __future__ import annotations

import numbers

import numpy as np

from ._trajectory_numba import integrate_trajectory, splat_bilinear

__all__ = ["camera_shake_kernel", "camera_shake_trajectory"]

_CANVAS = 64  # Boracchi-Foi reference canvas; max_length 60 on it (REFERENCE_NOTES.md)


def camera_shake_trajectory(rng: np.random.Generator, *, num_samples: int = 2000,
                            max_length: float = 60.0, anxiety: float | None = None,
                            centripetal: float | None = None, gaussian_term: float | None = None,
                            big_shake_freq: float | None = None) -> np.ndarray:
    """Random camera-shake trajectory (Boracchi & Foi 2012).

    Parameters left as None are drawn as in the authors' generator: anxiety 0.1 U,
    centripetal 0.7 U, Gaussian term 10 U, big-shake frequency 0.2 U (U uniform on [0, 1)).

    Returns
    -------
    ndarray of complex128, shape (num_samples,)
        Positions x + i y in pixels (y along image rows), in the order they are visited.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral) \
            or num_samples < 2:
        raise ValueError(f"num_samples must be an integer >= 2, got {num_samples!r}")
    if not (isinstance(max_length, numbers.Real) and np.isfinite(max_length) and max_length > 0):
        raise ValueError(f"max_length must be a finite number > 0, got {max_length!r}")
    anxiety = 0.1 * rng.random() if anxiety is None else float(anxiety)
    centripetal = 0.7 * rng.random() if centripetal is None else float(centripetal)
    gaussian_term = 10.0 * rng.random() if gaussian_term is None else float(gaussian_term)
    big_shake_freq = 0.2 * rng.random() if big_shake_freq is None else float(big_shake_freq)
    angle = 2.0 * np.pi * rng.random()
    v0 = complex(np.cos(angle), np.sin(angle))
    uniforms = rng.random(num_samples)
    shake_uniforms = rng.random(num_samples)
    normals = rng.standard_normal((num_samples, 2))
    return integrate_trajectory(v0, int(num_samples), float(max_length), anxiety, centripetal,
                                gaussian_term, big_shake_freq, uniforms, shake_uniforms, normals)


def camera_shake_kernel(size: int, rng: np.random.Generator, *, exposure: float = 1.0,
                        max_length: float | None = None, num_samples: int = 2000,
                        dtype=np.float64, **trajectory_options) -> np.ndarray:
    """Random camera-shake PSF of ``size`` x ``size`` from a Boracchi-Foi trajectory.

    The trajectory (``camera_shake_trajectory``) is cut to the first ``exposure`` fraction of
    its samples, shifted so that the mean sample position is the centre pixel, shrunk (about
    that centre) if it would leave the canvas, and splatted with bilinear weights. Bilinear
    splatting preserves the first moment, so the PSF's centroid is exactly the centre pixel.

    Parameters
    ----------
    size : int
        Odd kernel size K >= 3.
    rng : numpy.random.Generator
        The only source of randomness (no global state).
    exposure : float in (0, 1]
        Fraction of the trajectory integrated (Boracchi-Foi use 1/1000, 1/10, 1/2, 1).
    max_length : float, optional
        Path length in pixels; default ``60 * size / 64`` (the authors' 60 px on a 64 canvas).
    num_samples : int
        Trajectory samples (2000 as the authors).
    dtype : numpy dtype
    **trajectory_options
        anxiety, centripetal, gaussian_term, big_shake_freq (see ``camera_shake_trajectory``).

    Returns
    -------
    ndarray, shape (size, size): non-negative, sums to 1, centroid at (size // 2, size // 2).
    """
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 3 \
            or size % 2 == 0:
        raise ValueError(f"size must be an odd integer >= 3, got {size!r}")
    if not (isinstance(exposure, numbers.Real) and 0 < exposure <= 1):
        raise ValueError(f"exposure must be in (0, 1], got {exposure!r}")
    if max_length is None:
        max_length = 60.0 * size / _CANVAS
    path = camera_shake_trajectory(rng, num_samples=num_samples, max_length=max_length,
                                   **trajectory_options)
    count = max(1, int(round(exposure * num_samples)))
    path = path[:count]
    psf = splat_centred(path.imag - path.imag.mean(), path.real - path.real.mean(), int(size))
    return psf.astype(dtype, copy=False)


def splat_centred(rows: np.ndarray, cols: np.ndarray, size: int, counts=None) -> np.ndarray:
    """Unit-sum PSF of samples at (rows, cols) relative to the centre pixel, shrunk about the
    centre when any of them would leave the size x size canvas, splatted with bilinear
    weights; ``counts`` repeats each sample (integer dwell times)."""
    half = size // 2
    reach = max(np.abs(cols).max(), np.abs(rows).max())
    if reach > half - 1:  # keep the 2x2 bilinear footprint inside the canvas
        scale = (half - 1) / reach
        cols = cols * scale
        rows = rows * scale
    if counts is not None:
        rows, cols = np.repeat(rows, counts), np.repeat(cols, counts)
    psf = splat_bilinear(rows + half, cols + half, size)
    psf /= psf.sum()
    return psf
