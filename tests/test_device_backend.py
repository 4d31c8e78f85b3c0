"""The device (GPU) operators against the float64 references: numba.cuda gather kernels and
the array-module basis blur.

With a CUDA device and CuPy, the tests run on the GPU. Without one (CI), ``test_on_simulator``
reruns this file in a subprocess under ``NUMBA_ENABLE_CUDASIM=1``, where numba.cuda executes
the same kernels on numpy arrays, thread by thread, on the CPU.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba import config

from fields_factory import make_field
from reference import BOUNDARIES, kernel_stack, ref_adjoint, ref_blur

SIMULATED = bool(config.ENABLE_CUDASIM)


def _device_module():
    if SIMULATED:
        return np
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() > 0:
            return cupy
    except Exception:  # no CuPy, no driver or no device
        return None
    return None


XP = _device_module()
needs_device = pytest.mark.skipif(XP is None, reason="no CUDA device (the simulator run "
                                  "covers these kernels)")


def _to_host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


@pytest.mark.skipif(XP is not None, reason="kernels already run on a device or the simulator")
def test_on_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             Path(__file__).name], cwd=Path(__file__).parent, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout.splitlines()[-1]


@needs_device
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("kind", ["dense", "linear"])
def test_forward_and_adjoint_match_reference(kind, boundary):
    from nublur.operators import _gather_cuda

    rng = np.random.default_rng(7)
    shape = (7, 9)
    field = make_field(kind, rng, shape=shape, size=5)
    x, y = rng.standard_normal(shape), rng.standard_normal(shape)
    forward = getattr(_gather_cuda, f"{kind}_forward")
    adjoint = getattr(_gather_cuda, f"{kind}_adjoint")
    block = (4, 4)  # several blocks, with idle threads at the edges
    v = _to_host(forward(XP, XP.asarray(x), field, boundary, block=block))
    a = _to_host(adjoint(XP, XP.asarray(y), field, boundary, block=block))
    kernels = kernel_stack(field, shape)
    np.testing.assert_allclose(v, ref_blur(x, kernels, boundary), atol=1e-12)
    np.testing.assert_allclose(a, ref_adjoint(y, kernels, boundary), atol=1e-12)
    assert np.vdot(v, y) == pytest.approx(np.vdot(x, a), rel=1e-12)


@needs_device
def test_linear_kernels_match_the_cpu_rasteriser_at_every_angle():
    """Long kernels at many angles (incl. 0, 90 and fspecial's special cases) vs numba CPU."""
    import nublur
    from nublur.operators import _gather_cuda

    angles = np.array([[0.0, 6.0, 45.0, 89.9, 90.0, 90.1, 135.0, 174.0, 179.99, 200.0]])
    lengths = np.array([[1.0, 2.5, 9.0, 11.0, 3.0, 13.0, 7.0, 15.0, 5.0, 8.0]])
    field = nublur.LinearMotionField(lengths, angles)
    x = np.random.default_rng(3).standard_normal(angles.shape)
    expected = nublur.blur(x, field, boundary="periodic")
    got = _to_host(_gather_cuda.linear_forward(XP, XP.asarray(x), field, "periodic"))
    np.testing.assert_allclose(got, expected, atol=1e-12)


@needs_device
def test_float32_on_device_stays_float32():
    from nublur.operators import _gather_cuda

    rng = np.random.default_rng(5)
    field = make_field("linear", rng, shape=(6, 6), size=5)
    x = rng.standard_normal((6, 6)).astype(np.float32)
    v = _gather_cuda.linear_forward(XP, XP.asarray(x), field, "reflect", block=(4, 4))
    assert v.dtype == np.float32
    kernels = kernel_stack(field, (6, 6))
    np.testing.assert_allclose(_to_host(v), ref_blur(x, kernels, "reflect"), atol=1e-5)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("kind", ["uniform", "basis"])
def test_device_basis_plan_matches_reference(kind, boundary):
    """The array-module basis blur (cupy.fft on a GPU), run here with numpy."""
    from nublur.operators._basis_device import DeviceBasisPlan

    xp = np if XP is None else XP
    rng = np.random.default_rng(11)
    shape = (9, 8)
    field = make_field(kind, rng, shape=shape, size=5, count=3)
    kernels, mixing = field.as_basis()
    x, y = rng.standard_normal(shape), rng.standard_normal(shape)
    plan = DeviceBasisPlan(xp, kernels, mixing, shape, np.float64, boundary, batch=2)
    x_in = xp.asarray(x)
    v = _to_host(plan.forward(x_in))
    a = _to_host(plan.adjoint(xp.asarray(y)))
    np.testing.assert_array_equal(_to_host(x_in), x)  # input untouched
    stack = kernel_stack(field, shape)
    np.testing.assert_allclose(v, ref_blur(x, stack, boundary), atol=1e-12)
    np.testing.assert_allclose(a, ref_adjoint(y, stack, boundary), atol=1e-12)
    assert np.vdot(v, y) == pytest.approx(np.vdot(x, a), rel=1e-12)
