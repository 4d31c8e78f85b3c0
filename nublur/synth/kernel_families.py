"""Families of random motion PSFs for training and evaluating kernel priors and estimators.

Each family draws one K x K PSF in nublur's convention (non-negative, sums to 1, centroid at
the centre pixel) from a ``numpy.random.Generator``:

* ``"shake"``: Boracchi-Foi camera shake (``camera_shake_kernel``) at the authors' exposures
  1/10, 1/2 and 1 (1/1000 is a point and is left to the other families' short draws), with
  the path length drawn from 25-100% of the window;
* ``"inertial"``: an inertial random walk, a velocity with momentum driven by Gaussian
  accelerations, integrated at a speed that varies along the path (slow ends are bright);
* ``"linear"``: fspecial-style linear motion (002 eq. 4), length 1 to K - 2, any angle;
* ``"arc"``: circular arcs (constant turning rate) with uneven speed, a shape none of the
  other families draws on purpose; kept out of training to measure how priors generalise.

Trajectories are centred on their mean position, shrunk about it when they would leave the
window, and splatted with bilinear weights; the centroid is the centre pixel exactly for
"shake" and "linear" and within 0.25 px for the dwell-weighted "inertial" and "arc" paths.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..kernels.camera_shake import camera_shake_kernel, splat_centred
from ..kernels.linear import linear_kernel

__all__ = ["KERNEL_FAMILIES", "random_kernel", "random_kernels"]

KERNEL_FAMILIES = ("shake", "inertial", "linear", "arc")

_SHAKE_EXPOSURES = (1 / 10, 1 / 2, 1.0)
_SHAKE_EXPOSURE_P = (0.2, 0.4, 0.4)
_PATH_SAMPLES = 600


def _check_size(size):
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 5 \
            or size % 2 == 0:
        raise ValueError(f"size must be an odd integer >= 5, got {size!r}")
    return int(size)


def _splat_path(path: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """PSF of a path (complex x + i y) whose samples carry ``weights`` (dwell times)."""
    weights = weights / weights.sum()
    cols = path.real - np.sum(weights * path.real)
    rows = path.imag - np.sum(weights * path.imag)
    # integer repeat counts approximate the dwell weights with the unit-sample splatter
    counts = np.maximum(np.rint(weights * 4 * len(path)), 0).astype(np.int64)
    if counts.sum() == 0:
        counts[:] = 1
    return splat_centred(rows, cols, size, counts)


def _uneven_speed(rng, n):
    """Positive dwell weights along a path: a smooth random speed profile."""
    t = np.linspace(0.0, 1.0, n)
    log_speed = sum(rng.normal(0, 0.6) * np.cos(np.pi * f * t + rng.uniform(0, 2 * np.pi))
                    for f in (1, 2, 3))
    return np.exp(-log_speed)


def _shake(size, rng):
    exposure = _SHAKE_EXPOSURES[rng.choice(len(_SHAKE_EXPOSURES), p=_SHAKE_EXPOSURE_P)]
    length = rng.uniform(0.25, 1.0) * 60.0 * size / 64
    return camera_shake_kernel(size, rng, exposure=exposure, max_length=length)


def _inertial(size, rng):
    n = _PATH_SAMPLES
    momentum = rng.uniform(0.9, 0.995)
    accel = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    velocity = np.empty(n, complex)
    v = np.exp(2j * np.pi * rng.random())
    for t in range(n):
        v = momentum * v + (1 - momentum) * 3.0 * accel[t]
        velocity[t] = v
    speed = np.abs(velocity) + 1e-3
    step = velocity / speed
    speed = np.maximum(speed, 0.2 * np.median(speed))  # dwell at most 5x the typical
    path = np.concatenate([[0], np.cumsum(step[:-1])])
    length = rng.uniform(2.0, 1.5 * size)
    path = path * (length / max(np.abs(np.diff(path)).sum(), 1e-9))
    return _splat_path(path, 1.0 / speed, size)


def _linear(size, rng):
    return linear_kernel(rng.uniform(1.0, size - 2), rng.uniform(0.0, 180.0), size)


def _arc(size, rng):
    n = _PATH_SAMPLES
    length = rng.uniform(3.0, 1.5 * size)
    turn = rng.uniform(np.pi / 4, 1.5 * np.pi) * rng.choice([-1, 1])
    heading = 2 * np.pi * rng.random() + turn * np.linspace(0, 1, n)
    path = np.concatenate([[0], np.cumsum(np.exp(1j * heading[:-1]))]) * (length / n)
    return _splat_path(path, _uneven_speed(rng, n), size)


_MAKERS = {"shake": _shake, "inertial": _inertial, "linear": _linear, "arc": _arc}


def random_kernel(family: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One random PSF of ``family`` (see the module docstring), float64 (size, size).

    Parameters
    ----------
    family : {"shake", "inertial", "linear", "arc"}
    size : int
        Odd window K >= 5.
    rng : numpy.random.Generator
        The only source of randomness.
    """
    if family not in _MAKERS:
        raise ValueError(f"family must be one of {KERNEL_FAMILIES}, got {family!r}")
    size = _check_size(size)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return _MAKERS[family](size, rng)


def random_kernels(count: int, size: int, rng: np.random.Generator, families=("shake",),
                   weights=None) -> tuple[np.ndarray, np.ndarray]:
    """``count`` PSFs from a mixture of families.

    Returns
    -------
    kernels : ndarray, float32 (count, size, size)
    family_index : ndarray of int (count,)
        Index into ``families`` of each kernel.
    """
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
        raise ValueError(f"count must be an integer >= 1, got {count!r}")
    families = tuple(families)
    for family in families:
        if family not in _MAKERS:
            raise ValueError(f"families must be drawn from {KERNEL_FAMILIES}, got {family!r}")
    size = _check_size(size)
    p = None if weights is None else np.asarray(weights, float) / np.sum(weights)
    index = rng.choice(len(families), size=count, p=p)
    kernels = np.stack([_MAKERS[families[i]](size, rng) for i in index]).astype(np.float32)
    return kernels, index
