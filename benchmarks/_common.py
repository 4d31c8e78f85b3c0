"""Shared helpers of the benchmarks: timing, tables, the standard synthetic fields."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.signal import fftconvolve

import nublur
from nublur.solvers import admm


def best_time(fn, repeat: int = 3, warmup: int = 1, statistic=min) -> float:
    """Best wall time (or ``statistic``, e.g. ``np.median``) of ``repeat`` calls after
    ``warmup`` untimed calls (seconds)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(statistic(times))


def shared_data(*parts) -> Path | None:
    """Path under ../shared/data (or $NUBLUR_SHARED_DATA), None when absent."""
    root = Path(os.environ.get("NUBLUR_SHARED_DATA",
                               Path(__file__).resolve().parents[2] / "shared" / "data"))
    path = root.joinpath(*parts)
    return path if path.exists() else None


def load_levin(root: Path):
    """Levin et al. 2009: 4 sharp images, 8 kernels (PSFs) and the 32 blurred images.

    The blurred PNGs are the sharp image convolved with the Levin09.mat kernel rotated by 180
    degrees (plus a small shift), so the PSF in nublur's convention is that rotation.
    """
    import h5py
    import imageio.v3 as iio

    with h5py.File(root / "dpir_kernels" / "Levin09.mat", "r") as f:
        psfs = [np.array(f[ref]).T[::-1, ::-1].copy() for ref in f["kernels"][()].ravel()]
    sharp = [iio.imread(root / "selfdeblur_png" / "gt" / f"im{i}.png") / 255.0
             for i in range(1, 5)]
    blurred = {(i, k): iio.imread(root / "selfdeblur_png" / f"im{i}_kernel{k}_img.png") / 255.0
               for i in range(1, 5) for k in range(1, 9)}
    return sharp, [p / p.sum() for p in psfs], blurred


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


def reference_forward(x, kernels, mixing):
    """Straightforward basis blur: sum_b m_b * fftconvolve(x, k_b, "same") (zero boundary)."""
    out = np.zeros_like(x)
    for k, m in zip(kernels, mixing):
        out += m * fftconvolve(x, k, mode="same")
    return out


def reference_adjoint(r, kernels, mixing):
    """Adjoint of ``reference_forward``: sum_b flip(k_b) conv (m_b r)."""
    out = np.zeros_like(r)
    for k, m in zip(kernels, mixing):
        out += fftconvolve(m * r, k[::-1, ::-1], mode="same")
    return out


def print_table(title, header, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")


@dataclasses.dataclass
class OperatorWork:
    """Pixels that H and H^T were applied to, and the wall time they took."""
    pixels: int = 0
    seconds: float = 0.0


@contextlib.contextmanager
def counting_blurs(work: OperatorWork):
    """Inside the block, add the ADMM problem's H and H^T applications to ``work``."""
    saved = admm._Problem.blur, admm._Problem.blur_t

    def wrap(apply):
        def counted(self, x):
            t0 = time.perf_counter()
            out = apply(self, x)
            work.pixels += x.size
            work.seconds += time.perf_counter() - t0
            return out
        return counted
    admm._Problem.blur, admm._Problem.blur_t = map(wrap, saved)
    try:
        yield
    finally:
        admm._Problem.blur, admm._Problem.blur_t = saved


def solve_step_table(rho: float) -> None:
    """Every label's IRC step filter solved (and cached) before timing: the lazily solved
    table would otherwise charge each new label to whichever solver meets it first."""
    from nublur.solvers.admm import step_lut

    step_lut(rho).filters_for(np.arange(511))
