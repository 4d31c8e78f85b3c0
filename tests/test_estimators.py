"""The ONNX kernel-field estimator (never imports torch)."""

import json
import shutil
import sys

import numpy as np
import pytest

import nublur
from nublur.estimators import DEFAULT_MODEL, load_estimator

needs_model = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no shipped model")


@pytest.fixture(scope="module")
def estimator():
    if not DEFAULT_MODEL.exists():
        pytest.skip("no shipped model")
    return load_estimator("kpn")


def test_estimate_returns_a_valid_basis_field(estimator):
    image = np.random.default_rng(0).random((45, 67, 3)).astype(np.float32)
    field = estimator.estimate(image)
    assert isinstance(field, nublur.BasisField)
    assert field.image_shape == (45, 67)
    assert field.num_basis == estimator.card["num_basis"] and field.kernel_size == 33
    np.testing.assert_allclose(field.mixing.sum(axis=0), 1, atol=1e-6)
    np.testing.assert_allclose(field.kernels.sum(axis=(1, 2)), 1, atol=1e-6)


def test_gray_and_channel_first_inputs(estimator):
    gray = np.random.default_rng(1).random((40, 48))
    a = estimator.estimate(gray, channel_axis=None)
    b = estimator.estimate(np.repeat(gray[None], 3, axis=0), channel_axis=0)
    np.testing.assert_allclose(a.mixing, b.mixing, atol=1e-5)


@needs_model
def test_large_images_are_estimated_at_reduced_scale():
    est = load_estimator("kpn", max_side=64)
    field = est.estimate(np.random.default_rng(2).random((160, 120, 3)))
    assert field.image_shape == (160, 120) and field.kernel_size >= 33 * 160 / 64 - 2


@needs_model
def test_int8_twin_agrees_with_float32_on_a_blurred_photo():
    from nublur import synth

    blurry = synth.SyntheticDataset("segments", size=96, seed=7, noise=0.01)[0]["blurry"]
    f32 = load_estimator("kpn", precision="float32")
    i8 = load_estimator("kpn", precision="int8", providers=["CPUExecutionProvider"])
    assert i8.path.name == DEFAULT_MODEL.stem + "_int8.onnx" and f32.path == DEFAULT_MODEL
    assert i8.card["quantization"]["float32_model"]["sha256"] == f32.card["sha256"]
    a, b = f32.estimate(blurry), i8.estimate(blurry)
    assert np.abs(a.mixing - b.mixing).mean() < 5e-3
    assert np.abs(a.kernels - b.kernels).max() < 2e-2
    auto = load_estimator("kpn", providers=["CPUExecutionProvider"])
    assert auto.path == i8.path


def test_precision_is_checked():
    with pytest.raises(ValueError, match="precision must be one of"):
        load_estimator("kpn", precision="float16")
    with pytest.raises(ValueError, match="precision applies to the shipped model"):
        load_estimator("some/model.onnx", precision="int8")


@needs_model
def test_refuses_a_model_whose_hash_differs_from_its_card(tmp_path):
    model = tmp_path / "m.onnx"
    shutil.copy(DEFAULT_MODEL, model)
    card = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    card["sha256"] = "0" * 64
    model.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="sha256"):
        load_estimator(model)
    with pytest.raises(ValueError, match="does not exist"):
        load_estimator(tmp_path / "missing.onnx")


def test_library_import_never_loads_torch():
    import subprocess

    code = "import sys, nublur, nublur.estimators; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
