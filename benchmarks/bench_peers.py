"""nublur against peer libraries on the same workloads (issue: performance, peer benchmark).

Workloads (1024 x 1024 float32 unless said; a 5 x 5 grid of 33 x 33 camera-shake PSFs with
bilinear hat mixing; zero boundary; median of 5 after a warm-up):

  forward      H u (grid field)
  adjoint      H^T r
  dense        per-pixel 33 x 33 kernels at 256 x 256 (a DenseField)
  rl_uniform   Richardson-Lucy, 30 iterations, one 33 x 33 PSF
  rl_grid      Richardson-Lucy, 30 iterations, the grid field
  cg           50 conjugate-gradient iterations on (H^T H + 0.01 I) x = H^T y, grid field

Implementations: nublur; "reference" (scipy/scikit-image: fftconvolve per kernel, einsum for
dense kernels, skimage's richardson_lucy, scipy's cg on the fftconvolve operator) always;
pylops 2.8 (``NonStationaryConvolve2D``: the mask-first order sum_b k_b conv (m_b u), checked
equal to ``nublur.mask_first_operator`` with these maps to 5e-7: the same work as nublur's
kernel-first pair) and deepinv 0.5 (``SpaceVaryingBlur``, torch on the CPU) when installed (``pip install -e ".[peers]"``). Each implementation runs in its own
process (pyFFTW, numba and torch each load an OpenMP runtime). The machine's float32 matmul
and memory-copy peaks are printed alongside, so ratios can be read on any machine.

Run: python benchmarks/bench_peers.py [--impl nublur reference pylops deepinv] [--size 1024]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np

from _common import best_time

WORKLOADS = ("forward", "adjoint", "dense", "rl_uniform", "rl_grid", "cg")
GRID = 5
K = 33


def make_data(size):
    import nublur

    rng = np.random.default_rng(0)
    kernels = np.stack([nublur.camera_shake_kernel(K, rng) for _ in range(GRID * GRID)])
    kernels = (kernels / kernels.sum(axis=(1, 2), keepdims=True)).astype(np.float32)
    nodes = grid_nodes(size)
    field = nublur.GridField(kernels.reshape(GRID, GRID, K, K), (size, size), row_nodes=nodes,
                             col_nodes=nodes)
    x = rng.random((size, size), dtype=np.float32)
    return kernels, field, x


def grid_nodes(size):
    """Node pixels of the grid: regularly spaced integers (pylops requires them)."""
    step = size // GRID
    return step // 2 + step * np.arange(GRID)


def median_time(fn, repeat=5):
    """Median of ``repeat`` runs after one warm-up; a single run (no warm-up, the operators
    were compiled by the earlier workloads) for the slow iterative references."""
    return best_time(fn, repeat=repeat, warmup=1 if repeat > 1 else 0, statistic=np.median)


def run_nublur(workload, size):
    import nublur

    kernels, field, x = make_data(size)
    if workload == "forward":
        return median_time(lambda: nublur.blur(x, field, boundary="constant"))
    if workload == "adjoint":
        return median_time(lambda: nublur.blur_adjoint(x, field, boundary="constant"))
    if workload == "dense":
        dense = make_data(256)[1].to_dense()
        xs = x[:256, :256].copy()
        return median_time(lambda: nublur.blur(xs, dense, boundary="constant"))
    y = nublur.blur(x, field, boundary="constant")
    if workload == "rl_uniform":
        yu = nublur.blur(x, kernels[0], boundary="constant")
        return median_time(lambda: nublur.richardson_lucy(yu, kernels[0], 30,
                                                          boundary="constant"), repeat=3)
    if workload == "rl_grid":
        return median_time(lambda: nublur.richardson_lucy(y, field, 30, boundary="constant"),
                           repeat=3)
    return median_time(lambda: _cg(nublur.BlurOperator(field, x.shape, boundary="constant",
                                                       dtype=np.float32), y), repeat=3)


def _cg(op, y):
    from scipy.sparse.linalg import LinearOperator, cg

    n = y.size
    normal = LinearOperator((n, n), dtype=np.float32,
                            matvec=lambda v: op.rmatvec(op.matvec(v)) + 0.01 * v)
    cg(normal, op.rmatvec(y.ravel()), maxiter=50, rtol=1e-30)


def _hat_maps(size):
    import nublur

    nodes = grid_nodes(size)
    return np.asarray(nublur.GridField(np.ones((GRID, GRID, 1, 1)), (size, size),
                                       row_nodes=nodes, col_nodes=nodes).mixing,
                      dtype=np.float32)


def run_reference(workload, size):
    from scipy.signal import fftconvolve

    kernels, field, x = make_data(size)
    maps = _hat_maps(size)

    def forward(u):
        return sum(m * fftconvolve(u, k, mode="same") for k, m in zip(kernels, maps))

    def adjoint(r):
        return sum(fftconvolve(m * r, k[::-1, ::-1], mode="same") for k, m in zip(kernels, maps))

    if workload == "forward":
        return median_time(lambda: forward(x))
    if workload == "adjoint":
        return median_time(lambda: adjoint(x))
    if workload == "dense":
        dense = make_data(256)[1].to_dense().kernels.astype(np.float32)
        xs = np.pad(x[:256, :256], K // 2)
        win = np.lib.stride_tricks.sliding_window_view(xs, (K, K))
        return median_time(lambda: np.einsum("hwij,hwij->hw", win, dense[:, :, ::-1, ::-1]))
    if workload == "rl_uniform":
        from skimage.restoration import richardson_lucy

        yu = fftconvolve(x, kernels[0], mode="same")
        return median_time(lambda: richardson_lucy(yu, kernels[0], 30, clip=False), repeat=3)
    y = forward(x)
    if workload == "rl_grid":
        def rl():
            norm = adjoint(np.ones_like(y))
            est = y.copy()
            for _ in range(30):
                est = est * adjoint(y / (forward(est) + 1e-12)) / norm
        return median_time(rl, repeat=1)
    from scipy.sparse.linalg import LinearOperator, cg

    n = y.size
    normal = LinearOperator((n, n), dtype=np.float32, matvec=lambda v: (adjoint(forward(
        v.reshape(y.shape))) + 0.01 * v.reshape(y.shape)).ravel())
    return median_time(lambda: cg(normal, adjoint(y).ravel(), maxiter=50, rtol=1e-30),
                       repeat=1)


def run_pylops(workload, size):
    from pylops.signalprocessing import NonStationaryConvolve2D

    kernels, field, x = make_data(size)
    if workload in ("dense", "rl_uniform"):
        return None
    centres = grid_nodes(size)
    op = NonStationaryConvolve2D(dims=(size, size), hs=kernels.reshape(GRID, GRID, K, K),
                                 ihx=centres, ihz=centres, engine="numba", dtype="float32")
    if workload == "forward":
        return median_time(lambda: op @ x.ravel())
    if workload == "adjoint":
        return median_time(lambda: op.H @ x.ravel())
    y = op @ x.ravel()
    if workload == "rl_grid":
        def rl():
            norm = op.H @ np.ones_like(y)
            est = y.copy()
            for _ in range(30):
                est = est * (op.H @ (y / (op @ est + 1e-12))) / norm
        return median_time(rl, repeat=1)
    from scipy.sparse.linalg import LinearOperator, cg

    normal = LinearOperator(op.shape, dtype=np.float32,
                            matvec=lambda v: op.H @ (op @ v) + 0.01 * v)
    return median_time(lambda: cg(normal, op.H @ y, maxiter=50, rtol=1e-30), repeat=1)


def run_deepinv(workload, size):
    import deepinv
    import torch

    torch.set_num_threads(2)
    kernels, field, x = make_data(size)
    if workload in ("dense", "rl_uniform", "cg"):
        return None
    maps = torch.from_numpy(_hat_maps(size))[None, None]              # (1, 1, B, H, W)
    filters = torch.from_numpy(kernels)[None, None]                     # (1, 1, B, K, K)
    physics = deepinv.physics.SpaceVaryingBlur(filters=filters, multipliers=maps,
                                               padding="constant")
    u = torch.from_numpy(x)[None, None]
    with torch.no_grad():
        if workload == "forward":
            return median_time(lambda: physics.A(u))
        if workload == "adjoint":
            return median_time(lambda: physics.A_adjoint(u))
        y = physics.A(u)

        def rl():
            norm = physics.A_adjoint(torch.ones_like(y))
            est = y.clone()
            for _ in range(30):
                est = est * physics.A_adjoint(y / (physics.A(est) + 1e-12)) / norm
        return median_time(rl, repeat=1)


RUNNERS = {"nublur": run_nublur, "reference": run_reference, "pylops": run_pylops,
           "deepinv": run_deepinv}


def machine_peaks():
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    t = median_time(lambda: a @ a, repeat=3)
    big = np.random.default_rng(0).random(64 * 2**20 // 4, dtype=np.float32)
    out = np.empty_like(big)
    tc = median_time(lambda: np.copyto(out, big), repeat=5)
    return 2 * 2048**3 / t / 1e9, 2 * big.nbytes / tc / 1e9


def child(impl, size):
    results = {}
    for workload in WORKLOADS:
        try:
            results[workload] = RUNNERS[impl](workload, size)
        except ImportError:
            return {"missing": True}
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", nargs="+", default=list(RUNNERS))
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.size)))
        return
    gflops, gbs = machine_peaks()
    print(f"machine: float32 matmul {gflops:.0f} GFLOP/s, copy {gbs:.1f} GB/s (read + write)")
    table = {}
    for impl in args.impl:
        proc = subprocess.run([sys.executable, __file__, "--child", impl, "--size",
                               str(args.size)], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{impl}: failed\n{proc.stderr.strip().splitlines()[-1]}")
            continue
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        if res.get("missing"):
            print(f"{impl}: not installed, skipped")
            continue
        table[impl] = res
    header = ["workload"] + [f"{i} (s)" for i in table] + [f"{i} / nublur" for i in table
                                                           if i != "nublur"]
    print("\n| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for w in WORKLOADS:
        times = [table[i].get(w) for i in table]
        base = table.get("nublur", {}).get(w)
        ratios = [f"{table[i][w] / base:.1f}x" if table[i].get(w) and base else "-"
                  for i in table if i != "nublur"]
        cells = [f"{t:.4f}" if t else "-" for t in times]
        print("| " + " | ".join([w] + cells + ratios) + " |")
    dense_bytes = 256 * 256 * K * K * 4
    if "nublur" in table and table["nublur"].get("dense"):
        print(f"\ndense gather: memory bound {dense_bytes / (gbs / 2 * 1e9) * 1e3:.1f} ms "
              f"(reads {dense_bytes / 2**20:.0f} MiB of kernels at the copy read rate), "
              f"nublur {table['nublur']['dense'] * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
