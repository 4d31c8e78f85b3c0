"""Peak memory and time of ``nublur deblur`` on large photos (issue: an installed nublur,
bounded memory).

A synthetic 12 MP RGB photo (4000 x 3000, dead leaves blurred by a 91 px camera-shake PSF,
8-bit PNG; a smaller blur falls under the deblur plan's "too small to remove safely" at the
estimator's 1200 px scale and RL would not run) is deblurred by the command line with its defaults (classical estimator,
Richardson-Lucy 30 iterations) in a fresh process; the peak resident memory of that process
(``ru_maxrss`` of the child) and its wall time are printed. Target: <= 3 GB.

Run: python benchmarks/bench_memory.py [--width 4000 --height 3000] [--estimator classical]
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


def make_photo(path: Path, shape, seed=0):
    rng = np.random.default_rng(seed)
    sharp = nublur.synth.dead_leaves((shape[0] // 4, shape[1] // 4), rng)
    from skimage.transform import resize

    sharp = resize(sharp, shape + (3,), order=1).astype(np.float32)
    psf = nublur.camera_shake_kernel(91, rng)  # large enough at 1200 px for the plan to deblur
    blurry = nublur.blur(sharp, psf, channel_axis=-1)
    nublur.io.write_image(path, np.clip(blurry, 0, 1), force=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--estimator", default="classical")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.png"
        make_photo(photo, (args.height, args.width))
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "nublur.cli", "deblur", str(photo),
                               "--estimator", args.estimator, "-o", str(Path(tmp) / "out.png"),
                               "--quiet"], capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    print("\n".join(warnings) if warnings else "deblurred with the full plan (no warning)")
    mp = args.width * args.height / 1e6
    print_table(f"nublur deblur, {args.width} x {args.height} RGB ({mp:.0f} MP), defaults "
                f"(estimator {args.estimator}, RL 30 it), fresh process, 2 cores",
                ["peak memory GB", "wall s", "target"], [[f"{peak:.2f}", f"{seconds:.0f}",
                                                          "<= 3 GB"]])


if __name__ == "__main__":
    main()
