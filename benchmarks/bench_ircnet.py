"""IRC-Net (001 Table 3 style): the trained unrolled solver against the untrained algorithm
and exact non-uniform CG, on images and fields none of them was tuned on.

60 held-out images: the 24 Kodak24 images and the first 36 of BSD68, gray, central
``--size`` crops; each gets a smooth spatially varying linear motion (lengths 5-30 px,
Gaussian-filtered random maps as in ``bench_nonuniform.py``: another generator than the
training's cosines, on photographs where training saw dead leaves only) and Gaussian noise
sigma 0.01 (``--noise``). Solvers (lam 0.003, l1):

* IRC-Net: ``nublur.load_solver("ircnet")`` (its stages and IRC steps, trained parameters);
* ADMM-IRC untrained with the same stages and IRC steps (``step="fixed"``: the untrained
  network), the same with the default optimal steps, and with 001's 10 x 2 (optimal);
* NU-CG: ``deconv_cg`` (10 ADMM iterations with exact CG x-updates).

A second table runs the same solvers on uniform linear motion (a constant LinearMotionField;
IRC-Net was trained on spatially varying fields only and runs every field through that path).

NU-FFT (001's patch-wise FFT baseline) is not in nublur and not measured. The first call of
each solver runs on a small image first and the whole filter table is solved before
timing, so JIT compilation and table building stay out of the times.

Run: python benchmarks/bench_ircnet.py [--size 128] [--count 60] [--uniform-count 20]
                                        [--noise 0.01] [--json PATH] [--params PATH]
"""

from __future__ import annotations

import argparse
import time

import imageio.v3 as iio
import numpy as np

import nublur
from _common import print_table, shared_data, solve_step_table
from bench_nonuniform import LAM, smooth_motion
from nublur.metrics import psnr


def held_out_images(size: int, count: int):
    paths = []
    kodak, bsd = shared_data("kodak24"), shared_data("bsd68")
    if kodak is not None:
        paths += sorted(kodak.glob("kodim*.png"))
    if bsd is not None:
        paths += sorted(bsd.glob("test*.png"))[:36]
    for path in paths[:count]:
        image = iio.imread(path).astype(np.float64) / 255
        if image.ndim == 3:
            image = image[..., :3] @ np.array([0.299, 0.587, 0.114])
        top, left = ((n - size) // 2 for n in image.shape)
        yield path.stem, image[top:top + size, left:left + size]


def _run(solvers, images, spatially_varying: bool, sigma: float = 0.01):
    rng = np.random.default_rng(0 if spatially_varying else 7)
    scores = {name: [] for name in ["blurry", *solvers]}
    seconds = {name: [] for name in solvers}
    for _, sharp in images:
        if spatially_varying:
            length, angle = smooth_motion(rng, sharp.shape)
            make = lambda: nublur.LinearMotionField(length, angle)  # noqa: E731
        else:
            length = np.full(sharp.shape, rng.uniform(5, 30))
            angle = np.full(sharp.shape, rng.uniform(0, 180))
            make = lambda: nublur.LinearMotionField(length, angle)  # noqa: E731
        y = nublur.blur(sharp, make()) + rng.normal(0, sigma, sharp.shape)
        scores["blurry"].append(psnr(y, sharp, border=8))
        for name, solve in solvers.items():
            field = make()  # a fresh field: each solver pays for its own tables
            t0 = time.perf_counter()
            out = solve(y, field)
            seconds[name].append(time.perf_counter() - t0)
            scores[name].append(psnr(out, sharp, border=8))
    return scores, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--uniform-count", type=int, default=20)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--json", help="write the mean figures here (for the model card)")
    parser.add_argument("--params", help="an IRC-Net NAME.params.json to measure instead of "
                                         "the shipped one (its card beside it)")
    args = parser.parse_args(argv)
    net = nublur.load_solver("ircnet", path=args.params)
    stages, steps = net.parameters.stages, net.parameters.irc_steps
    solvers = {
        "IRC-Net": lambda y, f: net(y, f),
        f"ADMM-IRC {stages}x{steps}": lambda y, f: nublur.admm_irc(y, f, lam=LAM,
                                                                   num_admm=stages,
                                                                   num_irc=steps,
                                                                   step="fixed"),
        f"ADMM-IRC {stages}x{steps} optimal": lambda y, f: nublur.admm_irc(
            y, f, lam=LAM, num_admm=stages, num_irc=steps),
        "ADMM-IRC 10x2": lambda y, f: nublur.admm_irc(y, f, lam=LAM),
        "NU-CG": lambda y, f: nublur.deconv_cg(y, f, LAM, prior="l1"),
    }
    warm = np.random.default_rng(1)
    warm_field = nublur.LinearMotionField(*smooth_motion(warm, (48, 48)))
    for solve in solvers.values():
        solve(warm.random((48, 48)), warm_field)
    solve_step_table(net.parameters.base_rho)
    scores, seconds = _run(solvers, held_out_images(args.size, args.count), True, args.noise)
    n = len(scores["blurry"])
    if n == 0:
        print("Kodak24 / BSD68 not found: skipped")
        return
    cg = np.array(scores["NU-CG"])
    rows = [("blurry", f"{np.mean(scores['blurry']):.2f}", "-", "-", "-")]
    for name in solvers:
        s = np.array(scores[name])
        rows.append((name, f"{s.mean():.2f}", f"{(s - cg).mean():+.2f}",
                     f"{np.mean(seconds[name]):.3f}",
                     f"{np.sum(seconds['NU-CG']) / np.sum(seconds[name]):.1f}x"))
    print_table(f"{n} held-out images ({args.size} x {args.size}, smooth linear motion 5-30 px, "
                f"sigma {args.noise:g}): PSNR dB (8 px border), difference to NU-CG, seconds "
                "per image, NU-CG's time over each", ["solver", "PSNR", "vs NU-CG", "s / image",
                                            "NU-CG time / time"], rows)
    untrained = np.array(scores[f"ADMM-IRC {stages}x{steps}"])
    trained = np.array(scores["IRC-Net"])
    print(f"IRC-Net over untrained ADMM-IRC {stages}x{steps}: {(trained - untrained).mean():+.2f} "
          f"dB (better on {int(np.sum(trained > untrained))} of {n})")
    uniform_scores, _ = _run(solvers, held_out_images(args.size, args.uniform_count), False,
                             args.noise)
    rows = [(name, f"{np.mean(v):.2f}") for name, v in uniform_scores.items()]
    print_table(f"The same solvers on uniform linear motion (5-30 px, first {args.uniform_count} "
                "images): PSNR dB", ["solver", "PSNR"], rows)
    if args.json:
        figures = {name: {"psnr": float(np.mean(scores[name])),
                          "seconds": float(np.mean(seconds.get(name, [0.0])))}
                   for name in scores}
        figures["uniform_psnr"] = {name: float(np.mean(v)) for name, v in uniform_scores.items()}
        figures["protocol"] = (f"{n} held-out images (Kodak24, BSD68), {args.size} px crops, "
                               f"noise {args.noise:g}, benchmarks/bench_ircnet.py")
        nublur.io.write_json(args.json, figures, indent=1)


if __name__ == "__main__":
    main()
