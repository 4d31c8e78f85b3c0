"""Uniform blind estimation beyond Levin: Kodak photographs under four kernel generators.

32 blurred images: the central 384 x 384 crops of Kodak24 images 09-24 (01-08 are the gyro
crops of ``bench_blind.py``), colour, each with one kernel from a cycle of four families,
Boracchi-Foi camera shake (nublur.camera_shake_kernel, 11-33 px windows), linear motion
(5-23 px), the Lai 2016 large kernels halved (15-37 px) and small shakes (5-13 px), and
Gaussian noise 0.002 / 0.005 / 0.01. For each image: RL (30 iterations, TV half the noise
level) with ``estimate_psf``'s kernel (automatic size) and with the true kernel, scored
against the sharp image up to shift, and the deblur plan (``nublur.policy``) as
``nublur deblur`` applies it.

With ``--decompose`` the loss to the true kernel is split on the first 16 images: one kernel
step from the sharp image (oracle latent), the alternation and refit started at the true
kernel (fixed point), the blind run with the true window, and the automatic one.

Run: python benchmarks/bench_blind_families.py [--count 32] [--decompose]
"""

from __future__ import annotations

import argparse
import os
from multiprocessing import get_context

import numpy as np

from _common import print_table, shared_data

FAMILIES = ("shake", "linear", "lai/2", "shake-small")


def kernel(n: int):
    import imageio.v3 as iio
    import nublur
    from nublur.estimators.classical._kernel import resize_kernel

    rng = np.random.default_rng(500 + n)
    family, level = FAMILIES[n % 4], n // 4 % 4
    if family == "shake":
        return family, nublur.camera_shake_kernel([11, 17, 25, 33][level], rng,
                                                  exposure=rng.uniform(0.4, 1.0))
    if family == "linear":
        return family, nublur.linear_kernel([5, 9, 15, 23][level], rng.uniform(0, 180))
    if family == "lai/2":
        root = shared_data("lai2016_uniform_kernels")
        k = iio.imread(root / f"kernel_0{level + 1}.png").astype(float).mean(axis=-1)
        return family, resize_kernel(k / k.sum(), (k.shape[0] // 2) | 1)
    return family, nublur.camera_shake_kernel([5, 7, 9, 13][level], rng,
                                              exposure=rng.uniform(0.4, 1.0))


def blurred(n: int):
    import imageio.v3 as iio
    import nublur

    sharp = iio.imread(shared_data("kodak24") / f"kodim{n % 16 + 9:02d}.png")[58:442, 58:442]
    sharp = sharp / 255.0
    family, psf = kernel(n)
    sigma = [0.002, 0.005, 0.01][n % 3]
    noise = np.random.default_rng(n).normal(0, sigma, sharp.shape)
    return sharp, family, psf, sigma, np.clip(nublur.blur(sharp, psf, channel_axis=-1) + noise,
                                              0, 1)


def score(n: int) -> dict:
    import nublur
    from nublur.metrics import psnr_shift_compensated
    from nublur.policy import deblur_plan

    sharp, family, psf, sigma, y = blurred(n)
    est, info = nublur.estimate_psf(y, channel_axis=-1, return_info=True)

    def rl(k, iterations=30, tv=0.5 * sigma):
        out = nublur.richardson_lucy(y, k, iterations, tv_weight=tv, channel_axis=-1)
        return psnr_shift_compensated(out, sharp)[0]

    plan = deblur_plan(confidence=info.confidence, radius=info.blur_radius, noise=info.noise)
    blurry = psnr_shift_compensated(y, sharp)[0]
    planned = blurry if plan.action == "none" else rl(est, plan.iterations, plan.tv_weight)
    return dict(family=family, true=rl(psf), est=rl(est), blurry=blurry, plan=planned)


def decompose(n: int) -> list:
    import nublur
    from nublur.estimators.classical import psf as P
    from nublur.estimators.classical._kernel import pad_kernel
    from nublur.metrics import psnr_shift_compensated

    sharp, _, psf, sigma, y = blurred(n)
    lum, lum_sharp = P.luminance(y, -1, 1.0), P.luminance(sharp, -1, 1.0)
    size = psf.shape[0] + 6 | 1
    settings = P.noise_adapted(P.Settings(), P.noise_level(lum))
    start = pad_kernel(psf, size)
    none = np.zeros(lum.shape, dtype=bool)
    fixed = P._finish(P._scale(lum, none, start, 1e-3, settings, settings.fine_iterations,
                               refit=True)[0])
    grads = P._masked_gradients(lum, none, size)
    oracle = P._finish(P._refit(lum_sharp, grads, start, settings))
    kernels = (oracle, fixed, nublur.estimate_psf(y, channel_axis=-1, kernel_size=size),
               nublur.estimate_psf(y, channel_axis=-1))

    def rl(k):
        out = nublur.richardson_lucy(y, k, 30, tv_weight=0.5 * sigma, channel_axis=-1)
        return psnr_shift_compensated(out, sharp)[0]

    reference = rl(psf)
    return [reference - rl(k) for k in kernels]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=32)
    parser.add_argument("--decompose", action="store_true")
    args = parser.parse_args(argv)
    if shared_data("kodak24") is None or shared_data("lai2016_uniform_kernels") is None:
        print("Kodak24 or the Lai kernels not found: skipped")
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    with get_context("spawn").Pool(2) as pool:
        results = pool.map(score, range(args.count), chunksize=1)
        parts = pool.map(decompose, range(min(16, args.count)), chunksize=1) \
            if args.decompose else None
    rows = []
    for family in FAMILIES + ("all",):
        chosen = [r for r in results if family in ("all", r["family"])]
        loss = np.array([r["true"] - r["est"] for r in chosen])
        rows.append((family, len(chosen), *(f"{np.mean([r[k] for r in chosen]):.2f}"
                                            for k in ("blurry", "est", "plan", "true")),
                     f"{loss.mean():.2f}", f"{np.median(loss):.2f}",
                     sum(r["est"] < r["blurry"] - 0.05 for r in chosen),
                     sum(r["plan"] < r["blurry"] - 0.05 for r in chosen)))
    print_table(f"Kodak 09-24 under four kernel families ({args.count} images): PSNR dB up to "
                "shift; loss = RL with the true kernel minus RL with the estimate",
                ["family", "images", "blurry", "RL, estimate", "deblur plan", "RL, true",
                 "loss mean", "loss median", "RL below blurry", "plan below blurry"], rows)
    if parts is not None:
        mean = np.mean(parts, axis=0)
        print_table("Where the loss comes from (first 16 images, dB below RL with the true "
                    "kernel)", ["kernel", "loss"],
                    [("one kernel step from the sharp image (oracle latent)", f"{mean[0]:.2f}"),
                     ("alternation + refit started at the true kernel", f"{mean[1]:.2f}"),
                     ("blind, true window", f"{mean[2]:.2f}"),
                     ("blind, automatic window", f"{mean[3]:.2f}")])


if __name__ == "__main__":
    main()
