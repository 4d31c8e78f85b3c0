"""Peak memory and time of ``nublur deblur`` on large photos (issue: an installed nublur,
bounded memory).

A synthetic 12 MP RGB photo (4000 x 3000, dead leaves blurred by a 91 px camera-shake PSF,
8-bit PNG; a smaller blur falls under the deblur plan's "too small to remove safely" at the
estimator's 1200 px scale and RL would not run) is deblurred by the command line with its defaults (classical estimator,
Richardson-Lucy 30 iterations) in a fresh process; the peak resident memory of that process
(``ru_maxrss`` of the child) and its wall time are printed. Target: <= 3 GB.

With ``--tiled`` the photo is a TIFF and the command runs ``nublur deblur --tiled`` (read
region by region, RL tile by tile on Dask's threads, tiled TIFF written chunk-row by
chunk-row); target for 50 MP (``--width 8660 --height 5774``): <= 4 GB.

Run: python benchmarks/bench_memory.py [--width 4000 --height 3000] [--estimator classical]
     [--tiled] [--iters 30]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import nublur
from _common import print_table


def make_photo(path: Path, shape, seed=0, blur="shake"):
    """Dead leaves blurred by a 91 px shake (or a linear motion of 1 % of the long side),
    8-bit; a TIFF is written in 512 px tiles."""
    rng = np.random.default_rng(seed)
    sharp = nublur.synth.dead_leaves((shape[0] // 4, shape[1] // 4), rng)
    from skimage.transform import resize

    sharp = resize(sharp, shape + (3,), order=1).astype(np.float32)
    # 91 px at 4000 px wide (larger photos: scaled), large enough at the estimator's 1200 px
    # for the plan to deblur
    psf = nublur.camera_shake_kernel(int(91 * max(shape) / 4000) | 1, rng) if blur == "shake" \
        else nublur.linear_kernel(max(shape) / 100, 30.0)
    blurry = nublur.blur(sharp, psf, channel_axis=-1)
    del sharp
    data = np.round(np.clip(blurry, 0, 1) * 255).astype(np.uint8)
    if path.suffix == ".tif":
        import tifffile

        tifffile.imwrite(path, data, tile=(512, 512), photometric="rgb")
    else:
        nublur.io.write_image(path, np.clip(blurry, 0, 1), force=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--estimator", default="classical")
    parser.add_argument("--tiled", action="store_true")
    parser.add_argument("--iters", type=int, default=30,
                        help="RL iterations (memory does not depend on them, time does)")
    parser.add_argument("--blur", choices=("shake", "linear"), default="shake",
                        help="linear: a motion of 1 %% of the long side (a shake's mass stays "
                             "compact, and at 50 MP the plan finds it too small at 1200 px)")
    args = parser.parse_args(argv)
    suffix = ".tif" if args.tiled else ".png"
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / f"photo{suffix}"
        make_photo(photo, (args.height, args.width), blur=args.blur)
        t0 = time.perf_counter()
        extra = ["--tiled"] if args.tiled else []
        proc = subprocess.run([sys.executable, "-m", "nublur.cli", "deblur", str(photo),
                               "--estimator", args.estimator, "-o",
                               str(Path(tmp) / f"out{suffix}"), "--iters", str(args.iters),
                               "--quiet", *extra],
                              capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    print("\n".join(warnings) if warnings else "deblurred with the full plan (no warning)")
    mp = args.width * args.height / 1e6
    mode = "--tiled, TIFF" if args.tiled else "whole image, PNG"
    target = "<= 4 GB at 50 MP" if args.tiled else "<= 3 GB"
    print_table(f"nublur deblur ({mode}), {args.width} x {args.height} RGB ({mp:.0f} MP), "
                f"{args.blur} blur, "
                f"defaults (estimator {args.estimator}, RL {args.iters} it), fresh process, 2 cores",
                ["peak memory GB", "wall s", "target"], [[f"{peak:.2f}", f"{seconds:.0f}",
                                                          target]])


if __name__ == "__main__":
    main()
