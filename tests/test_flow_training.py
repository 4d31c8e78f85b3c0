"""training_torch's motion-flow network: its data transforms agree with nublur's blur, its
targets with the field, its training resumes, and its ONNX export runs in nublur as in torch."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training_torch"))

import nublur  # noqa: E402
from nublur.estimators.flow import FlowEstimator, doubled_angle as nublur_doubled  # noqa: E402
from training_torch import flow_export, train_flow  # noqa: E402
from training_torch.flow_data import (augment, canonical, doubled_angle,  # noqa: E402
                                      make_sample, random_flow, targets)
from training_torch.flownet import FlowNet, split  # noqa: E402


@pytest.mark.parametrize("k", range(8))
def test_augmented_flow_blurs_the_augmented_image_as_nublur_does(rng, k):
    sharp = rng.random((40, 48))
    u, v = random_flow(rng, 40)
    u, v = u[:, :48] if u.shape[1] >= 48 else u, v
    u, v = np.pad(u, ((0, 0), (0, 8)), mode="edge"), np.pad(v, ((0, 0), (0, 8)), mode="edge")
    field = nublur.LinearMotionField.from_flow(u.astype(float), v.astype(float))
    blurred = nublur.blur(sharp, field, boundary="replicate")
    expected, _, _ = augment(blurred, u, v, k)
    image, ua, va = augment(sharp, u, v, k)
    moved = nublur.LinearMotionField.from_flow(ua.astype(float), va.astype(float))
    np.testing.assert_allclose(nublur.blur(image, moved, boundary="replicate"), expected,
                               atol=1e-12)
    if k in (1, 3):  # a quarter turn swaps the roles of u and v somewhere
        assert not np.array_equal(np.abs(ua), np.abs(u.T))


def test_canonical_flow_is_folded_and_has_one_sign_for_vertical_motion():
    u, v = canonical(np.array([-3.0, 0.0, 0.0, 2.0]), np.array([4.0, -5.0, 5.0, -1.0]))
    assert u.tolist() == [3, 0, 0, 2] and v.tolist() == [-4, 5, 5, -1]


def test_targets_match_the_field_they_came_from(rng):
    u, v = random_flow(rng, 64)
    u_cls, v_cls, reg = targets(u, v)
    assert u_cls.shape == v_cls.shape == (16, 16) and reg.shape == (3, 16, 16)
    assert u_cls.min() >= 0 and u_cls.max() <= 36 and v_cls.min() >= 0 and v_cls.max() <= 72
    np.testing.assert_array_equal(u_cls, u[2::4, 2::4])
    np.testing.assert_array_equal(v_cls - 36, v[2::4, 2::4])
    field = nublur.LinearMotionField.from_flow(u.astype(float), v.astype(float))
    a = np.radians(field.angle)
    from_field = np.stack([field.length * np.cos(2 * a), field.length * np.sin(2 * a),
                           field.length]) / 36
    block = from_field.reshape(3, 16, 4, 16, 4).mean(axis=(2, 4))
    np.testing.assert_allclose(reg, block, atol=1e-6)
    np.testing.assert_allclose(doubled_angle(u * 1.0, v * 1.0) * 36,
                               nublur_doubled(u * 1.0, v * 1.0), atol=1e-12)


def test_samples_are_deterministic_8_bit_and_blurred(rng):
    a = make_sample(np.random.default_rng([3, 1]), 64)
    b = make_sample(np.random.default_rng([3, 1]), 64)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    image, u, v = a
    assert image.dtype == np.uint8 and image.shape == (64, 64) and u.dtype == np.int8
    assert u.min() >= 0 and np.abs(v).max() <= 36


def test_network_output_shape_and_heads():
    out = FlowNet(4)(torch.zeros(2, 1, 64, 48))
    assert out.shape == (2, 37 + 73 + 3, 16, 12)
    u, v, motion, length = split(out)
    assert u.shape[1] == 37 and v.shape[1] == 73 and motion.shape[1] == 2
    assert length.shape[1] == 1


def _tiny_run(tmp_path, steps):
    config = dict(train_flow.DEFAULTS, out=str(tmp_path / "run"), steps=steps, pool=6,
                  crop=32, batch=2, width=4, workers=1, photos=None, checkpoint_every=1)
    return train_flow.train(config)


def test_training_resumes_where_it_stopped(tmp_path):
    last = _tiny_run(tmp_path, 2)
    assert torch.load(last)["step"] == 2
    _tiny_run(tmp_path, 3)
    assert torch.load(last)["step"] == 3
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in rows] == [1, 2, 3]


def test_a_weights_only_checkpoint_resumes_with_its_weights(tmp_path):
    last = _tiny_run(tmp_path, 2)
    slim = tmp_path / "slim.pt"
    train_flow.weights_only(last, slim)
    assert torch.load(slim)["optimizer"] is None
    assert slim.stat().st_size < 0.6 * last.stat().st_size
    slim.replace(last)
    _tiny_run(tmp_path, 3)  # resumes at step 2 with a fresh optimizer
    state = torch.load(last)
    assert state["step"] == 3 and state["optimizer"]


def test_exported_model_runs_in_nublur_as_in_torch(tmp_path, rng):
    last = _tiny_run(tmp_path, 1)
    out = tmp_path / "nublur_flow_test.onnx"
    card = flow_export.export(last, out, head="regression", metrics={"note": 1})
    assert json.loads(out.with_suffix(".json").read_text())["sha256"] == card["sha256"]
    estimator = FlowEstimator(out)
    assert estimator.head == "regression"
    image = rng.random((40, 56))
    model, _ = flow_export.load(last)
    padded = np.pad(image, ((0, 8), (0, 8)), mode="symmetric")
    with torch.no_grad():
        scores = model(torch.from_numpy(padded - 0.5).float()[None, None]).numpy()[0]
    motion = scores[-3:-1, :10, :14].astype(np.float64) * 36
    length = np.maximum(scores[-1, :10, :14].astype(np.float64) * 36, 0)
    reg = motion / np.hypot(*motion) * length
    field = estimator.estimate(image, channel_axis=None)
    # full-resolution pixel 4 j + 2 lies 1/8 of a sample past low-resolution sample j
    w = np.array([0.875, 0.125])
    expected = sum(w[a] * w[b] * reg[:, a:a + 9, b:b + 13] for a in (0, 1) for b in (0, 1))
    a = np.radians(field.angle)[2::4, 2::4][:9, :13]
    length = field.length[2::4, 2::4][:9, :13]
    got = np.stack([length * np.cos(2 * a), length * np.sin(2 * a)])
    np.testing.assert_allclose(got, expected, atol=1e-4)
