"""Operator benchmark (issue: operator core).

Basis blur at 1024x1024 float32, B = 25, K = 33 (camera-shake kernels, smooth random mixing):
nublur forward and adjoint vs the straightforward ``sum_b m_b * fftconvolve(x, k_b, "same")``
reference and its adjoint, timed in the same run. Dense per-pixel gather at 256x256, K = 33,
vs a numpy ``sliding_window_view`` + ``einsum`` reference.

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

    print_table(f"Operators (float32, FFT engine {nublur.fft_engine()}, "
                f"{nublur._backend.num_threads()} threads; best of {args.repeat})",
                ["case", "nublur ms", "reference ms", "speed-up", "nublur MPix/s"], rows)


if __name__ == "__main__":
    main()
