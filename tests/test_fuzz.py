"""Fuzzing of the public API with hypothesis (issue: an installed nublur works like the
checkout). Every call either returns a finite result of the documented shape and dtype or
raises ValueError / TypeError whose message names an argument; inputs are never modified."""

import hashlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nublur

BOUNDARIES = ("reflect", "mirror", "replicate", "constant", "periodic", "wrap", "reflect",
              "constant", "bogus", 3)
DTYPES = (np.uint8, np.uint16, np.int32, np.float16, np.float32, np.float32, np.float64,
          np.float64, np.bool_, np.complex64)
FUZZ = settings(max_examples=250, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
COUNTS: dict[str, list[int]] = {}
REASONS: dict = {}


def digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        if isinstance(a, np.ndarray):
            h.update(a.tobytes())
            h.update(str(a.dtype).encode())
    return h.hexdigest()


@st.composite
def arrays(draw, min_side=1, max_side=12, channels=False):
    """An image; with ``channels`` a pair (image, channel_axis), consistent most of the time
    (the channel axis where the channels are, or None for a 2-D image)."""
    shape = [draw(st.integers(min_side, max_side)), draw(st.integers(min_side, max_side))]
    axis = None
    if channels and draw(st.integers(0, 3)) > 0:
        axis = draw(st.sampled_from([0, 2, -1]))
        shape.insert(axis if axis >= 0 else 2, draw(st.integers(1, 4)))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.random(shape) * draw(st.sampled_from([1.0, 255.0, 1e4]))
    if dtype.kind == "f" and draw(st.integers(0, 5)) == 0:
        values.flat[draw(st.integers(0, values.size - 1))] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf]))
    if draw(st.integers(0, 5)) == 0:
        values = -values
    image = values.astype(dtype)
    if not channels:
        return image
    if draw(st.integers(0, 6)) == 0:  # a wrong or out-of-range channel axis
        axis = draw(st.sampled_from([None, 5, -4, 1]))
    return image, axis


@st.composite
def kernels(draw):
    k = 2 * draw(st.integers(0, 7)) + 1
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    psf = rng.random((k, k + draw(st.sampled_from([0] * 5 + [1]))))
    kind = draw(st.sampled_from(["unit"] * 5 + ["raw", "negative", "zero"]))
    if kind == "unit":
        psf /= psf.sum()
    elif kind == "negative":
        psf[0, 0] = -1.0
    elif kind == "zero":
        psf[:] = 0
    return psf


def check_call(name, fn, inputs, arg_names, shape=None, dtype=None):
    """Run ``fn``; the contract of the module docstring."""
    before = digest(*inputs)
    counts = COUNTS.setdefault(name, [0, 0])
    counts[0] += 1
    try:
        out = fn()
    except (ValueError, TypeError) as exc:
        counts[1] += 1
        message = str(exc)
        REASONS.setdefault(name, {}).setdefault(message.split(",")[0][:50], 0)
        REASONS[name][message.split(",")[0][:50]] += 1
        assert any(a in message for a in arg_names), f"{name}: {message!r} names no argument"
        assert digest(*inputs) == before, f"{name} modified its input"
        return None
    assert digest(*inputs) == before, f"{name} modified its input"
    assert np.all(np.isfinite(out)), f"{name} returned non-finite values"
    if shape is not None:
        assert out.shape == shape
    if dtype is not None:
        assert out.dtype == dtype
    return out


def expected_dtype(image):
    """float32 and float64 are kept, float16 computes in float32, the rest as img_as_float."""
    if image.dtype == np.float16:
        return np.dtype(np.float32)
    return image.dtype if image.dtype in (np.float32, np.float64) else None


@FUZZ
@given(data=arrays(channels=True), psf=kernels(), boundary=st.sampled_from(BOUNDARIES),
       adjoint=st.booleans())
def test_blur_with_psf(data, psf, boundary, adjoint):
    image, channel_axis = data
    fn = nublur.blur_adjoint if adjoint else nublur.blur
    check_call("blur/blur_adjoint (psf)",
               lambda: fn(image, psf, boundary=boundary, channel_axis=channel_axis),
               [image, psf], ["image", "residual", "psf", "field", "boundary", "channel_axis",
                              "kernel"], image.shape, expected_dtype(image))


@st.composite
def fields(draw):
    h, w = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    k = draw(st.sampled_from([1, 3, 5, 13]))
    kind = draw(st.sampled_from(["basis", "grid", "dense", "linear"]))
    ks = rng.random((4, k, k))
    ks /= ks.sum(axis=(1, 2), keepdims=True)
    if kind == "basis":
        m = rng.random((4, h, w))
        field = nublur.BasisField(ks, m / m.sum(0))
    elif kind == "grid":
        field = nublur.GridField(ks.reshape(2, 2, k, k), (h, w))
    elif kind == "dense":
        field = nublur.DenseField(rng.random((h, w, k, k)), normalize=True)
    else:
        field = nublur.LinearMotionField(rng.uniform(0, k, (h, w)), rng.uniform(-90, 400, (h, w)))
    return field, (h, w)


@FUZZ
@given(spec=fields(), boundary=st.sampled_from(BOUNDARIES[:5]), adjoint=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64, np.uint8]), mismatch=st.booleans())
def test_blur_with_every_field_type(spec, boundary, adjoint, dtype, mismatch):
    field, shape = spec
    if mismatch:
        shape = (shape[0] + 1, shape[1])
    image = (np.random.default_rng(0).random(shape) * 200).astype(dtype)
    fn = nublur.blur_adjoint if adjoint else nublur.blur
    check_call("blur/blur_adjoint (fields)", lambda: fn(image, field, boundary=boundary),
               [image], ["image", "residual", "field"], image.shape, expected_dtype(image))


@FUZZ
@given(data=arrays(channels=True), psf=kernels(), num_iter=st.sampled_from([0, 1, 3, 3, -1]),
       gamma=st.sampled_from([1.0, 2.2, 2.2, 0.0]),
       saturation=st.sampled_from([None, None, "whyte", "other"]),
       tv=st.sampled_from([0.0, 2e-3, 2e-3, -1.0]))
def test_richardson_lucy(data, psf, num_iter, gamma, saturation, tv):
    image, channel_axis = data
    check_call("richardson_lucy", lambda: nublur.richardson_lucy(
        image, psf, num_iter, channel_axis=channel_axis, gamma=gamma, saturation=saturation,
        tv_weight=tv), [image, psf],
        ["image", "psf", "num_iter", "channel_axis", "gamma", "saturation", "tv_weight",
         "kernel", "field"], image.shape, expected_dtype(image))


@FUZZ
@given(image=arrays(), psf=kernels(), lam=st.sampled_from([0.003, 0.0, -1.0]),
       solver=st.sampled_from(["fft", "admm"]))
def test_linear_solvers(image, psf, lam, solver):
    if solver == "fft":
        fn = lambda: nublur.deconv_fft(image, psf, lam)  # noqa: E731
    else:
        fn = lambda: nublur.admm_irc(image, psf, lam=lam, num_admm=2)  # noqa: E731
    check_call(f"deconv_fft/admm_irc", fn, [image, psf],
               ["image", "psf", "lam", "kernel", "field"], image.shape)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=arrays(min_side=12, max_side=40, channels=True),
       kernel_size=st.sampled_from([None, None, 3, 4, 9, 101]))
def test_estimate_psf(data, kernel_size):
    image, channel_axis = data
    out = check_call("estimate_psf", lambda: nublur.estimate_psf(
        image, kernel_size=kernel_size, channel_axis=channel_axis), [image],
        ["image", "kernel_size", "channel_axis", "gamma"])
    if out is not None:
        assert out.ndim == 2 and out.shape[0] % 2 == 1 and out.sum() == pytest.approx(1.0)


@FUZZ
@given(kernels_=st.builds(lambda k, s: np.random.default_rng(s).random((2, 3, k, k)),
                          st.sampled_from([1, 2, 3, 5]), st.integers(0, 100)),
       shape=st.tuples(st.integers(-1, 9), st.integers(1, 9)),
       nodes=st.sampled_from([None, [0.0, 0.0], [5.0, 1.0], [1.0, 4.0]]),
       normalize=st.booleans())
def test_grid_field_construction(kernels_, shape, nodes, normalize):
    check_call("GridField", lambda: nublur.GridField(kernels_, shape, row_nodes=nodes,
                                                     normalize=normalize).kernels,
               [kernels_], ["kernels", "image_shape", "row_nodes"])


def test_report_counts():
    """Prints the examples tried per function (run with -s to see them)."""
    for name, (tried, refused) in sorted(COUNTS.items()):
        print(f"{name}: {tried} examples, {refused} refused with a named error")
        for reason, n in sorted(REASONS.get(name, {}).items(), key=lambda kv: -kv[1])[:4]:
            print(f"    {n:4d}  {reason}")
