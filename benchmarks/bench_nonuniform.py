"""Non-uniform non-blind deblurring, 001 Table 3 style: IRC vs CG on the same objective.

Spatially varying linear motion: smooth random length (5..30 px) and angle maps on
scikit-image's camera, astronaut (gray) and coffee (gray), at 256x256 (or --size). The blur is
nublur's per-pixel gather plus Gaussian noise sigma = 0.01; both solvers run 10 ADMM
iterations on 001 eq. 1 (l1, lam = 0.003) with the same gather forward model; IRC applies the
blended LUT-label preconditioners (001 section 2.2), CG solves each x-update exactly.

IRC runs with 2 (001's setting) and 3 IRC steps per x-update, with the steps combined
optimally (``step="optimal"``, the default) and, for reference, with 001's fixed damped
steps and per-pixel filter blend (``step="fixed"``, IRC-Net's form). Every run gets a fresh
field object, so each pays for its own gather table; a small warm-up run first keeps JIT
compilation out of the times, and the 511-label filter table is solved before timing (once
per machine; it is cached on disk).

The last table counts applications of the gather H or its adjoint per image (in whole-image
units) and the time IRC spends in them: each IRC step needs one H^T H for its residual, so
CG's whole time over IRC's time in H and H^T bounds IRC's speed-up over CG from above, however
cheap its filters are made.

Times are the fastest of ``--repeat`` runs (default 3, interleaved across the methods), which
keeps a busy machine's pauses out of the ratios; the operator counts and times are those of
that run.

Run: python benchmarks/bench_nonuniform.py [--size 256] [--repeat 3]
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
from _common import OperatorWork, counting_blurs, print_table, solve_step_table
from nublur.metrics import psnr

LAM = 0.003


def smooth_motion(rng, shape):
    def smooth(scale):
        f = gaussian_filter(rng.standard_normal(shape), max(shape) / 6)
        return (f - f.min()) / (f.max() - f.min()) * scale
    return 5 + smooth(25), np.mod(smooth(240), 180)


METHODS = (("fixed2", "IRC(2) fixed", dict(num_irc=2, step="fixed")),
           ("irc2", "IRC(2)", dict(num_irc=2)),
           ("irc3", "IRC(3)", dict(num_irc=3)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per image and method, interleaved; the fastest is kept")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    images = {"camera": img_as_float(data.camera()), "astronaut": rgb2gray(data.astronaut()),
              "coffee": rgb2gray(data.coffee())}
    warm = nublur.LinearMotionField(*smooth_motion(np.random.default_rng(1), (48, 48)))
    for _, _, options in METHODS:
        nublur.admm_irc(np.random.default_rng(1).random((48, 48)), warm, num_admm=1, **options)
    nublur.deconv_cg(np.random.default_rng(1).random((48, 48)), warm, LAM, prior="l1", num_admm=1)
    solve_step_table(nublur.solvers.admm.DEFAULT_RHO)
    runs = [(key, lambda y, f, o=options: nublur.admm_irc(y, f, lam=LAM, **o))
            for key, _, options in METHODS]
    runs.append(("cg", lambda y, f: nublur.deconv_cg(y, f, LAM, prior="l1")))
    keys = [key for key, _ in runs]
    psnrs = {key: [] for key in ["blurry"] + keys}
    seconds = {key: [] for key in keys}
    applied = {key: OperatorWork() for key in keys}
    names = []
    for name, image in images.items():
        truth = resize(image, (args.size, args.size), anti_aliasing=True)
        length, angle = smooth_motion(rng, truth.shape)
        field = nublur.LinearMotionField(length, angle)
        y = nublur.blur(truth, field) + rng.normal(0, 0.01, truth.shape)
        fastest = {}
        for _ in range(args.repeat):
            for key, run in runs:
                fresh = nublur.LinearMotionField(length, angle)  # each builds its gather table
                work = OperatorWork()
                with counting_blurs(work):
                    t0 = time.perf_counter()
                    estimate = run(y, fresh)
                    spent = time.perf_counter() - t0
                if key not in fastest or spent < fastest[key][0]:
                    fastest[key] = (spent, work, psnr(estimate, truth))
        for key, (spent, work, score) in fastest.items():
            seconds[key].append(spent)
            psnrs[key].append(score)
            applied[key].pixels += work.pixels
            applied[key].seconds += work.seconds
        psnrs["blurry"].append(psnr(y, truth))
        names.append(name)
    labels = {key: label for key, label, _ in METHODS} | {"cg": "CG"}
    irc_keys = keys[:-1]
    rows = [_row(name, psnrs, seconds, irc_keys, i) for i, name in enumerate(names)]
    rows.append(_row("mean", {k: [np.mean(v)] for k, v in psnrs.items()},
                     {k: [np.mean(v)] for k, v in seconds.items()}, irc_keys, 0))
    print_table(f"Non-uniform linear motion (5-30 px), {args.size}x{args.size}, sigma 0.01, "
                f"lam {LAM}: PSNR dB, seconds and CG's time over each IRC's",
                ["image", "blurry"] + [f"NU-{labels[k]}" for k in keys]
                + [f"{labels[k]} s" for k in keys] + [f"speed-up {labels[k]}" for k in irc_keys],
                rows)
    rows = []
    for key in keys:
        pixels, spent = applied[key].pixels, applied[key].seconds
        rows.append((labels[key], f"{pixels / len(images) / args.size ** 2:.0f}",
                     f"{spent / len(images):.2f}",
                     "-" if key == "cg" else f"{sum(seconds['cg']) / spent:.1f}x"))
    print_table("H and H^T per image: applications (whole-image units), seconds, and CG's whole "
                "time over that (IRC's speed-up if all else were free)",
                ["method", "applications", "s in H, H^T", "bound on speed-up"], rows)


def _row(name, psnrs, seconds, irc_keys, i):
    keys = list(seconds)
    return ((name, f"{psnrs['blurry'][i]:.2f}") + tuple(f"{psnrs[k][i]:.2f}" for k in keys)
            + tuple(f"{seconds[k][i]:.2f}" for k in keys)
            + tuple(f"{seconds['cg'][i] / seconds[k][i]:.1f}x" for k in irc_keys))


if __name__ == "__main__":
    main()
