"""Richardson-Lucy benchmark (issue: Richardson-Lucy family).

1. Non-uniform RL, 30 iterations, 1024x1024 gray float32, B = 25, K = 33 (camera-shake
   kernels, smooth random mixing): nublur vs a reference RL built on the
   ``sum_b m_b * fftconvolve`` basis operator, timed in the same run.
2. Uniform RL, 30 iterations, 1024x1024, 33x33 kernel: nublur vs scikit-image.
3. Levin et al. 2009 (../shared/data/levin2009, skipped if absent): non-blind RL with the true
   kernels, PSNR up to shift (best over integer shifts up to 10 px, 15 px border excluded),
   mean over the 32 images: blurry input, plain RL, RL + TV.

Run: python benchmarks/bench_rl.py [--size 1024] [--skip-reference]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from skimage.restoration import richardson_lucy as sk_richardson_lucy

import nublur
from _common import (load_levin, print_table, reference_adjoint, reference_forward,
                     shake_basis_field, shared_data)
from nublur.metrics import psnr_shift_compensated

LEVIN_ITERS = 30
LEVIN_TV = 2e-3


def reference_rl(y, kernels, mixing, num_iter):
    """Plain non-uniform RL on the straightforward fftconvolve basis operator."""
    norm = reference_adjoint(np.ones_like(y), kernels, mixing)
    x = y.copy()
    for _ in range(num_iter):
        ratio = y / (reference_forward(x, kernels, mixing) + 1e-12)
        x = x * reference_adjoint(ratio, kernels, mixing) / norm
    return x


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def speed_rows(n, iters, skip_reference):
    rng = np.random.default_rng(0)
    field = shake_basis_field(rng, (n, n))
    sharp = rng.random((n, n), dtype=np.float32)
    y = nublur.blur(sharp, field)
    nublur.richardson_lucy(y, field, 1)  # plans and compilation, outside the timing
    _, t_fast = timed(lambda: nublur.richardson_lucy(y, field, iters))
    rows = []
    mpix = n * n / 1e6
    if skip_reference:
        t_ref = float("nan")
    else:
        _, t_ref = timed(lambda: reference_rl(y, field.kernels, field.mixing, iters))
    rows.append((f"non-uniform RL {n}x{n} B=25 K=33, {iters} it", f"{t_fast:.2f}",
                 f"{t_ref:.2f}", f"{t_ref / t_fast:.1f}x", f"{mpix * iters / t_fast:.1f}"))

    psf = nublur.camera_shake_kernel(33, rng).astype(np.float32)
    yu = nublur.blur(sharp, psf)
    nublur.richardson_lucy(yu, psf, 1)
    _, t_fast = timed(lambda: nublur.richardson_lucy(yu, psf, iters))
    _, t_ref = timed(lambda: sk_richardson_lucy(yu, psf, num_iter=iters))
    rows.append((f"uniform RL {n}x{n} K=33, {iters} it (vs scikit-image)", f"{t_fast:.2f}",
                 f"{t_ref:.2f}", f"{t_ref / t_fast:.1f}x", f"{mpix * iters / t_fast:.1f}"))
    return rows


def levin_rows():
    root = shared_data("levin2009")
    if root is None:
        return None
    sharp, psfs, blurred = load_levin(root)
    scores = {"blurry input": [], f"plain RL ({LEVIN_ITERS} it)": [],
              f"RL + TV ({LEVIN_ITERS} it, tv_weight={LEVIN_TV})": []}
    for (i, k), y in sorted(blurred.items()):
        truth = sharp[i - 1]
        outs = (y, nublur.richardson_lucy(y, psfs[k - 1], LEVIN_ITERS),
                nublur.richardson_lucy(y, psfs[k - 1], LEVIN_ITERS, tv_weight=LEVIN_TV))
        for name, out in zip(scores, outs):
            scores[name].append(psnr_shift_compensated(out, truth)[0])
    return [(name, f"{np.mean(v):.2f}", f"{np.min(v):.2f}", f"{np.max(v):.2f}")
            for name, v in scores.items()]


def grid_rgb_row(iters):
    """RL with a 12 x 12 grid of 33 px patch PSFs (hat mixing) on a 500 x 500 RGB photo: the
    compact-support basis path (each pixel touches at most 4 kernels)."""
    rng = np.random.default_rng(0)
    kernels = np.stack([nublur.camera_shake_kernel(33, rng) for _ in range(144)])
    field = nublur.GridField(kernels.astype(np.float32).reshape(12, 12, 33, 33), (500, 500))
    x = rng.random((500, 500, 3), dtype=np.float32)
    y = nublur.blur(x, field, channel_axis=-1)
    nublur.richardson_lucy(y, field, 1, channel_axis=-1)
    t0 = time.perf_counter()
    nublur.richardson_lucy(y, field, iters, channel_axis=-1)
    seconds = time.perf_counter() - t0
    return (f"non-uniform RL, 12x12 grid field (G=144, K=33), 500x500 RGB, {iters} it",
            f"{seconds:.2f}", "-", "-", f"{0.75 * iters / seconds:.1f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--skip-reference", action="store_true",
                        help="skip the slow (about 25 s) fftconvolve reference RL")
    args = parser.parse_args(argv)
    rows = speed_rows(args.size, args.iters, args.skip_reference)
    rows.append(grid_rgb_row(args.iters))
    print_table(f"Richardson-Lucy speed (float32, FFT engine {nublur.fft_engine()}, "
                f"{nublur._backend.num_threads()} threads; seconds per run)",
                ["case", "nublur s", "reference s", "speed-up", "MPix*it/s"], rows)
    levin = levin_rows()
    if levin is None:
        print("\nLevin 2009 data not found under ../shared/data; skipped")
    else:
        print_table("Levin et al. 2009, non-blind RL with the true kernels: PSNR up to shift "
                    "(dB, 32 images)", ["method", "mean", "min", "max"], levin)


if __name__ == "__main__":
    main()
