"""Shared helpers of the benchmarks: timing, tables, the standard synthetic fields."""

from __future__ import annotations

import time

import numpy as np
from scipy.ndimage import gaussian_filter

import nublur


def best_time(fn, repeat: int = 3, warmup: int = 1) -> float:
    """Best wall time of ``repeat`` calls after ``warmup`` untimed calls (seconds)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def smooth_mixing(rng, count, shape, sigma=None, sharpness=4.0, dtype=np.float32):
    """Softmax of smooth Gaussian random fields: dense, smooth, non-negative, sums to 1."""
    sigma = sigma or max(shape) / 16
    logits = np.stack([gaussian_filter(rng.standard_normal(shape), sigma) for _ in range(count)])
    logits *= sharpness / logits.std()
    m = np.exp(logits - logits.max(axis=0))
    return (m / m.sum(axis=0)).astype(dtype)


def shake_basis_field(rng, shape, count=25, size=33, dtype=np.float32):
    kernels = np.stack([nublur.camera_shake_kernel(size, rng) for _ in range(count)])
    return nublur.BasisField(kernels.astype(dtype), smooth_mixing(rng, count, shape, dtype=dtype),
                             normalize=True)


def paired_times(fast, reference, repeat: int = 5) -> tuple[float, float]:
    """Best times of two functions measured alternately, so both see the same machine load."""
    fast()
    reference()
    t_fast, t_ref = [], []
    for _ in range(repeat):
        for fn, bucket in ((fast, t_fast), (reference, t_ref)):
            t0 = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - t0)
    return min(t_fast), min(t_ref)


def print_table(title, header, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")
