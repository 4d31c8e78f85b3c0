"""Tiled Richardson-Lucy on Dask (issue: scale-out): seam error against the whole-image solve
as a function of the halo and the number of iterations, and tiled vs whole-image time.

Seam error: max |tiled - whole| over the image, on scikit-image's camera and astronaut (gray)
at 512 x 512 in 128 x 128 tiles, blurred by a 15 px linear motion and a 45 px camera shake
with noise 0.01, reflect boundary. The halo rule ``nublur.dask.rl_halo`` is chosen from this
table. Timing: a 2048 x 2048 RGB photo (gray texture from the same images) with a 5 x 5 grid
of 33 px shakes, 30 iterations, on Dask's threads vs ``nublur.richardson_lucy``, same cores.

Batch: ``nublur deblur FOLDER -o OUT`` on 4 synthetic 480 x 360 RGB photos (dead leaves, a
camera shake each, JPEG-like 8-bit PNG), classical estimator and RL defaults, as a plain loop
and on 1 and 2 Dask worker processes (``--workers``); photos per minute, cluster start-up
included.

Run: python benchmarks/bench_dask.py [--skip-seam] [--skip-timing] [--skip-batch]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from skimage import data
from skimage.color import rgb2gray
from skimage.transform import resize
from skimage.util import img_as_float

import nublur
import nublur.dask as nd
from _common import print_table


def scenes(size):
    return [resize(img_as_float(data.camera()), (size, size), anti_aliasing=True),
            resize(rgb2gray(data.astronaut()), (size, size), anti_aliasing=True)]


def seam_table(size=512, chunk=128):
    rng = np.random.default_rng(0)
    line = nublur.linear_kernel(15, 30.0)
    shake = nublur.camera_shake_kernel(45, np.random.default_rng(3))
    blurs = [("linear 15 px", line, 0.0), ("shake 45 px", shake, 0.0),
             ("linear 15 px, TV 4e-3", line, 4e-3)]
    halos = (8, 16, 32, 64, 96, 128)
    rows = []
    for name, psf, tv in blurs:
        for num_iter in (10, 30, 50):
            worst = np.zeros(len(halos))
            for scene in scenes(size):
                y = np.clip(nublur.blur(scene, psf) + rng.normal(0, 0.01, scene.shape), 0, 1)
                whole = nublur.richardson_lucy(y, psf, num_iter, tv_weight=tv)
                for i, halo in enumerate(halos):
                    tiled = nd.richardson_lucy(y, psf, num_iter, halo=halo, chunks=chunk,
                                               tv_weight=tv)
                    worst[i] = max(worst[i], np.abs(tiled.compute() - whole).max())
            rule = nd.rl_halo(psf, num_iter, tv)
            y = np.clip(nublur.blur(scene, psf) + rng.normal(0, 0.01, scene.shape), 0, 1)
            at_rule = np.abs(nd.richardson_lucy(y, psf, num_iter, chunks=chunk,
                                                tv_weight=tv).compute()
                             - nublur.richardson_lucy(y, psf, num_iter, tv_weight=tv)).max()
            rows.append([name, num_iter] + [f"{e:.1e}" for e in worst] + [rule, f"{at_rule:.1e}"])
    print_table(f"Tiled RL seam error (max |tiled - whole|, {size}^2 in {chunk}^2 tiles, "
                "2 scenes, noise 0.01)",
                ["blur", "iterations"] + [f"halo {h}" for h in halos]
                + ["rl_halo", "error at rl_halo (astronaut)"], rows)


def timing_table(size=2048, chunk=512):
    rng = np.random.default_rng(1)
    kernels = np.stack([nublur.camera_shake_kernel(33, rng) for _ in range(25)])
    field = nublur.GridField(kernels.reshape(5, 5, 33, 33), (size, size))
    gray = resize(img_as_float(data.camera()), (size, size))
    image = np.stack([gray, gray[::-1], gray[:, ::-1]], axis=-1).astype(np.float32)
    y = nublur.blur(image, field, channel_axis=-1)
    t0 = time.perf_counter()
    whole = nublur.richardson_lucy(y, field, 30, channel_axis=-1)
    t_whole = time.perf_counter() - t0
    t0 = time.perf_counter()
    tiled = nd.richardson_lucy(y, field, 30, chunks=chunk).compute()
    t_tiled = time.perf_counter() - t0
    err = np.abs(tiled - whole).max()
    print_table(f"Tiled vs whole-image RL, {size}^2 RGB, 5x5 grid of 33 px shakes, 30 "
                f"iterations, tiles {chunk}^2, halo {nd.rl_halo(field, 30)}",
                ["path", "seconds", "max |tiled - whole|"],
                [["whole image", f"{t_whole:.1f}", "-"],
                 ["nublur.dask (threads)", f"{t_tiled:.1f}", f"{err:.1e}"]])


def batch_table(count=4, shape=(360, 480)):
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    import imageio.v3 as iio

    rng = np.random.default_rng(2)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        for i in range(count):
            sharp = nublur.synth.dead_leaves(shape, rng)
            psf = nublur.camera_shake_kernel(21, rng)
            blurry = np.clip(nublur.blur(sharp, psf, channel_axis=-1), 0, 1)
            iio.imwrite(folder / f"p{i}.png", np.round(blurry * 255).astype(np.uint8))
        rows = []
        for name, extra in (("plain loop", []), ("--workers 1", ["--workers", "1"]),
                            ("--workers 2", ["--workers", "2"])):
            out = Path(tmp) / name.replace(" ", "_")
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "nublur.cli", "deblur", str(folder),
                                   "-o", str(out), "--quiet", *extra],
                                  capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            if proc.returncode != 0:
                raise SystemExit(proc.stderr)
            rows.append([name, f"{seconds:.1f}", f"{count / seconds * 60:.1f}"])
    print_table(f"Batch of {count} photos {shape[1]} x {shape[0]} RGB (classical estimator, "
                "RL 30), 2 cores", ["run", "seconds", "photos / min"], rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-seam", action="store_true")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_seam:
        seam_table()
    if not args.skip_timing:
        timing_table()
    if not args.skip_batch:
        batch_table()


if __name__ == "__main__":
    main()
