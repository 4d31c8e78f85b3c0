"""Property-based tests (hypothesis): linearity, positivity, mass and constants."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import nublur
from fields_factory import FIELD_KINDS, make_field

SETTINGS = settings(max_examples=25, deadline=None)

cases = st.tuples(st.sampled_from(FIELD_KINDS), st.integers(0, 2**31 - 1),
                  st.integers(6, 30), st.integers(6, 30), st.sampled_from([3, 5, 7]))


def _setup(case):
    kind, seed, h, w, size = case
    rng = np.random.default_rng(seed)
    return make_field(kind, rng, shape=(h, w), size=size), rng, (h, w)


@SETTINGS
@given(cases, st.sampled_from(["reflect", "mirror", "replicate", "constant", "periodic"]),
       st.floats(-3, 3), st.floats(-3, 3))
def test_linearity(case, boundary, a, b):
    field, rng, shape = _setup(case)
    x, y = rng.standard_normal(shape), rng.standard_normal(shape)
    for op in (nublur.blur, nublur.blur_adjoint):
        lhs = op(a * x + b * y, field, boundary=boundary)
        rhs = a * op(x, field, boundary=boundary) + b * op(y, field, boundary=boundary)
        np.testing.assert_allclose(lhs, rhs, atol=1e-10)


@SETTINGS
@given(cases, st.sampled_from(["reflect", "replicate", "constant", "periodic"]))
def test_positivity_preserved(case, boundary):
    field, rng, shape = _setup(case)
    x = rng.random(shape)
    assert nublur.blur(x, field, boundary=boundary).min() >= -1e-12
    assert nublur.blur_adjoint(x, field, boundary=boundary).min() >= -1e-12


@SETTINGS
@given(cases)
def test_mass_and_constants_with_periodic_boundary(case):
    """Rows of H sum to 1 (gather PSFs sum to 1): H 1 = 1, and the adjoint conserves mass."""
    field, rng, shape = _setup(case)
    np.testing.assert_allclose(nublur.blur(np.ones(shape), field, boundary="periodic"), 1.0,
                               atol=1e-10)
    r = rng.random(shape)
    assert np.isclose(nublur.blur_adjoint(r, field, boundary="periodic").sum(), r.sum(),
                      rtol=1e-10)
    if case[0] == "uniform":  # columns sum to 1 too: the forward conserves mass
        assert np.isclose(nublur.blur(r, field, boundary="periodic").sum(), r.sum(), rtol=1e-10)
