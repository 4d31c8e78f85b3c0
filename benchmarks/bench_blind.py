"""Blind estimation without training (issue: blind estimation on real photos).

1. Levin et al. 2009, Levin's protocol: error ratio = SSD of RL (30 iterations) with the
   estimated PSF over SSD of RL with the true PSF (same solver), both up to shift; success
   rates at ratios 1.5 / 2 / 3, median ratio, seconds per image. Estimators: ``estimate_psf``
   with automatic kernel size, the shipped network (``--with-kpn``), and doing nothing (the
   blurry image scored the same way).
2. Spatially varying: real recorded hand shake (``nublur.synth.gyro_blur``, the 4 Lai logs)
   on Kodak24 crops; RL (30 iterations) with the classical field vs the true field vs blurry.
   A blind estimate cannot know the blur's mean translation (its kernels are centred), so
   every image is compared with the sharp image moved by the true field's translation, and
   the true field's kernels are centred the same way (``split_translation``).
3. The deblur plan (``nublur.policy``: how strongly to deblur, or not at all) on a family
   held out from every setting: BSD68 under uniform linear motion or camera shake.
4. A 1200 x 900 RGB photo (a Lai real photo resized): time and peak memory of
   ``load_estimator("classical")`` plus RL, in a fresh process.
5. ``--sheet PATH``: a contact sheet of 12 Lai real photos (input | deblurred | kernel field),
   written outside the repository (it is derived from third-party data).

``--camera rotation`` runs 2, 3 and 5 with the camera-rotation patch field
(``load_estimator("rotation")``) instead of the independent patch kernels.

Run: python benchmarks/bench_blind.py [--skip-levin] [--skip-gyro] [--skip-heldout]
       [--skip-photo] [--with-kpn] [--sheet /tmp/lai_sheet.png] [--crops 8]
       [--camera rotation] [--sparsity 0.005 0.01 0.02]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

import nublur
from _common import load_levin, print_table, shared_data
from nublur.metrics import psnr, psnr_shift_compensated
from nublur.policy import deblur_plan

LAI_SHEET = ("boat2", "bird", "car2", "night1", "night3", "face", "building1", "elephant",
             "book3", "statue1", "garden", "Pantheon")


def levin_table(estimators):
    root = shared_data("levin2009")
    if root is None:
        print("\nLevin 2009 data not found: skipped")
        return None
    sharp, psfs, blurred = load_levin(root)
    results = {}
    for name, estimate in estimators.items():
        ratios, seconds, confidences = [], [], []
        for (i, k), y in sorted(blurred.items()):
            t0 = time.perf_counter()
            field, confidence = estimate(y)
            seconds.append(time.perf_counter() - t0)
            confidences.append(confidence)
            nonblind = nublur.richardson_lucy(y, psfs[k - 1], 30)
            blind = y if field is None else nublur.richardson_lucy(y, field, 30)
            p_blind, _ = psnr_shift_compensated(blind, sharp[i - 1])
            p_non, _ = psnr_shift_compensated(nonblind, sharp[i - 1])
            ratios.append(10 ** ((p_non - p_blind) / 10))
        results[name] = (np.array(ratios), np.array(seconds), np.array(confidences, float))
    rows = []
    for name, (r, s, c) in results.items():
        corr = np.corrcoef(c, np.log(r))[0, 1] if np.isfinite(c).all() and c.std() > 0 \
            else float("nan")
        rows.append([name, f"{np.mean(r <= 1.5):.0%}", f"{np.mean(r <= 2):.0%}",
                     f"{np.mean(r <= 3):.0%}", f"{np.median(r):.2f}", f"{r.max():.2f}",
                     f"{s.mean():.2f}", f"{corr:.2f}"])
    print_table("Levin 2009 (32 images), error ratio with RL 30 it for both kernels",
                ["estimator", "<= 1.5", "<= 2", "<= 3", "median", "worst", "s / image",
                 "corr(confidence, log ratio)"], rows)
    return results


def _psf_estimator(sparsity=0.01):
    def estimate(y):
        psf, info = nublur.estimate_psf(y, sparsity=sparsity, return_info=True)
        return psf, info.confidence
    return estimate


def _kpn_estimator():
    est = nublur.load_estimator("kpn")
    return lambda y: (est.estimate(y, channel_axis=None), np.nan)


def planned_rl(image, field, info, **options):
    """(plan, result) of ``deblur_plan`` for an estimate, as ``nublur deblur`` runs it: the
    image itself when the plan is "none", else RL with the plan's iterations and TV."""
    plan = deblur_plan(confidence=info.confidence, radius=info.blur_radius, noise=info.noise)
    if plan.action == "none":
        return plan, image
    return plan, nublur.richardson_lucy(image, field, plan.iterations,
                                        tv_weight=plan.tv_weight, **options)


def split_translation(field):
    """(the field with every basis kernel re-centred by whole pixels, the field of the removed
    translations): a blind estimate cannot know where the camera pointed on average, so the
    deblurred images are compared with the sharp image moved by the true field's translation
    (the sharp image blurred by its translation field)."""
    size = field.kernel_size
    c = size // 2
    rows, cols = np.indices((size, size))
    centred, deltas = [], []
    for k in field.kernels:
        total = k.sum()
        dy = int(round((rows * k).sum() / total - c))
        dx = int(round((cols * k).sum() / total - c))
        centred.append(np.roll(k, (-dy, -dx), axis=(0, 1)))
        delta = np.zeros((size, size))
        delta[c + dy, c + dx] = 1.0
        deltas.append(delta)
    mixing = field.mixing
    return (nublur.BasisField(np.stack(centred), mixing, normalize=True),
            nublur.BasisField(np.stack(deltas), mixing, normalize=True))


def gyro_table(crops: int, with_kpn: bool = False, estimator=None):
    logs = shared_data("lai2016_nonuniform_gyro", "gyro")
    kodak = shared_data("kodak24")
    if logs is None or kodak is None:
        print("\ngyro logs or Kodak24 not found: skipped")
        return None
    import imageio.v3 as iio

    estimator = estimator or nublur.load_estimator("classical", gamma=1.0)
    kpn = nublur.load_estimator("kpn") if with_kpn else None
    rows, gains = [], []
    for n in range(crops):
        sharp = iio.imread(kodak / f"kodim{n + 1:02d}.png")[:384, :384] / 255.0
        log = logs / f"gyro_{n % 4 + 1:02d}"
        blurry, field, _ = nublur.synth.gyro_blur(sharp, log, channel_axis=-1, rank=16,
                                                  num_samples=4096, num_iter=100)
        blurry = np.clip(blurry + np.random.default_rng(n).normal(0, 0.005, blurry.shape),
                         0, 1)
        centred, translation = split_translation(field)
        reference = nublur.blur(sharp, translation, channel_axis=-1)
        t0 = time.perf_counter()
        est, info = estimator.estimate(blurry, channel_axis=-1, return_info=True)
        seconds = time.perf_counter() - t0
        b = 16
        p_blur = psnr(blurry, reference, border=b)
        p_est = psnr(nublur.richardson_lucy(blurry, est, 30, channel_axis=-1), reference,
                     border=b)
        plan, planned = planned_rl(blurry, est, info, channel_axis=-1)
        p_plan = psnr(planned, reference, border=b)
        p_true = psnr(nublur.richardson_lucy(blurry, centred, 30, channel_axis=-1), reference,
                      border=b)
        p_kpn = np.nan
        if kpn is not None:
            p_kpn = psnr(nublur.richardson_lucy(blurry, kpn.estimate(blurry), 30,
                                                channel_axis=-1), reference, border=b)
        gains.append((p_blur, p_est, p_true, p_kpn, p_plan))
        rows.append([f"kodim{n + 1:02d} / {log.name}", f"{p_blur:.2f}", f"{p_est:.2f}",
                     f"{p_plan:.2f} ({plan.action})", f"{p_kpn:.2f}", f"{p_true:.2f}",
                     f"{info.confidence:.2f}", f"{info.blur_radius:.2f}",
                     f"{est.grid_shape if hasattr(est, 'grid_shape') else (1, 1)}",
                     f"{seconds:.1f}"])
    g = np.array(gains)
    rows.append(["mean", f"{g[:, 0].mean():.2f}", f"{g[:, 1].mean():.2f}",
                 f"{g[:, 4].mean():.2f}", f"{g[:, 3].mean():.2f}", f"{g[:, 2].mean():.2f}",
                 "", "", "", ""])
    print_table("Gyro (recorded hand shake) on 384 x 384 Kodak crops, RL 30 it, noise 0.005; "
                "PSNR against the sharp image moved by the true field's translation",
                ["image / log", "blurry", "RL, classical field", "deblur plan (policy)",
                 "RL, kpn field", "RL, true field (centred)", "confidence", "blur radius",
                 "grid", "estimate s"], rows)
    print(f"short of the true field: {g[:, 2].mean() - g[:, 1].mean():.2f} dB on average; "
          f"RL 30 above blurry on {np.mean(g[:, 1] > g[:, 0]):.0%} of the images; the deblur "
          f"plan below blurry (by > 0.05 dB) on {np.sum(g[:, 4] < g[:, 0] - 0.05)} of {len(g)}")
    return g


def heldout_table(count: int = 18, camera=None, grid=None):
    """The deblur plan on a family no setting was chosen on: BSD68 scenes (gray) under
    uniform linear motion (3-27 px) or camera shake (9-41 px windows, random exposure),
    noise 0.005 / 0.01; PSNR up to integer shift."""
    root = shared_data("bsd68")
    if root is None:
        print("\nBSD68 not found: skipped")
        return None
    import imageio.v3 as iio
    from scipy.signal import fftconvolve

    from nublur.metrics import psnr_shift_compensated as psnr_shift

    estimator = nublur.load_estimator("classical", gamma=1.0, camera=camera, grid=grid)
    rows, values = [], []
    for n in range(count):
        rng = np.random.default_rng(100 + n)
        sharp = iio.imread(root / f"test{n + 1:03d}.png").astype(float) / 255
        sharp = sharp.mean(axis=-1) if sharp.ndim == 3 else sharp
        if n % 3 == 0:
            length = [3, 5, 9, 15, 21, 27][n // 3 % 6]
            psf, kind = nublur.linear_kernel(length, rng.uniform(0, 180)), f"linear {length}"
        else:
            size = [9, 15, 21, 31, 41][n % 5]
            psf = nublur.camera_shake_kernel(size, rng, exposure=rng.uniform(0.3, 1.0))
            kind = f"shake {size}"
        sigma = [0.005, 0.01][n % 2]
        blurry = np.clip(fftconvolve(sharp, psf, mode="same")
                         + rng.normal(0, sigma, sharp.shape), 0, 1)
        field, info = estimator.estimate(blurry, channel_axis=None, return_info=True)
        plan, planned = planned_rl(blurry, field, info)
        p_blur = psnr_shift(blurry, sharp)[0]
        p_rl = psnr_shift(nublur.richardson_lucy(blurry, field, 30), sharp)[0]
        p_plan = psnr_shift(planned, sharp)[0]
        p_true = psnr_shift(nublur.richardson_lucy(blurry, psf, 30, tv_weight=plan.tv_weight),
                            sharp)[0]
        values.append((p_blur, p_rl, p_plan, p_true))
        rows.append([f"test{n + 1:03d}", kind, f"{sigma:g}", f"{p_blur:.2f}", f"{p_rl:.2f}",
                     f"{p_plan:.2f} ({plan.action})", f"{p_true:.2f}",
                     f"{info.confidence:.2f}", f"{info.blur_radius:.2f}"])
    v = np.array(values)
    rows.append(["mean", "", "", *(f"{x:.2f}" for x in v.mean(axis=0)), "", ""])
    print_table("Held-out family (BSD68, uniform linear / shake, not used for any setting)",
                ["image", "blur", "noise", "blurry", "RL 30, classical", "deblur plan",
                 "RL 30 + TV, true PSF", "confidence", "blur radius"], rows)
    print(f"below blurry (by > 0.05 dB): RL 30 {np.sum(v[:, 1] < v[:, 0] - 0.05)}, deblur plan "
          f"{np.sum(v[:, 2] < v[:, 0] - 0.05)} of {len(v)}")
    return v


_PHOTO_SCRIPT = """
import json, resource, sys, time
import numpy as np, imageio.v3 as iio
from skimage.transform import resize
import nublur
photo = resize(iio.imread(sys.argv[1]) / 255.0, (900, 1200), anti_aliasing=True)
t0 = time.perf_counter()
field, info = nublur.load_estimator("classical").estimate(photo, return_info=True)
t1 = time.perf_counter()
out = nublur.richardson_lucy(photo, field, 30, gamma=2.2, channel_axis=-1)
t2 = time.perf_counter()
print(json.dumps({"estimate_s": t1 - t0, "rl_s": t2 - t1, "grid": list(field.grid_shape)
                  if hasattr(field, "grid_shape") else [1, 1], "kernel": field.kernel_size,
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def photo_table():
    lai = shared_data("lai2016_real", "blurry", "boat2.jpg")
    if lai is None:
        print("\nLai real photos not found: skipped")
        return None
    out = subprocess.run([sys.executable, "-c", _PHOTO_SCRIPT, str(lai)], capture_output=True,
                         text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    print_table("1200 x 900 RGB photo (Lai boat2, resized), fresh process, 2 cores",
                ["estimate s", "RL 30 it s", "grid", "kernel px", "peak memory GB"],
                [[f"{res['estimate_s']:.1f}", f"{res['rl_s']:.1f}", "x".join(map(str, res["grid"])),
                  res["kernel"], f"{res['peak_gb']:.2f}"]])
    return res


def contact_sheet(path, camera=None):
    import imageio.v3 as iio
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = shared_data("lai2016_real", "blurry")
    if folder is None:
        print("\nLai real photos not found: no contact sheet")
        return
    estimator = nublur.load_estimator("classical", camera=camera)
    fig, axes = plt.subplots(len(LAI_SHEET), 3, figsize=(12, 3.6 * len(LAI_SHEET)))
    for row, name in zip(axes, LAI_SHEET):
        photo = iio.imread(folder / f"{name}.jpg") / 255.0
        if photo.ndim == 2:
            photo = np.stack([photo] * 3, axis=-1)
        field, info = estimator.estimate(photo, return_info=True)
        plan, out = planned_rl(photo, field, info, gamma=2.2, channel_axis=-1)
        panels = (photo, out, nublur.viz.kernel_grid(photo, field))
        titles = (name, f"{plan.action} ({plan.iterations} it, conf {info.confidence:.2f}, "
                        f"radius {info.blur_radius:.1f})",
                  f"field {getattr(field, 'grid_shape', (1, 1))}, {field.kernel_size} px")
        for ax, panel, title in zip(row, panels, titles):
            ax.imshow(np.clip(panel, 0, 1))
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        print(f"{name}: conf {info.confidence:.2f}, radius {info.blur_radius:.2f}, kernel "
              f"{field.kernel_size}, {plan.action}", flush=True)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-levin", action="store_true")
    parser.add_argument("--skip-gyro", action="store_true")
    parser.add_argument("--skip-photo", action="store_true")
    parser.add_argument("--skip-heldout", action="store_true")
    parser.add_argument("--with-kpn", action="store_true")
    parser.add_argument("--crops", type=int, default=8)
    parser.add_argument("--sparsity", type=float, nargs="+",
                        help="also run estimate_psf with these sparsity candidates (Levin)")
    parser.add_argument("--sheet", help="write the Lai contact sheet here (outside the repo)")
    parser.add_argument("--camera", choices=["rotation"],
                        help="the classical estimator's camera model (gyro, held-out, sheet)")
    parser.add_argument("--uniform", action="store_true",
                        help="one PSF for the whole image (load_estimator('uniform')) on gyro "
                             "and held-out")
    args = parser.parse_args(argv)
    grid = (1, 1) if args.uniform else None
    if not args.skip_levin:
        estimators = {"estimate_psf (automatic size)": _psf_estimator()}
        if args.sparsity:
            label = ", ".join(f"{w:g}" for w in args.sparsity)
            estimators[f"estimate_psf, sparsity ({label})"] = _psf_estimator(args.sparsity)
        estimators["none (blurry input)"] = lambda y: (None, np.nan)
        if args.with_kpn:
            estimators["kpn (shipped network)"] = _kpn_estimator()
        levin_table(estimators)
    if not args.skip_gyro:
        estimator = nublur.load_estimator("classical", gamma=1.0, camera=args.camera,
                                          grid=grid)
        gyro_table(args.crops, args.with_kpn, estimator)
    if not args.skip_heldout:
        heldout_table(camera=args.camera, grid=grid)
    if not args.skip_photo:
        photo_table()
    if args.sheet:
        contact_sheet(args.sheet, args.camera)


if __name__ == "__main__":
    main()
