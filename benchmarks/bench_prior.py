"""The flow kernel prior (003 section 3.1) on kernel families it was and was not trained on.

``python benchmarks/bench_prior.py [--count 256] [--picture samples.png]``

Negative log-likelihood (nats per 19 x 19 kernel, at the deterministic point of the model
card's log-kernel coordinates; lower = more probable) of:

* fresh draws of the three training families (shake, inertial, linear; a seed not used in
  training);
* held out: "arc" (``nublur.synth.kernel_families``, not in training), Levin 2009's 8
  recorded kernels and PSFs of the recorded gyro logs (Lai 2016) at 9 pixels of a 256 x 256
  frame, each centred, trimmed and padded to 19 (shrunk to 19 where larger);
* implausible kernels: the training draws shifted off centre by (5, -4) px, and uniform noise.

Beside the flow, a Gaussian fitted to 20,000 training draws in the flow's training
coordinates (dequantised, random gain) scores the same kernels: the flow should beat it on
held-out families, not only on its own. With ``--picture`` it writes a contact sheet of
prior samples (temperature 0.7 and 1.0, 24 each).

``--estimation``: the prior inside blind estimation (``estimate_psf(kernel_prior=...)``, the
latent projection after each kernel step) against pixel-space estimation, on Levin 2009
(``bench_blind.levin_table``: error ratios) and on recorded gyro shake over Kodak crops
(``bench_blind.gyro_table`` with ``--crops``: RL dB).

``--ufp MODEL.onnx``: 003's latent-code network (``training_torch.train_ufp --export``) on
BSD68 crops (scenes never seen in training) blurred like its training data (one 19 px PSF
per 32 px cell, or one for the crop) with each kernel family, "arc" held out: RL 30 with its
field, with the true field and the blurry input (PSNR); and Levin 2009 error ratios
(``bench_blind.levin_table``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import nublur  # noqa: E402
from nublur.estimators.classical._kernel import (centre_kernel, pad_kernel,  # noqa: E402
                                                 resize_kernel, trim_kernel)
from nublur.synth import random_kernels  # noqa: E402

from _common import load_levin, print_table, shared_data  # noqa: E402

ALPHA = 0.02  # the card's log-coordinate floor (checked against the card below)


def fit_to(kernel, size=19):
    k = centre_kernel(np.asarray(kernel, float) / np.sum(kernel))
    k = trim_kernel(np.where(k > 1e-4 * k.max(), k, 0))
    return pad_kernel(k, size) if k.shape[0] <= size else resize_kernel(k, size)


def levin_kernels():
    root = shared_data("levin2009")
    if root is None:
        return None
    return np.stack([fit_to(k) for k in load_levin(root)[1]]).astype(np.float32)


def gyro_kernels():
    logs = shared_data("lai2016_nonuniform_gyro", "gyro")
    if logs is None:
        return None
    out = []
    for n in range(1, 5):
        log = nublur.synth.load_gyro_log(logs / f"gyro_{n:02d}")
        field = nublur.synth.HomographyField(nublur.synth.gyro_homographies(log, (256, 256)),
                                             (256, 256))
        rows, cols = np.meshgrid([32, 128, 224], [32, 128, 224], indexing="ij")
        out += [fit_to(k) for k in field.kernels_at(rows.ravel(), cols.ravel())]
    return np.stack(out).astype(np.float32)


def log_coordinates(kernels, rng=None):
    """The card's coordinates; with ``rng``, the training recipe's dequantisation draw and
    random gain (training_torch.kernel_flow.log_coordinates)."""
    k = kernels.reshape(len(kernels), -1).astype(np.float64)
    if rng is None:
        return np.log((1 - ALPHA) * k + ALPHA / k.shape[1])
    u = rng.uniform(0.5, 1.5, k.shape)
    gain = rng.standard_normal((len(k), 1))
    return np.log((1 - ALPHA) * k + ALPHA * u / u.sum(1, keepdims=True)) + gain


class GaussianBaseline:
    """A full-covariance Gaussian fitted to the same training distribution as the flow
    (dequantised, random gain), scored at the same deterministic point."""

    def __init__(self, kernels):
        x = log_coordinates(kernels, np.random.default_rng(8))
        self.mean = x.mean(0)
        cov = np.cov(x, rowvar=False)
        self.chol = np.linalg.cholesky(cov)
        self.logdet = 2 * np.sum(np.log(np.diag(self.chol)))

    def nll(self, kernels):
        from scipy.linalg import solve_triangular

        d = solve_triangular(self.chol, (log_coordinates(kernels) - self.mean).T, lower=True)
        dim = d.shape[0]
        return 0.5 * (np.sum(d**2, 0) + self.logdet + dim * np.log(2 * np.pi))


def kernel_sets(count):
    rng = np.random.default_rng(2026)
    sets = {f: random_kernels(count, 19, rng, (f,))[0] for f in ("shake", "inertial", "linear")}
    held = {"arc (held out)": random_kernels(count, 19, rng, ("arc",))[0]}
    levin, gyro = levin_kernels(), gyro_kernels()
    if levin is not None:
        held["Levin 2009 (recorded)"] = levin
    if gyro is not None:
        held["gyro PSFs (recorded)"] = gyro
    training = np.concatenate(list(sets.values()))
    bad = {"training draws shifted (5, -4)": np.roll(training[:count], (5, -4), axis=(1, 2)),
           "uniform noise": rng.random((count, 19, 19)).astype(np.float32)}
    return sets, held, bad


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=256)
    parser.add_argument("--picture", help="write a contact sheet of prior samples here")
    parser.add_argument("--estimation", action="store_true",
                        help="also compare latent-space and pixel-space blind estimation")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--crops", type=int, default=8)
    parser.add_argument("--ufp", metavar="MODEL.onnx",
                        help="also measure an exported ufp network (none is shipped)")
    parser.add_argument("--ufp-count", type=int, default=12)
    args = parser.parse_args(argv)
    prior = nublur.load_kernel_prior()
    assert f"a = {ALPHA}" in prior.card["conventions"]["coordinates"]
    baseline = GaussianBaseline(random_kernels(20000, 19, np.random.default_rng(7),
                                               ("shake", "inertial", "linear"),
                                               (0.4, 0.35, 0.25))[0])
    sets, held, bad = kernel_sets(args.count)
    rows = []
    for group, kernels in (("trained", sets), ("held out", held), ("implausible", bad)):
        for name, k in kernels.items():
            flow, gauss = prior.nll(k), baseline.nll(k)
            rows.append((group, name, str(len(k)), f"{np.median(flow):.1f}",
                         f"{np.median(gauss):.1f}", f"{np.mean(flow < gauss):.0%}"))
    print_table("Flow kernel prior: median NLL (nats per 19 x 19 kernel; lower = more "
                "probable)", ["group", "kernels", "n", "flow", "Gaussian", "flow < Gaussian"],
                rows)
    if args.picture:
        import imageio.v3 as iio

        rng = np.random.default_rng(0)
        sheet = np.concatenate([nublur.viz.kernel_panel(prior.sample(24, rng, temperature=t),
                                                        columns=12) for t in (0.7, 1.0)])
        iio.imwrite(args.picture, (np.clip(sheet, 0, 1) ** 0.5 * 255).astype(np.uint8))
        print(f"samples (temperature 0.7 top, 1.0 bottom; sqrt display) -> {args.picture}")
    if args.estimation:
        estimation_tables(prior, args.temperature, args.crops)
    if args.ufp:
        ufp_tables(args.ufp, args.ufp_count)


def ufp_tables(path, count):
    from bench_blind import levin_table
    from nublur.metrics import psnr

    root = shared_data("bsd68")
    estimator = nublur.load_estimator(path)
    if root is not None:
        import imageio.v3 as iio

        files = sorted(root.glob("*.png"))
        rows = []
        for family in ("shake", "inertial", "linear", "arc"):
            scores = []
            for n in range(count):
                rng = np.random.default_rng([77, n, len(family)])
                image = iio.imread(files[n % len(files)]) / 255.0
                image = image.mean(axis=-1) if image.ndim == 3 else image
                sharp = image[:192, :192]
                cells = 1 if n % 2 == 0 else 36
                kernels = np.broadcast_to(random_kernels(cells, 19, rng, (family,))[0],
                                          (36, 19, 19)).reshape(6, 6, 19, 19)
                field = nublur.GridField(kernels.astype(np.float64), (192, 192), normalize=True)
                blurry = np.clip(nublur.blur(sharp, field, boundary="mirror")
                                 + rng.normal(0, 0.005, sharp.shape), 0, 1)
                estimate = estimator.estimate(blurry, channel_axis=None)
                scores.append([psnr(blurry, sharp, border=16),
                               psnr(nublur.richardson_lucy(blurry, estimate, 30), sharp,
                                    border=16),
                               psnr(nublur.richardson_lucy(blurry, field, 30), sharp,
                                    border=16)])
            g = np.array(scores)
            rows.append((family + (" (held out)" if family == "arc" else ""), str(count),
                         f"{g[:, 0].mean():.2f}", f"{g[:, 1].mean():.2f}",
                         f"{g[:, 2].mean():.2f}", f"{(g[:, 1] - g[:, 0]).mean():+.2f}",
                         f"{np.mean(g[:, 1] > g[:, 0]):.0%}"))
        print_table("ufp network on BSD68 192 x 192 crops (noise 0.005), RL 30 it, PSNR dB",
                    ["family", "n", "blurry", "RL ufp field", "RL true field", "gain",
                     "above blurry"], rows)

    def ufp(y):
        return estimator.estimate(y, channel_axis=None), float("nan")

    levin_table({"ufp network": ufp})


def estimation_tables(prior, temperature, crops):
    from bench_blind import gyro_table, levin_table

    def psf_estimator(**options):
        def estimate(y):
            psf, info = nublur.estimate_psf(y, return_info=True, **options)
            return psf, info.confidence
        return estimate

    levin_table({"pixel space": psf_estimator(),
                 f"latent projection (t = {temperature})": psf_estimator(
                     kernel_prior=prior, prior_temperature=temperature)})
    for name, options in (("pixel space", {}), ("latent projection", {"kernel_prior": prior})):
        print(f"\n{name}:")
        gyro_table(crops, estimator=nublur.load_estimator("classical", gamma=1.0, **options))


if __name__ == "__main__":
    main()
