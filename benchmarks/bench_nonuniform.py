"""Non-uniform non-blind deblurring, 001 Table 3 style: IRC vs CG on the same objective.

Spatially varying linear motion: smooth random length (5..30 px) and angle maps on
scikit-image's camera, astronaut (gray) and coffee (gray), at 256x256 (or --size). The blur is
nublur's per-pixel gather plus Gaussian noise sigma = 0.01; both solvers run 10 ADMM
iterations on 001 eq. 1 (l1, lam = 0.003) with the same gather forward model; IRC applies the
blended LUT-label preconditioners (001 section 2.2), CG solves each x-update exactly.

IRC runs with 2 (001's setting) and 4 IRC steps per x-update. Every run gets a fresh field
object, so each pays for its own gather table; a small warm-up run first keeps JIT
compilation out of the times.

The last table counts applications of the gather H or its adjoint per image (in whole-image
units) and the time IRC spends in them: each IRC step needs one H^T H for its residual, so
CG's whole time over IRC's time in H and H^T bounds IRC's speed-up over CG from above, however
cheap its filters are made.

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
from _common import OperatorWork, counting_blurs, print_table
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
    warm = nublur.LinearMotionField(*smooth_motion(np.random.default_rng(1), (48, 48)))
    nublur.admm_irc(np.random.default_rng(1).random((48, 48)), warm, num_admm=1)
    nublur.deconv_cg(np.random.default_rng(1).random((48, 48)), warm, LAM, prior="l1", num_admm=1)
    rows = []
    totals = {key: [] for key in ("blurry", "irc2", "irc4", "cg", "t_irc2", "t_irc4", "t_cg")}
    applied = {key: OperatorWork() for key in ("irc2", "irc4", "cg")}
    for name, image in images.items():
        truth = resize(image, (args.size, args.size), anti_aliasing=True)
        length, angle = smooth_motion(rng, truth.shape)
        field = nublur.LinearMotionField(length, angle)
        y = nublur.blur(truth, field) + rng.normal(0, 0.01, truth.shape)
        results = {}
        for key, run in (("irc2", lambda f: nublur.admm_irc(y, f, lam=LAM, num_irc=2)),
                         ("irc4", lambda f: nublur.admm_irc(y, f, lam=LAM, num_irc=4)),
                         ("cg", lambda f: nublur.deconv_cg(y, f, LAM, prior="l1"))):
            fresh = nublur.LinearMotionField(length, angle)  # each builds its own gather table
            with counting_blurs(applied[key]):
                t0 = time.perf_counter()
                estimate = run(fresh)
                totals["t_" + key].append(time.perf_counter() - t0)
            totals[key].append(psnr(estimate, truth))
        totals["blurry"].append(psnr(y, truth))
        rows.append(_row(name, totals, -1))
    rows.append(_row("mean", {k: [np.mean(v)] for k, v in totals.items()}, 0))
    print_table(f"Non-uniform linear motion (5-30 px), {args.size}x{args.size}, sigma 0.01, "
                f"lam {LAM}: PSNR dB and seconds",
                ["image", "blurry", "NU-IRC(2)", "NU-IRC(4)", "NU-CG", "IRC(2) s", "IRC(4) s",
                 "CG s", "speed-up (2)", "speed-up (4)"], rows)
    rows = []
    for key, name in (("irc2", "IRC(2)"), ("irc4", "IRC(4)"), ("cg", "CG")):
        pixels, seconds = applied[key].pixels, applied[key].seconds
        rows.append((name, f"{pixels / len(images) / args.size ** 2:.0f}",
                     f"{seconds / len(images):.2f}",
                     "-" if key == "cg" else f"{sum(totals['t_cg']) / seconds:.1f}x"))
    print_table("H and H^T per image: applications (whole-image units), seconds, and CG's whole "
                "time over that (IRC's speed-up if all else were free)",
                ["method", "applications", "s in H, H^T", "bound on speed-up"], rows)


def _row(name, totals, i):
    t = {k: v[i] for k, v in totals.items()}
    return (name, f"{t['blurry']:.2f}", f"{t['irc2']:.2f}", f"{t['irc4']:.2f}", f"{t['cg']:.2f}",
            f"{t['t_irc2']:.2f}", f"{t['t_irc4']:.2f}", f"{t['t_cg']:.2f}",
            f"{t['t_cg'] / t['t_irc2']:.1f}x", f"{t['t_cg'] / t['t_irc4']:.1f}x")


if __name__ == "__main__":
    main()
