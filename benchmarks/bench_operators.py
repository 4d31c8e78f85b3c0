"""Operator benchmark (issue: operator core).

Basis blur at 1024x1024 float32, B = 25, K = 33 (camera-shake kernels, smooth random mixing):
nublur forward and adjoint vs the straightforward ``sum_b m_b * fftconvolve(x, k_b, "same")``
reference and its adjoint, timed in the same run. Dense per-pixel gather at 256x256, K = 33,
vs a numpy ``sliding_window_view`` + ``einsum`` reference. Linear-motion gather at 1024x1024
float32: an integer camera-motion flow (002, few distinct kernels, applied from a kernel table)
vs the same field rasterised pixel by pixel (the path every continuous field takes), and a
smooth continuous field (5-30 px): at 256x256 from its per-pixel table vs rasterised, at
1024x1024 (beyond the table's memory budget) rasterised, for its throughput.

Run: python benchmarks/bench_operators.py [--size 1024] [--repeat 5] [--with-torch]
"""

from __future__ import annotations

import argparse

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import nublur
from _common import (paired_times, print_table, reference_adjoint, reference_forward,
                     shake_basis_field)


def einsum_dense(x, kernels):
    r = kernels.shape[-1] // 2
    windows = sliding_window_view(np.pad(x, r, mode="symmetric"), kernels.shape[-2:])
    return np.einsum("ijkl,ijkl->ij", windows, kernels[:, :, ::-1, ::-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--dense-size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--with-torch", action="store_true",
                        help="import torch first (DESIGN.md section 3: FFT engine next to torch)")
    args = parser.parse_args(argv)
    if args.with_torch:
        import torch  # noqa: F401  (loaded on purpose: nublur then picks scipy.fft)
    rng = np.random.default_rng(0)
    n = args.size
    field = shake_basis_field(rng, (n, n))
    x = rng.random((n, n), dtype=np.float32)
    kernels, mixing = field.kernels, field.mixing
    mpix = n * n / 1e6

    # correctness guard: the two implementations agree (interior, the reference pads with zeros)
    c = 40
    diff = np.abs(nublur.blur(x, field) - reference_forward(x, kernels, mixing))[c:-c, c:-c].max()
    assert diff < 1e-4, diff

    rows = []
    for name, fast, ref in (
            ("basis forward", lambda: nublur.blur(x, field),
             lambda: reference_forward(x, kernels, mixing)),
            ("basis adjoint", lambda: nublur.blur_adjoint(x, field),
             lambda: reference_adjoint(x, kernels, mixing))):
        t_fast, t_ref = paired_times(fast, ref, args.repeat)
        rows.append((f"{name} {n}x{n} B=25 K=33", f"{t_fast * 1e3:.1f}", f"{t_ref * 1e3:.1f}",
                     f"{t_ref / t_fast:.1f}x", f"{mpix / t_fast:.1f}"))

    d = args.dense_size
    dense = shake_basis_field(np.random.default_rng(1), (d, d)).to_dense()
    xd = rng.random((d, d), dtype=np.float32)
    dk = np.ascontiguousarray(dense.kernels)
    assert np.abs(nublur.blur(xd, dense) - einsum_dense(xd, dk)).max() < 1e-5
    t_fast, t_ref = paired_times(lambda: nublur.blur(xd, dense), lambda: einsum_dense(xd, dk),
                                 args.repeat)
    rows.append((f"dense gather {d}x{d} K=33", f"{t_fast * 1e3:.1f}", f"{t_ref * 1e3:.1f}",
                 f"{t_ref / t_fast:.1f}x", f"{d * d / 1e6 / t_fast:.2f}"))
    t_fast, _ = paired_times(lambda: nublur.blur_adjoint(xd, dense), lambda: None, args.repeat)
    rows.append((f"dense adjoint {d}x{d} K=33", f"{t_fast * 1e3:.1f}", "-", "-",
                 f"{d * d / 1e6 / t_fast:.2f}"))

    rows += grid_rows(rng, n, args.repeat)
    rows += linear_rows(rng, n, args.repeat)
    print_table(f"Operators (float32, FFT engine {nublur.fft_engine()}, "
                f"{nublur._backend.num_threads()} threads; best of {args.repeat})",
                ["case", "nublur ms", "reference ms", "speed-up", "nublur MPix/s"], rows)


def grid_rows(rng, n, repeat):
    """Grids of 33 px patch PSFs with bilinear hat mixing (zero boundary): the compact-support
    path (each tile transforms only the kernels whose maps reach it) vs the fftconvolve
    reference over all G maps; a 12 x 12 grid should cost about what a 5 x 5 grid costs."""
    x = rng.random((n, n), dtype=np.float32)
    rows, forward_ms = [], {}
    for g in (5, 12):
        kernels = np.stack([nublur.camera_shake_kernel(33, rng) for _ in range(g * g)])
        field = nublur.GridField(kernels.astype(np.float32).reshape(g, g, 33, 33), (n, n))
        mixing = field.mixing
        c = 40
        diff = np.abs(nublur.blur(x, field, boundary="constant")
                      - reference_forward(x, field.kernels, mixing))[c:-c, c:-c].max()
        assert diff < 1e-4, diff
        for name, fast, ref in (
                ("forward", lambda: nublur.blur(x, field, boundary="constant"),
                 lambda: reference_forward(x, field.kernels, mixing)),
                ("adjoint", lambda: nublur.blur_adjoint(x, field, boundary="constant"),
                 lambda: reference_adjoint(x, field.kernels, mixing))):
            t_fast, t_ref = paired_times(fast, ref, repeat)
            forward_ms.setdefault(name, {})[g] = t_fast
            rows.append((f"grid {g}x{g} {name} {n}x{n} K=33 (hat mixing)",
                         f"{t_fast * 1e3:.1f}", f"{t_ref * 1e3:.1f}", f"{t_ref / t_fast:.1f}x",
                         f"{n * n / 1e6 / t_fast:.1f}"))
    for name, t in forward_ms.items():
        rows.append((f"grid 12x12 / 5x5 {name} time", f"{t[12] / t[5]:.2f}", "-", "-", "-"))
    return rows


def linear_rows(rng, n, repeat):
    from nublur import synth
    from nublur.operators import _gather

    flow = synth.motion_flow((n, n), np.random.default_rng(3), "mild")
    table = _gather.kernel_table(flow)
    rasterised = _gather.rasterised(flow)
    x = rng.random((n, n), dtype=np.float32)
    assert np.abs(nublur.blur(x, flow) - nublur.blur(x, rasterised)).max() < 1e-5
    mpix = n * n / 1e6
    rows = []
    label = f"{n}x{n} 002 flow ({len(table.ptr) - 1} kernels)"
    for name, op in (("forward", nublur.blur), ("adjoint", nublur.blur_adjoint)):
        t_fast, t_ref = paired_times(lambda: op(x, flow), lambda: op(x, rasterised), repeat)
        rows.append((f"linear {name} {label}: table vs rasterised", f"{t_fast * 1e3:.1f}",
                     f"{t_ref * 1e3:.1f}", f"{t_ref / t_fast:.1f}x", f"{mpix / t_fast:.1f}"))
    small = continuous_field(rng, 256)
    xs = rng.random((256, 256), dtype=np.float32)
    for name, op in (("forward", nublur.blur), ("adjoint", nublur.blur_adjoint)):
        reference = _gather.rasterised(small)
        t_fast, t_ref = paired_times(lambda: op(xs, small), lambda: op(xs, reference), repeat)
        assert _gather.kernel_table(small) is not None
        rows.append((f"linear {name} 256x256 continuous 5-30 px: per-pixel table vs "
                     "rasterised", f"{t_fast * 1e3:.1f}", f"{t_ref * 1e3:.1f}",
                     f"{t_ref / t_fast:.1f}x", f"{0.065536 / t_fast:.1f}"))
    large = continuous_field(rng, n)
    for name, op in (("forward", nublur.blur), ("adjoint", nublur.blur_adjoint)):
        t_fast, _ = paired_times(lambda: op(x, large), lambda: None, repeat)
        rows.append((f"linear {name} {n}x{n} continuous 5-30 px (rasterised)",
                     f"{t_fast * 1e3:.1f}", "-", "-", f"{mpix / t_fast:.1f}"))
    return rows


def continuous_field(rng, n):
    """Smooth random length (5-30 px) and angle (0-240 degrees) maps."""
    from scipy.ndimage import gaussian_filter

    smooth = [gaussian_filter(rng.standard_normal((n, n)), n / 6) for _ in range(2)]
    length, angle = ((s - s.min()) / np.ptp(s) for s in smooth)
    return nublur.LinearMotionField(5 + 25 * length, 240 * angle)


if __name__ == "__main__":
    main()
