"""Bad input to the operators is refused before any work, naming the argument."""

import numpy as np
import pytest

import nublur
from fields_factory import make_field


@pytest.fixture
def field(rng):
    return make_field("basis", rng, shape=(13, 11), size=5)


def test_shape_mismatch(field, rng):
    with pytest.raises(ValueError, match=r"image has spatial shape \(12, 11\).*\(13, 11\)"):
        nublur.blur(rng.random((12, 11)), field)
    with pytest.raises(ValueError, match="residual has spatial shape"):
        nublur.blur_adjoint(rng.random((12, 11)), field)


def test_nan_and_inf(field, rng):
    x = rng.random((13, 11))
    x[3, 3] = np.nan
    with pytest.raises(ValueError, match="image contains NaN"):
        nublur.blur(x, field)
    x[3, 3] = np.inf
    with pytest.raises(ValueError, match="residual contains NaN or Inf"):
        nublur.blur_adjoint(x, field)


def test_bad_boundary_and_dims(field, rng):
    with pytest.raises(ValueError, match="boundary must be one of"):
        nublur.blur(rng.random((13, 11)), field, boundary="circular")
    with pytest.raises(ValueError, match="2-D"):
        nublur.blur(rng.random((13, 11, 3)), field)
    with pytest.raises(ValueError, match="channel_axis"):
        nublur.blur(rng.random((13, 11, 3)), field, channel_axis=5)
    with pytest.raises(TypeError, match="channel_axis"):
        nublur.blur(rng.random((13, 11, 3)), field, channel_axis="last")


def test_bad_types(field, rng):
    with pytest.raises(TypeError, match="field"):
        nublur.blur(rng.random((13, 11)), "gauss")
    with pytest.raises(TypeError, match="image"):
        nublur.blur(np.array([["a", "b"]]), field)
    with pytest.raises(TypeError, match="dtype"):
        nublur.blur((rng.random((13, 11)) + 0j), field)
    with pytest.raises(ValueError, match="image_shape"):
        nublur.BlurOperator(field, (12, 11))


def test_boundary_aliases(rng):
    x = rng.random((10, 10))
    k = nublur.linear_kernel(5, 30)
    np.testing.assert_array_equal(nublur.blur(x, k, boundary="wrap"),
                                  nublur.blur(x, k, boundary="periodic"))
    np.testing.assert_array_equal(nublur.blur(x, k, boundary="symmetric"),
                                  nublur.blur(x, k, boundary="reflect"))
