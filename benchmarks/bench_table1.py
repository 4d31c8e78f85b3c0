"""001 Table 1 protocol: FFT, FFT-nopad, CG and IRC on the 8 Levin kernels.

Sharp images: the first N (default 20) BSD68 images, centre 256x256 crops; each is blurred by
each of the 8 Levin kernels (Levin09.mat; the PSF is the stored kernel rotated 180 degrees, as
for the blurred PNGs) *before* cropping, so no solver sees its own boundary model; Gaussian
noise sigma = 0.01 (2.55 / 255) is added. All solvers address 001 eq. 16 with lam = 0.003:
FFT and FFT-nopad its quadratic version in closed form (replicate-extended vs periodic), CG
and IRC the l1 version by 10 ADMM iterations (CG: exact x-updates, CG tol 1e-6, <= 100
iterations; IRC: ``num_irc`` residual-compensation steps). PSNR on the 256x256 crop.

The last columns count applications of the blur H or its adjoint H^T per image, in units of
one application to the whole image (the smaller problems of IRC's step-size estimate count in
proportion to their pixels), and the time they take: operator work that every iterative
method must pay. An IRC step needs one H^T H for its residual, so CG's whole time over the
time IRC spends in H and H^T bounds IRC's speed-up over CG from above, however cheap the
local filters are made.

Run: python benchmarks/bench_table1.py [--images 20] [--size 256]
"""

from __future__ import annotations

import argparse
import sys
import time

import imageio.v3 as iio
import numpy as np

import nublur
from _common import OperatorWork, counting_blurs, load_levin, print_table, shared_data
from nublur.metrics import psnr

SIGMA = 0.01
LAM = 0.003


def methods():
    return {
        "FFT": lambda y, k: nublur.deconv_fft(y, k, LAM, boundary="replicate"),
        "FFT-nopad": lambda y, k: nublur.deconv_fft(y, k, LAM, boundary="none"),
        "CG": lambda y, k: nublur.deconv_cg(y, k, LAM, prior="l1"),
        "IRC (2 steps)": lambda y, k: nublur.admm_irc(y, k, lam=LAM, num_irc=2),
        "IRC (4 steps)": lambda y, k: nublur.admm_irc(y, k, lam=LAM, num_irc=4),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    levin, bsd = shared_data("levin2009"), shared_data("bsd68")
    if levin is None or bsd is None:
        print("Levin 2009 kernels or BSD68 not found under ../shared/data; skipped")
        return
    _, psfs, _ = load_levin(levin)
    files = sorted(bsd.glob("test*.png"))[:args.images]
    rng = np.random.default_rng(0)
    solvers = methods()
    psnrs = {name: np.zeros((len(files), 8)) for name in solvers}
    times = {name: 0.0 for name in solvers}
    blurs = {name: OperatorWork() for name in solvers}
    blurry = np.zeros((len(files), 8))
    n = args.size
    for i, path in enumerate(files):
        image = iio.imread(path) / 255.0
        for j, psf in enumerate(psfs):
            m = psf.shape[0]
            r0, c0 = (image.shape[0] - n) // 2 - m, (image.shape[1] - n) // 2 - m
            big = image[r0:r0 + n + 2 * m, c0:c0 + n + 2 * m]
            truth = big[m:-m, m:-m]
            y = nublur.blur(big, psf)[m:-m, m:-m] + rng.normal(0, SIGMA, truth.shape)
            blurry[i, j] = psnr(y, truth)
            for name, solve in solvers.items():
                with counting_blurs(blurs[name]):
                    t0 = time.perf_counter()
                    out = solve(y, psf)
                    times[name] += time.perf_counter() - t0
                psnrs[name][i, j] = psnr(out, truth)
        print(f"image {i + 1}/{len(files)} done", file=sys.stderr, flush=True)
    count = len(files) * 8
    header = ["method"] + [f"ker {j + 1}" for j in range(8)] + ["mean", "s / image",
                                                                 "H, H^T / image", "s in H, H^T"]
    rows = [["blurry"] + [f"{v:.2f}" for v in blurry.mean(0)]
            + [f"{blurry.mean():.2f}", "-", "-", "-"]]
    for name in solvers:
        applied, spent = blurs[name].pixels / count / n ** 2, blurs[name].seconds / count
        rows.append([name] + [f"{v:.2f}" for v in psnrs[name].mean(0)]
                    + [f"{psnrs[name].mean():.2f}", f"{times[name] / count:.3f}"]
                    + ([f"{applied:.0f}", f"{spent:.3f}"] if applied else ["-", "-"]))
    print_table(f"001 Table 1 protocol: {len(files)} BSD68 crops {n}x{n} x 8 Levin kernels, "
                f"sigma {SIGMA}, lam {LAM}, PSNR dB", header, rows)
    cg, irc2, irc4 = (psnrs[k].mean() for k in ("CG", "IRC (2 steps)", "IRC (4 steps)"))
    print(f"\nIRC(2) - CG: {irc2 - cg:+.2f} dB, speed-up {times['CG'] / times['IRC (2 steps)']:.1f}x;"
          f" IRC(4) - CG: {irc4 - cg:+.2f} dB, speed-up "
          f"{times['CG'] / times['IRC (4 steps)']:.1f}x; FFT - FFT-nopad: "
          f"{psnrs['FFT'].mean() - psnrs['FFT-nopad'].mean():+.2f} dB")
    irc_blurs = blurs["IRC (2 steps)"]
    print(f"CG applies H or H^T {blurs['CG'].pixels / irc_blurs.pixels:.1f}x as often as "
          f"IRC(2); CG's whole time is {times['CG'] / irc_blurs.seconds:.1f}x the time IRC(2) spends in H and "
          "H^T alone: its speed-up if its filters and the rest cost nothing")


if __name__ == "__main__":
    main()
