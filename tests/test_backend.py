"""FFT engine choice and the demo script."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nublur

ROOT = Path(__file__).resolve().parents[1]


def test_engine_override_and_validation():
    assert nublur.fft_engine() in ("pyfftw", "scipy")
    nublur.set_fft_engine("scipy")
    try:
        assert nublur.fft_engine() == "scipy"
    finally:
        nublur.set_fft_engine(None)
    with pytest.raises(ValueError, match="engine"):
        nublur.set_fft_engine("mkl")


@pytest.mark.parametrize("n", [1, 7, 100, 127, 130, 226, 326, 364, 1025])
def test_fast_fft_size_is_the_smallest_admissible_size(n):
    """FFTW: the smallest 5-smooth multiple of 4 (brute force); scipy: ``next_fast_len``."""
    import scipy.fft
    from nublur._backend import fast_fft_size

    def admissible(m):
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        return m == 1

    expected = next(m for m in range(n, 4 * n + 8) if m % 4 == 0 and admissible(m))
    assert fast_fft_size(n, "pyfftw") == expected
    assert fast_fft_size(n, "scipy") == scipy.fft.next_fast_len(n, real=True)


def test_blur_with_torch_imported_matches_scipy_engine():
    """DESIGN.md section 3: nublur's FFTW plans are single-threaded, so they stay next to torch;
    both engines must give the same result in a process that imported torch."""
    pytest.importorskip("torch")
    code = ("import torch, numpy as np, nublur; rng = np.random.default_rng(0); "
            "x = rng.random((96, 80)).astype(np.float32); k = nublur.linear_kernel(9, 30); "
            "m = rng.random((2, 96, 80)); f = nublur.BasisField(np.stack([k, k.T]), m / m.sum(0)); "
            "a = nublur.blur(x, f); nublur.set_fft_engine('scipy'); "
            "b = nublur.blur(x, nublur.BasisField(f.kernels, f.mixing)); "
            "print(float(np.abs(a - b).max()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout) < 1e-5


def test_cupy_arrays_are_refused_clearly():
    class FakeCupy(np.ndarray):
        __module__ = "cupy._core.core"

    x = np.zeros((8, 8)).view(FakeCupy)
    with pytest.raises(TypeError, match="CuPy"):
        nublur.blur(x, nublur.linear_kernel(3, 0))


def test_demo_script_writes_outputs(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "examples" / "blur_demo.py"), "--out",
                    str(tmp_path)], check=True, capture_output=True)
    for name in ("sharp.png", "blurred.png", "field.npz"):
        assert (tmp_path / name).stat().st_size > 0
