"""003's latent-code network run by ONNX Runtime: ``load_estimator("ufp")``.

No trained model is shipped (the one trained so far makes RL worse than the blurry input), so
these tests train one for a few steps with ``training_torch`` and export it; without torch
only the refusal of the missing model is tested."""

import copy
import sys
from pathlib import Path

import numpy as np
import pytest

import nublur
from nublur.estimators.flow import FLOW_MODEL
from nublur.estimators.prior import DEFAULT_PRIOR
from nublur.estimators.ufp import UFP_MODEL, UfpEstimator

ROOT = Path(__file__).resolve().parents[1]


def test_missing_shipped_model_is_explained():
    assert not UFP_MODEL.is_file()
    with pytest.raises(ValueError, match="no trained ufp model is shipped"):
        nublur.load_estimator("ufp")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(ROOT / "training_torch"))
    from training_torch import train_ufp

    out = tmp_path_factory.mktemp("ufp")
    config = train_ufp.load_config(None)
    config.update(out=str(out / "run"), steps=3, pool=4, batch=2, crop=64, eval_every=3,
                  code_weight=0.01,
                  checkpoint_every=3, photos=None,
                  prior_checkpoint=str(ROOT / "training_torch" / "checkpoints"
                                       / "kernel_flow_k19.pt"))
    torch.manual_seed(0)
    last = train_ufp.train(config)
    path = out / "ufp.onnx"
    train_ufp.export(last, path, DEFAULT_PRIOR.parent / "nublur_kernel_prior_k19.json")
    return path


@pytest.fixture(scope="module")
def estimator(model):
    return nublur.load_estimator(str(model))


def _blurry(shape=(64, 96), seed=0):
    rng = np.random.default_rng(seed)
    sharp = nublur.synth.dead_leaves(shape, rng).mean(axis=-1)
    return nublur.blur(sharp, nublur.linear_kernel(9, 20, 11))


def test_estimate_gives_a_latent_field_on_the_cell_grid(estimator):
    image = _blurry()
    before = image.copy()
    field = estimator.estimate(image, channel_axis=None)
    np.testing.assert_array_equal(image, before)
    assert isinstance(field, nublur.LatentField)
    assert field.image_shape == (64, 96) and field.grid_shape == (2, 3)
    assert np.all(field.sigma >= 0) and np.all(field.sigma < 1)
    np.testing.assert_allclose(field.row_nodes, [15.5, 47.5])
    k = field.kernels_at(np.array([0, 63]), np.array([0, 95]))
    assert np.all(k >= 0) and np.allclose(k.sum(axis=(1, 2)), 1, atol=1e-5)
    again = estimator.estimate(image, channel_axis=None)
    np.testing.assert_array_equal(field.codes, again.codes)
    out = nublur.richardson_lucy(image, field, 5)
    assert out.shape == image.shape and np.isfinite(out).all()


def test_colour_odd_sizes_and_large_photos(estimator):
    rgb = np.repeat(_blurry((50, 70))[..., None], 3, axis=2)
    field = estimator.estimate(rgb, channel_axis=-1)
    assert field.image_shape == (50, 70) and field.grid_shape == (2, 3)
    small = UfpEstimator(estimator.path, max_side=64)
    big = small.estimate(_blurry((96, 128)), channel_axis=None)
    assert isinstance(big, nublur.GridField) and big.image_shape == (96, 128)
    assert big.kernel_size > 19


def test_another_prior_or_model_is_refused(estimator):
    prior = copy.copy(estimator.prior)
    prior.card = dict(prior.card, sha256="0" * 64)
    with pytest.raises(ValueError, match="was trained with the prior"):
        UfpEstimator(estimator.path, prior=prior)
    with pytest.raises(ValueError, match="not a latent-code network"):
        UfpEstimator(FLOW_MODEL)
    with pytest.raises(TypeError, match="prior must be a KernelPrior"):
        UfpEstimator(estimator.path, prior="flow")
    with pytest.raises(ValueError, match="precision"):
        nublur.load_estimator(str(estimator.path), precision="int8")


def test_refined_ufp_field_is_a_grid(estimator):
    field = nublur.load_estimator(str(estimator.path) + "+refine").estimate(
        _blurry(), channel_axis=None)
    assert isinstance(field, nublur.GridField) and field.image_shape == (64, 96)
