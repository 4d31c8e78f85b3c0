"""Non-uniform non-blind deblurring, 001 Table 3 style: IRC vs CG on the same objective.

Spatially varying linear motion: smooth random length (5..30 px) and angle maps on
scikit-image's camera, astronaut (gray) and coffee (gray), at 256x256 (or --size). The blur is
nublur's per-pixel gather plus Gaussian noise sigma = 0.01; both solvers run 10 ADMM
iterations on 001 eq. 1 (l1, lam = 0.003) with the same gather forward model; IRC applies the
blended LUT-label preconditioners (001 section 2.2), CG solves each x-update exactly.

Run: python benchmarks/bench_nonuniform.py [--size 256]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage import data
from skimage.color import rgb2gray
from skimage.transform import resize
from skimage.util import img_as_float

import nublur
from _common import print_table
from nublur.metrics import psnr

LAM = 0.003


def smooth_motion(rng, shape):
    def smooth(scale):
        f = gaussian_filter(rng.standard_normal(shape), max(shape) / 6)
        return (f - f.min()) / (f.max() - f.min()) * scale
    return 5 + smooth(25), np.mod(smooth(240), 180)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    images = {"camera": img_as_float(data.camera()), "astronaut": rgb2gray(data.astronaut()),
              "coffee": rgb2gray(data.coffee())}
    rows = []
    totals = {"irc": [], "cg": [], "t_irc": 0.0, "t_cg": 0.0}
    for name, image in images.items():
        truth = resize(image, (args.size, args.size), anti_aliasing=True)
        length, angle = smooth_motion(rng, truth.shape)
        field = nublur.LinearMotionField(length, angle)
        y = nublur.blur(truth, field) + rng.normal(0, 0.01, truth.shape)
        t0 = time.perf_counter()
        irc = nublur.admm_irc(y, field, lam=LAM)
        t_irc = time.perf_counter() - t0
        t0 = time.perf_counter()
        cg = nublur.deconv_cg(y, field, LAM, prior="l1")
        t_cg = time.perf_counter() - t0
        p_irc, p_cg = psnr(irc, truth), psnr(cg, truth)
        totals["irc"].append(p_irc)
        totals["cg"].append(p_cg)
        totals["t_irc"] += t_irc
        totals["t_cg"] += t_cg
        rows.append((name, f"{psnr(y, truth):.2f}", f"{p_irc:.2f}", f"{p_cg:.2f}",
                     f"{t_irc:.2f}", f"{t_cg:.2f}", f"{t_cg / t_irc:.1f}x"))
    rows.append(("mean", "-", f"{np.mean(totals['irc']):.2f}", f"{np.mean(totals['cg']):.2f}",
                 f"{totals['t_irc'] / 3:.2f}", f"{totals['t_cg'] / 3:.2f}",
                 f"{totals['t_cg'] / totals['t_irc']:.1f}x"))
    print_table(f"Non-uniform linear motion (5-30 px), {args.size}x{args.size}, sigma 0.01, "
                f"lam {LAM}: PSNR dB and seconds",
                ["image", "blurry", "NU-IRC", "NU-CG", "IRC s", "CG s", "speed-up"], rows)


if __name__ == "__main__":
    main()
