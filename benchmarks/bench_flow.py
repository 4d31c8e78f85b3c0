"""The motion-flow network (002 / 001 Motion-Net, ``load_estimator("flow")``) on data it was
not trained on, and 001's pipeline: estimated flow -> ADMM-IRC.

Images: BSD68 (the network trained on dead leaves and Kodak24), gray, central ``--size``
crops. Per image, one field from each family:

* ``flow``: 002 camera-motion flows (``nublur.synth.motion_flow``, "severe"), the training
  generator, drawn for the crop itself (training drew them for larger virtual images), lengths
  capped at 35 px (the filter table's longest);
* ``smooth``: smooth random length and angle maps (lengths 5-30 px, Gaussian-filtered noise,
  ``bench_nonuniform``'s generator): the family held out from training (which saw 002 flows,
  single linear motions and cosine maps);
* ``uniform``: one linear motion per image, length U[5, 35] px, angle U[0, 180) (a training
  family, on held-out photos).

Observation as in training: the linear image blurred (replicate), Gaussian noise ``--noise``,
the camera response (gamma 2.2), 8 bits. Flow error: endpoint error up to the sign of the
motion (min(|m - m'|, |m + m'|), px), mean and 002's mean squared error, per decoding head.
Deblurring: ADMM-IRC (lam 0.003, 10 x 2; linearised image, re-encoded) with the estimated field
(each head, lengths capped at 35 px as ``nublur deblur`` does), with the true field, and the
blurry input; PSNR on the display image away from a 16 px border. "plan" applies
``nublur.policy.deblur_plan`` to the estimate's confidence and blur radius (the blurry image
when the plan says "none").

Levin 2009 (uniform recorded shake, no linear kernel among them): error ratio with RL (30
iterations) on the estimated linear field over RL with the true PSF, as ``bench_blind.py``.

Run: python benchmarks/bench_flow.py [--count 30] [--size 256] [--noise 0.01]
                                     [--skip-levin] [--json PATH]
"""

from __future__ import annotations

import argparse
import time

import imageio.v3 as iio
import numpy as np

import nublur
from _common import print_table, shared_data
from bench_blind import levin_table
from bench_nonuniform import smooth_motion
from nublur.estimators.flow import HEADS, doubled_angle
from nublur.operators.camera import camera_response
from nublur.policy import deblur_plan
from nublur.synth import motion_flow

FAMILIES = ("flow", "smooth", "uniform")
GAMMA = 2.2
BORDER = 16
SEED = 2024


def bsd_crops(size: int, count: int):
    folder = shared_data("bsd68")
    if folder is None:
        return []
    out = []
    for path in sorted(folder.glob("*.png"))[:count]:
        image = iio.imread(path).astype(np.float64) / 255
        if image.ndim == 3:
            image = image[..., :3] @ np.array([0.2125, 0.7154, 0.0721])
        top, left = ((n - size) // 2 for n in image.shape)
        out.append((path.stem, image[top:top + size, left:left + size]))
    return out


def true_field(family, rng, shape):
    if family == "flow":
        return capped(motion_flow(shape, rng, "severe"))
    if family == "smooth":
        length, angle = smooth_motion(rng, shape)
        return nublur.LinearMotionField(length, angle)
    return nublur.LinearMotionField(np.full(shape, rng.uniform(5, 35)),
                                    np.full(shape, rng.uniform(0, 180)))


def observe(sharp_display, field, rng, noise):
    linear = sharp_display ** GAMMA
    blurred = nublur.blur(linear, field, boundary="replicate")
    observed = camera_response(blurred + noise * rng.standard_normal(blurred.shape), GAMMA)
    return np.round(np.clip(observed, 0, 1) * 255) / 255


def motion_vectors(field):
    """(2, H, W) doubled-angle motion (sign-free) of a LinearMotionField, px."""
    a = np.radians(field.angle)
    return doubled_angle(field.length * np.cos(a), field.length * np.sin(a))


def endpoint_error(est, true):
    """Per-pixel endpoint error up to the motion's sign, px."""
    def vectors(f):
        a = np.radians(f.angle)
        return f.length * np.cos(a), f.length * np.sin(a)
    (u, v), (p, q) = vectors(est), vectors(true)
    return np.minimum(np.hypot(u - p, v - q), np.hypot(u + p, v + q))


def capped(field):
    """Lengths capped at the 511-kernel table's 35 px (ADMM-IRC's limit)."""
    return nublur.LinearMotionField(np.minimum(field.length, 35.0), field.angle)


def deblurred(blurry, field):
    out = nublur.admm_irc(blurry ** GAMMA, capped(field), boundary="replicate")
    return np.clip(out, 0, 1) ** (1 / GAMMA)


def score(image, sharp):
    b = BORDER
    return nublur.metrics.psnr(np.clip(image, 0, 1)[b:-b, b:-b], sharp[b:-b, b:-b])


def evaluate(estimator, images, family, noise):
    rows = []
    for i, (name, sharp) in enumerate(images):
        rng = np.random.default_rng([SEED, FAMILIES.index(family), i])
        field = true_field(family, rng, sharp.shape)
        blurry = observe(sharp, field, rng, noise)
        record = {"image": name, "blurry": score(blurry, sharp),
                  "true": score(deblurred(blurry, field), sharp)}
        fields = {}
        for head in HEADS:
            estimator.head = head
            est, info = estimator.estimate(blurry, channel_axis=None, return_info=True)
            fields[head] = est
            epe = endpoint_error(est, field)
            record[f"epe_{head}"] = float(epe.mean())
            record[f"mse_{head}"] = float((epe ** 2).mean())
        record["confidence"], record["radius"] = info.confidence, info.blur_radius
        for head in ("classes", "regression"):
            record[f"psnr_{head}"] = score(deblurred(blurry, fields[head]), sharp)
        rows.append(record)
    return rows


def family_table(results, default_head):
    rows = []
    for family, records in results.items():
        def col(key):
            return np.array([r[key] for r in records])
        blurry = col("blurry")
        row = [family, f"{blurry.mean():.2f}", f"{col('true').mean():.2f}"]
        for head in ("classes", "regression"):
            gain = col(f"psnr_{head}") - blurry
            row += [f"{col(f'epe_{head}').mean():.2f}", f"{col(f'mse_{head}').mean():.1f}",
                    f"{gain.mean():+.2f}", f"{np.mean(gain > 0):.0%}"]
        row.append(f"{col('epe_mean').mean():.2f}")
        plan_gain = []
        for r in records:
            plan = deblur_plan(confidence=r["confidence"], radius=r["radius"])
            plan_gain.append(0.0 if plan.action == "none"
                             else r[f"psnr_{default_head}"] - r["blurry"])
        plan_gain = np.array(plan_gain)
        row += [f"{plan_gain.mean():+.2f}", f"{np.mean(plan_gain < 0):.0%}"]
        rows.append(row)
    print_table(f"Flow network on BSD68 ({len(records)} images a family), ADMM-IRC 10 x 2",
                ["family", "blurry dB", "true field dB", "EPE classes", "MSE classes",
                 "gain classes", "> blurry", "EPE regr.", "MSE regr.", "gain regr.",
                 "> blurry", "EPE mean-head", f"plan gain ({default_head})",
                 "plan < blurry"], rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--model", help="an .onnx flow model (default: the shipped one)")
    parser.add_argument("--skip-levin", action="store_true")
    parser.add_argument("--json", help="write the per-image records here")
    args = parser.parse_args(argv)
    estimator = nublur.load_estimator("flow" if args.model is None else args.model)
    default_head = estimator.head
    images = bsd_crops(args.size, args.count)
    if not images:
        print("BSD68 not found in ../shared/data: nothing to measure")
        return
    t0 = time.perf_counter()
    results = {family: evaluate(estimator, images, family, args.noise) for family in FAMILIES}
    estimator.head = default_head
    family_table(results, default_head)
    print(f"({time.perf_counter() - t0:.0f} s)")
    levin = None
    if not args.skip_levin:
        def estimate(y):
            field, info = estimator.estimate(y, channel_axis=None, return_info=True)
            return field, info.confidence
        levin = levin_table({f"flow ({default_head})": estimate})
    if args.json:
        payload = {"families": results}
        if levin:
            payload["levin_ratios"] = {k: v[0].tolist() for k, v in levin.items()}
        nublur.io.write_json(args.json, payload, indent=1)


if __name__ == "__main__":
    main()
