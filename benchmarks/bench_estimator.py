"""Kernel-field estimator evaluation (issue: estimator).

1. Held-out synthetic set: 50 segment-wise camera-shake images 256x256 from seed 999 (training
   uses seeds 0-2), 1% noise, gamma 2.2: per-pixel kernel error (L1 between the predicted and
   true PSF after aligning centroids, 64 pixels an image), reblur PSNR (the sharp image through
   the estimated field and the camera model vs the observed blurry image), and PSNR of RL
   (30 iterations, gamma 2.2) with the estimated field, with the true field, and of the input.
2. Levin et al. 2009 (32 images): blind deblurring (estimate, then RL, gamma 1), PSNR up to
   shift, and Levin's error ratio (blind MSE / non-blind MSE with the true kernel, both up to
   shift); fraction of images with ratio <= 3.
3. CPU inference time of the estimator at 512x512 and 1024x1024 (best of 3).

Checkpoints are chosen on a validation set, seed 5000 (20 images), never on the held-out one:
``python -m training_torch.export --checkpoint runs/X/last.pt --out /tmp/x.onnx --no-int8``,
then ``python benchmarks/bench_estimator.py --model /tmp/x.onnx --seed 5000 --images 20
--skip-levin --skip-timing``.

The shipped model is evaluated in both precisions (float32 and its int8 twin), side by side.

Run: python benchmarks/bench_estimator.py [--model kpn|PATH.onnx] [--precision float32 int8]
[--images 50] [--seed 999] [--update-card] [--skip-levin] [--skip-timing]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.ndimage import shift as nd_shift

import nublur
from _common import load_levin, print_table, shared_data
from nublur import synth
from nublur.estimators import load_estimator
from nublur.io import write_json
from nublur.metrics import psnr, psnr_shift_compensated


def centroid(k):
    y, x = np.indices(k.shape)
    return (k * y).sum() / k.sum(), (k * x).sum() / k.sum()


def aligned_l1(pred, true):
    (py, px), (ty, tx) = centroid(pred), centroid(true)
    moved = np.maximum(nd_shift(pred, (ty - py, tx - px), order=1), 0)
    moved /= max(moved.sum(), 1e-12)
    return float(np.abs(moved - true).sum())


def kernels_same_size(a, b):
    size = max(a.shape[-1], b.shape[-1])
    def pad(k):
        p = (size - k.shape[-1]) // 2
        return np.pad(k, ((0, 0), (p, p), (p, p)))
    return pad(a), pad(b)


HELD_OUT_SEED = 999


def synthetic(estimator, count, seed=HELD_OUT_SEED):
    ds = synth.SyntheticDataset("segments", size=256, seed=seed, noise=0.01)
    rng = np.random.default_rng(0)
    rows = {k: [] for k in ("kernel_l1", "reblur", "blurry", "rl_est", "rl_true")}
    for i in range(count):
        s = ds[i]
        truth = np.clip(synth.gamma_encode(s["sharp"]), 0, 1)
        field = estimator.estimate(s["blurry"], channel_axis=-1)
        r, c = rng.integers(0, 256, 64), rng.integers(0, 256, 64)
        pred, true = kernels_same_size(field.kernels_at(r, c), s["field"].kernels_at(r, c))
        rows["kernel_l1"].append(np.mean([aligned_l1(p, t) for p, t in zip(pred, true)]))
        reblurred = nublur.camera_response(nublur.blur(s["sharp"], field, channel_axis=-1))
        rows["reblur"].append(psnr(np.clip(reblurred, 0, 1), s["blurry"]))
        rows["blurry"].append(psnr(s["blurry"], truth))
        for key, f in (("rl_est", field), ("rl_true", s["field"])):
            out = nublur.richardson_lucy(s["blurry"], f, 30, gamma=2.2, channel_axis=-1)
            rows[key].append(psnr(out, truth))
    return {k: float(np.mean(v)) for k, v in rows.items()}


def levin(estimator):
    root = shared_data("levin2009")
    if root is None:
        return None
    sharp, psfs, blurred = load_levin(root)
    psnrs, ratios = [], []
    for (i, k), y in sorted(blurred.items()):
        truth = sharp[i - 1]
        field = estimator.estimate(y, channel_axis=None)
        blind = nublur.richardson_lucy(y, field, 30)
        nonblind = nublur.richardson_lucy(y, psfs[k - 1], 30)
        p_blind, _ = psnr_shift_compensated(blind, truth)
        p_non, _ = psnr_shift_compensated(nonblind, truth)
        psnrs.append(p_blind)
        ratios.append(10 ** ((p_non - p_blind) / 10))  # MSE ratio
    return float(np.mean(psnrs)), float(np.mean(np.array(ratios) <= 3)), float(np.median(ratios))


def timing(estimator):
    out = []
    rng = np.random.default_rng(0)
    for n in (512, 1024):
        image = rng.random((n, n, 3), dtype=np.float32)
        estimator.estimate(image)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            estimator.estimate(image)
            times.append(time.perf_counter() - t0)
        out.append((f"{n}x{n}", round(min(times), 3)))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="kpn", help="kpn (the shipped files) or PATH.onnx")
    parser.add_argument("--precision", nargs="+", default=["float32", "int8"],
                        help="for kpn: the shipped precisions to evaluate side by side")
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--update-card", action="store_true",
                        help="store the measured figures in each model card's 'metrics'")
    parser.add_argument("--seed", type=int, default=HELD_OUT_SEED,
                        help=f"synthetic set: {HELD_OUT_SEED} held out, 5000 for validation")
    parser.add_argument("--skip-levin", action="store_true")
    parser.add_argument("--skip-timing", action="store_true")
    args = parser.parse_args(argv)
    if args.update_card and (args.seed != HELD_OUT_SEED or args.skip_timing):
        parser.error(f"--update-card records the held-out set (seed {HELD_OUT_SEED}) and "
                     "the timing")
    estimators = ([load_estimator(args.model)] if args.model != "kpn" else
                  [load_estimator("kpn", precision=p, providers=["CPUExecutionProvider"])
                   for p in args.precision])
    names = [e.path.name for e in estimators]
    card = estimators[0].card
    print(f"models {', '.join(names)}: {card['parameters']} parameters, "
          f"{card['training']['steps']} training steps")
    results = []
    for estimator in estimators:
        s = synthetic(estimator, args.images, args.seed)
        lv = None if args.skip_levin else levin(estimator)
        results.append((s, lv, None if args.skip_timing else timing(estimator)))
    header = ["metric", *names]
    kind = "Held-out" if args.seed == HELD_OUT_SEED else "Validation"
    print_table(f"{kind} synthetic set ({args.images} images 256x256, seed {args.seed}, "
                "1% noise)",
                header,
                [(label, *(fmt.format(r[0][key]) for r in results)) for label, key, fmt in (
                    ("kernel L1 after centroid alignment (0 = exact, 2 = disjoint)",
                     "kernel_l1", "{:.3f}"),
                    ("reblur PSNR (dB)", "reblur", "{:.2f}"),
                    ("blurry input PSNR (dB)", "blurry", "{:.2f}"),
                    ("RL with the estimated field (dB)", "rl_est", "{:.2f}"),
                    ("RL with the true field (dB)", "rl_true", "{:.2f}"))])
    if any(r[1] is None for r in results):
        print("\nLevin 2009 data not found or skipped")
    else:
        print_table("Levin 2009, blind (estimate + RL 30 it)", header,
                    [(label, *(fmt.format(r[1][i]) for r in results)) for i, (label, fmt) in
                     enumerate((("mean PSNR up to shift (dB)", "{:.2f}"),
                                ("fraction with error ratio <= 3", "{:.2f}"),
                                ("median error ratio", "{:.2f}")))])
    if not args.skip_timing:
        print_table("Estimator CPU inference (2 threads, CPU provider, best of 3), seconds",
                    ["size", *names], [(size, *(f"{dict(r[2])[size]:.2f}" for r in results))
                                       for size, _ in results[0][2]])
    if args.update_card:
        for estimator, (s, lv, times) in zip(estimators, results):
            write_metrics(estimator, args.images, s, lv, times)


def write_metrics(estimator, images, s, lv, times):
    card_path = estimator.path.with_suffix(".json")
    card = json.loads(card_path.read_text())
    card["metrics"] = {
        "heldout_synthetic": {"images": images, "seed": HELD_OUT_SEED, "size": 256,
                              "noise": 0.01, **{k: round(v, 4) for k, v in s.items()}},
        "levin2009_blind": None if lv is None else
        {"mean_psnr_up_to_shift": round(lv[0], 3), "fraction_error_ratio_le_3": lv[1],
         "median_error_ratio": round(lv[2], 3)},
        "cpu_seconds": dict(times),
        "command": "python benchmarks/bench_estimator.py --update-card",
    }
    write_json(card_path, card, indent=1)
    print(f"metrics written to {card_path}")


if __name__ == "__main__":
    main()
