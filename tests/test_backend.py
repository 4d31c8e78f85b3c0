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
