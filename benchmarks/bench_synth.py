"""Synthetic-data throughput: samples per second for 256x256 RGB pairs of each kind.

Each sample is generated from scratch (dead-leaves sharp image, field, blur, camera pipeline),
in one process on this machine's threads (the blur kernels use both cores).

Run: python benchmarks/bench_synth.py [--size 256] [--count 40]
"""

from __future__ import annotations

import argparse
import time

from _common import print_table
from nublur import synth


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--count", type=int, default=40)
    args = parser.parse_args(argv)
    rows = []
    for kind in synth.KINDS:
        ds = synth.SyntheticDataset(kind, size=args.size, seed=0)
        ds[0]  # compilation and plans outside the timing
        t0 = time.perf_counter()
        for i in range(1, args.count + 1):
            ds[i]
        rate = args.count / (time.perf_counter() - t0)
        rows.append((kind, f"{rate:.1f}", f"{1000 / rate:.1f}"))
    print_table(f"Synthetic pairs {args.size}x{args.size} RGB ({args.count} samples each)",
                ["kind", "samples/s", "ms/sample"], rows)


if __name__ == "__main__":
    main()
