"""Tiled Richardson-Lucy on Dask (issue: scale-out): seam error against the whole-image solve
as a function of the halo and the number of iterations, and tiled vs whole-image time.

Seam error: max |tiled - whole| over the image, on scikit-image's camera and astronaut (gray)
at 512 x 512 in 128 x 128 tiles, blurred by a 15 px linear motion and a 45 px camera shake
with noise 0.01, reflect boundary. The halo rule ``nublur.dask.rl_halo`` is chosen from this
table. Timing: a 12 MP RGB photo (gray texture from the same images) with a 5 x 5 grid of
61 px shakes, 30 iterations, tiled by ``nublur.dask.rl_tiles`` under three memory bounds
(the default, 4 and 2 MP), one tile at a time on Dask's threads (as ``nublur deblur
--tiled``) vs ``nublur.richardson_lucy``, same cores, each after an untimed 1-iteration
warm-up.

ADMM-IRC seam error (``--admm``, not in the default run: about 15 minutes): the same
measure for ``nublur.dask.admm_irc`` (10 ADMM iterations, defaults otherwise) on the camera
at 1024 x 1024 in 256 x 256 tiles, linear motions of 9, 15, 25 and 35 px and shakes of 25 and
45 px; ``nublur.dask.admm_halo`` is chosen from it.

Batch: ``nublur deblur FOLDER -o OUT`` on 4 synthetic 480 x 360 RGB photos (dead leaves, a
camera shake each, JPEG-like 8-bit PNG), classical estimator and RL defaults, as a plain loop
and on 1 and 2 Dask worker processes (``--workers``); photos per minute, cluster start-up
included.

Run: python benchmarks/bench_dask.py [--skip-seam] [--skip-timing] [--skip-batch] [--admm]
     [--batch-count 4]
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


def admm_table(size=1024, chunk=256, num_admm=10):
    import dask

    rng = np.random.default_rng(0)
    blurs = [(f"linear {n} px", nublur.linear_kernel(n, angle))
             for n, angle in ((9, 30.0), (15, 30.0), (25, 100.0), (35, 10.0))]
    blurs += [(f"shake {n} px", nublur.camera_shake_kernel(n, np.random.default_rng(n)))
              for n in (25, 45)]
    halos = (32, 64, 128, 256, 384)
    scene = scenes(size)[0]
    rows = []
    for name, psf in blurs:
        y = np.clip(nublur.blur(scene, psf) + rng.normal(0, 0.01, scene.shape), 0, 1)
        whole = nublur.admm_irc(y, psf, num_admm=num_admm, step="fixed")  # what tiles run
        rule = nd.admm_halo(psf, num_admm)
        errors = []
        for halo in halos + (rule,):
            with dask.config.set(scheduler="threads", num_workers=1):
                tiled = nd.admm_irc(y, psf, halo=halo, chunks=chunk, num_admm=num_admm)
                errors.append(np.abs(tiled.compute() - whole).max())
        rows.append([name] + [f"{e:.1e}" for e in errors[:-1]] + [rule, f"{errors[-1]:.1e}"])
    print_table(f"Tiled ADMM-IRC seam error (max |tiled - whole|, camera {size}^2 in {chunk}^2 "
                f"tiles, noise 0.01, {num_admm} ADMM iterations)",
                ["blur"] + [f"halo {h}" for h in halos] + ["admm_halo", "error at admm_halo"],
                rows)


def timing_table(shape=(3000, 4000), kernel_size=61):
    import dask

    rng = np.random.default_rng(1)
    kernels = np.stack([nublur.camera_shake_kernel(kernel_size, rng) for _ in range(25)])
    field = nublur.GridField(kernels.reshape(5, 5, kernel_size, kernel_size), shape)
    gray = resize(img_as_float(data.camera()), shape).astype(np.float32)
    image = np.stack([gray, gray[::-1], gray[:, ::-1]], axis=-1)
    y = nublur.blur(image, field, channel_axis=-1)
    del image
    nublur.richardson_lucy(y, field, 1, channel_axis=-1)  # warm-up: FFT plans, page faults
    t0 = time.perf_counter()
    whole = nublur.richardson_lucy(y, field, 30, channel_axis=-1)
    t_whole = time.perf_counter() - t0
    halo = nd.rl_halo(field, 30)
    rows = [["whole image", "-", f"{t_whole:.1f}", "1.00", "-"]]
    default = nd.TILE_BYTES / 112.5 / 1e6
    bounds = ((f"default ({default:.1f} MP per tile)", None), ("4 MP per tile", 4e6),
              ("2 MP per tile", 2e6))
    for name, max_pixels in bounds:
        chunks = nd.rl_tiles(shape, halo, max_pixels)
        # as nublur deblur --tiled: one tile at a time, nublur's threads use the cores
        with dask.config.set(scheduler="threads", num_workers=1):
            nd.richardson_lucy(y, field, 1, halo=halo, chunks=chunks).compute()  # warm-up
            t0 = time.perf_counter()
            tiled = nd.richardson_lucy(y, field, 30, halo=halo, chunks=chunks).compute()
        seconds = time.perf_counter() - t0
        rows.append([name, f"{len(chunks[0])} x {len(chunks[1])}", f"{seconds:.1f}",
                     f"{seconds / t_whole:.2f}", f"{np.abs(tiled - whole).max():.1e}"])
    print_table(f"Tiled vs whole-image RL, {shape[1]} x {shape[0]} RGB "
                f"({shape[0] * shape[1] / 1e6:.0f} MP), 5x5 grid of {kernel_size} px shakes, "
                f"30 iterations, halo {halo} (rl_halo), same cores (target: within 1.2x)",
                ["tiles", "split", "seconds", "vs whole", "max |tiled - whole|"], rows)


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
    parser.add_argument("--admm", action="store_true")
    parser.add_argument("--batch-count", type=int, default=4, help="photos in the batch")
    args = parser.parse_args(argv)
    if args.admm:
        admm_table()
    if not args.skip_seam:
        seam_table()
    if not args.skip_timing:
        timing_table()
    if not args.skip_batch:
        batch_table(args.batch_count)


if __name__ == "__main__":
    main()
