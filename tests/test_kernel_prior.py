"""The flow kernel prior (003 section 3.1) run by ONNX Runtime, and ``LatentField``."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import nublur
from nublur.estimators.prior import DEFAULT_PRIOR, KernelPrior
from nublur.synth import random_kernels


@pytest.fixture(scope="module")
def prior():
    return nublur.load_kernel_prior()


def _training_kernels(n=40, seed=0):
    return random_kernels(n, 19, np.random.default_rng(seed), ("shake", "inertial", "linear"))[0]


def test_encode_then_decode_is_identity(prior):
    kernels = _training_kernels()
    codes, _ = prior.encode(kernels)
    assert np.abs(prior.decode(codes) - kernels).max() < 1e-4


def test_training_kernels_are_more_likely_than_noise_and_shifted_kernels(prior):
    kernels = _training_kernels()
    rng = np.random.default_rng(1)
    noise = rng.random(kernels.shape).astype(np.float32)
    shifted = np.roll(kernels, (5, -4), axis=(1, 2))
    own = prior.nll(kernels)
    assert np.median(own) < np.median(prior.nll(shifted)) - 20
    assert np.max(own) < np.min(prior.nll(noise))


def test_samples_are_valid_psfs_and_seeded(prior):
    a = prior.sample(16, np.random.default_rng(3), temperature=0.8)
    b = prior.sample(16, np.random.default_rng(3), temperature=0.8)
    assert a.shape == (16, 19, 19) and a.dtype == np.float32
    assert np.all(a >= 0) and np.allclose(a.sum(axis=(1, 2)), 1, atol=1e-5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, prior.sample(16, np.random.default_rng(4), temperature=0.8))


def test_decode_keeps_leading_axes_and_inputs(prior):
    codes = np.random.default_rng(0).standard_normal((2, 3, prior.latent_dim)).astype(np.float32)
    before = codes.copy()
    out = prior.decode(codes)
    assert out.shape == (2, 3, 19, 19)
    np.testing.assert_array_equal(codes, before)
    np.testing.assert_allclose(out[1, 2], prior.decode(codes[1, 2][None])[0], atol=1e-6)


def _field(prior, grid=(3, 4), shape=(40, 52), sigma=None, seed=0):
    codes = np.random.default_rng(seed).standard_normal(grid + (prior.latent_dim,)) * 0.7
    return nublur.LatentField(codes.astype(np.float32), prior, shape, sigma=sigma)


def test_latent_field_equals_its_grid_field(prior):
    field = _field(prior)
    grid = field.to_basis()
    assert isinstance(grid, nublur.GridField) and field.conversion_error == 0.0
    np.testing.assert_allclose(grid.grid_kernels, prior.decode(field.codes), atol=1e-6)
    rows, cols = np.divmod(np.arange(40 * 52), 52)
    np.testing.assert_allclose(field.kernels_at(rows, cols), grid.kernels_at(rows, cols),
                               atol=1e-6)
    x = np.random.default_rng(1).random((40, 52, 3))
    for boundary in ("reflect", "zero"):
        np.testing.assert_allclose(nublur.blur(x, field, channel_axis=-1, boundary=boundary),
                                   nublur.blur(x, grid, channel_axis=-1, boundary=boundary),
                                   atol=1e-6)


def test_per_pixel_codes_decode_each_pixel(prior):
    field = _field(prior, grid=(6, 7), shape=None)
    assert field.image_shape == (6, 7)
    for r, c in [(0, 0), (2, 5), (5, 6)]:
        np.testing.assert_allclose(field.kernel_at(r, c), prior.decode(field.codes[r, c][None])[0],
                                   atol=1e-6)
    dense = field.to_dense()
    x = np.random.default_rng(2).random((6, 7))
    np.testing.assert_allclose(nublur.blur(x, field), nublur.blur(x, dense), atol=1e-6)


def test_large_grids_convert_to_low_rank_with_their_error(prior):
    field = _field(prior, grid=(8, 8), shape=(32, 32))
    basis = field.to_basis(rank=6, max_grid_kernels=16)
    assert basis.num_basis == 6 and not isinstance(basis, nublur.GridField)
    assert 0 < field.conversion_error < 0.6
    exact = field.to_basis()
    assert exact.num_basis == 64


def test_uncertainty_grows_with_sigma_and_sampling_is_seeded(prior):
    assert np.all(_field(prior).uncertainty() == 0)
    low = _field(prior, sigma=0.1).uncertainty()
    high = _field(prior, sigma=0.6).uncertainty()
    assert low.shape == (40, 52) and np.all(low >= 0)
    assert high.mean() > 2 * low.mean()
    field = _field(prior, sigma=0.4)
    a = field.sample(np.random.default_rng(5)).codes
    np.testing.assert_array_equal(a, field.sample(np.random.default_rng(5)).codes)
    np.testing.assert_array_equal(_field(prior, sigma=0.0).sample(
        np.random.default_rng(5)).codes, _field(prior).codes)
    picture = nublur.viz.uncertainty_overlay(np.zeros((40, 52)), field)
    assert picture.shape == (40, 52, 3) and picture[..., 0].max() > 0.9


def test_bad_input_is_refused(prior):
    codes = np.zeros((2, 2, prior.latent_dim), np.float32)
    with pytest.raises(ValueError, match="codes must have shape"):
        nublur.LatentField(codes[..., :10], prior, (8, 8))
    with pytest.raises(ValueError, match="codes must be finite|codes"):
        nublur.LatentField(np.full_like(codes, np.nan), prior, (8, 8))
    with pytest.raises(ValueError, match="sigma must lie"):
        nublur.LatentField(codes, prior, (8, 8), sigma=1.0)
    with pytest.raises(TypeError, match="prior must have"):
        nublur.LatentField(codes, object(), (8, 8))
    with pytest.raises(ValueError, match="kernels must have shape"):
        prior.encode(np.ones((3, 17, 17)))
    with pytest.raises(ValueError, match="non-negative"):
        prior.encode(-np.ones((1, 19, 19)))
    with pytest.raises(ValueError, match="last axis"):
        prior.decode(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="temperature"):
        prior.sample(2, np.random.default_rng(0), temperature=-1)


def test_a_model_that_differs_from_its_card_is_refused(tmp_path):
    for name in (DEFAULT_PRIOR.name, DEFAULT_PRIOR.name.replace(".onnx", ".json")):
        shutil.copy(DEFAULT_PRIOR.parent / name, tmp_path / name)
    copy = tmp_path / DEFAULT_PRIOR.name
    data = bytearray(copy.read_bytes())
    data[-10] ^= 1
    copy.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        KernelPrior(copy)
    card = json.loads((DEFAULT_PRIOR.parent / "nublur_kernel_prior_k19_encoder.json").read_text())
    assert card["role"] == "encoder"
    with pytest.raises(ValueError, match="not a kernel-prior decoder"):
        KernelPrior(DEFAULT_PRIOR.parent / "nublur_kernel_prior_k19_encoder.onnx")


def test_the_prior_runs_without_torch():
    code = ("import sys, numpy as np, nublur; p = nublur.load_kernel_prior(); "
            "k = p.sample(2, np.random.default_rng(0)); "
            "assert 'torch' not in sys.modules; print(k.shape)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert "(2, 19, 19)" in out.stdout


def test_blind_estimation_with_the_prior_gives_a_psf_and_checks_its_options(prior):
    rng = np.random.default_rng(0)
    sharp = nublur.synth.dead_leaves((96, 96), rng).mean(axis=-1)
    psf = nublur.linear_kernel(7, 30, 9)
    blurry = nublur.blur(sharp, psf)
    k = nublur.estimate_psf(blurry, kernel_size=13, kernel_prior=prior, iterations=2)
    assert k.ndim == 2 and np.all(k >= 0) and abs(k.sum() - 1) < 1e-6
    with pytest.raises(TypeError, match="kernel_prior must be a KernelPrior"):
        nublur.estimate_psf(blurry, kernel_prior="flow")
    with pytest.raises(ValueError, match="prior_temperature"):
        nublur.estimate_psf(blurry, kernel_prior=prior, prior_temperature=1.5)
    with pytest.raises(TypeError, match="kernel_prior"):
        nublur.load_estimator("classical", kernel_prior=3)
