"""Synthetic-data throughput: samples per second for 256x256 RGB pairs of each kind.

Each sample is generated from scratch (gyro: 1/8 of the count, it compresses a homography
field per sample) (dead-leaves sharp image, field, blur, camera pipeline),
in one process on this machine's threads (the blur kernels use both cores).

Run: python benchmarks/bench_synth.py [--size 256] [--count 40]
"""

from __future__ import annotations

import argparse
import time

from _common import print_table, shared_data
from nublur import synth


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--count", type=int, default=40)
    args = parser.parse_args(argv)
    rows = []
    logs = shared_data("lai2016_nonuniform_gyro", "gyro")
    for kind in synth.KINDS:
        if kind == "gyro" and logs is None:
            rows.append((kind, "skipped (no ../shared/data/lai2016_nonuniform_gyro)", "-"))
            continue
        ds = synth.SyntheticDataset(kind, size=args.size, seed=0, gyro_logs=logs)
        count = args.count if kind != "gyro" else max(1, args.count // 8)
        ds[0]  # compilation and plans outside the timing
        t0 = time.perf_counter()
        for i in range(1, count + 1):
            ds[i]
        rate = count / (time.perf_counter() - t0)
        rows.append((kind, f"{rate:.1f}", f"{1000 / rate:.1f}"))
    print_table(f"Synthetic pairs {args.size}x{args.size} RGB ({args.count} samples, gyro "
                f"{max(1, args.count // 8)})",
                ["kind", "samples/s", "ms/sample"], rows)


if __name__ == "__main__":
    main()
