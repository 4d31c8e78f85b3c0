"""IRC-Net inference (nublur.load_solver("ircnet")): parameters, files, equivalence with
admm_irc at the untrained values, no torch."""

import json
import shutil
import subprocess
import sys
from importlib import resources

import numpy as np
import pytest

import nublur
from nublur.solvers.ircnet import DEFAULT_IRCNET, IRCNetParameters, IRCNetSolver


def _linear_field(shape):
    rows, cols = np.indices(shape)
    return nublur.LinearMotionField(4 + 6 * (rows / shape[0]), 20 + 90 * (cols / shape[1]))


def _untrained(stages, steps, lam=0.003, rho=0.1):
    return IRCNetParameters(np.full(stages, lam), np.full(stages, rho), np.ones((stages, steps)))


def test_untrained_parameters_give_admm_irc(rng):
    shape = (36, 41)
    field = _linear_field(shape)
    y = nublur.blur(rng.random(shape), field) + 0.01 * rng.standard_normal(shape)
    expected = nublur.admm_irc(y, field, num_admm=3, num_irc=2, step="fixed")
    got = IRCNetSolver(_untrained(3, 2))(y, field)
    np.testing.assert_allclose(got, expected, atol=1e-10)
    assert np.abs(expected - y).max() > 0.05  # the solver did move the image


def test_constant_fields_take_the_trained_spatially_varying_path(rng):
    shape = (40, 40)
    sharp = rng.random(shape)
    field = nublur.LinearMotionField(np.full(shape, 15.0), np.full(shape, 40.0))
    y = nublur.blur(sharp, field) + 0.01 * rng.standard_normal(shape)
    out = nublur.load_solver("ircnet")(y, field)
    reference = nublur.admm_irc(y, field)
    err = lambda x: np.sqrt(np.mean((x - sharp)[8:-8, 8:-8] ** 2))  # noqa: E731
    assert err(out) < 1.2 * err(reference)


def test_stage_parameters_change_the_result(rng):
    shape = (32, 32)
    field = _linear_field(shape)
    y = nublur.blur(rng.random(shape), field)
    base = IRCNetSolver(_untrained(2, 2))(y, field)
    scaled = IRCNetParameters(np.full(2, 0.003), np.full(2, 0.1), np.array([[1, 1], [1, 1.3]]))
    assert np.abs(IRCNetSolver(scaled)(y, field) - base).max() > 1e-4


def test_shipped_parameters_load_and_deblur_colour(rng):
    solver = nublur.load_solver("ircnet")
    assert solver.card["sha256"] and solver.parameters.stages == solver.card["stages"]
    shape = (30, 34)
    field = _linear_field(shape)
    y = nublur.blur(rng.random(shape + (3,)), field, channel_axis=-1)
    out = solver(y, field, channel_axis=-1)
    assert out.shape == y.shape and np.all(np.isfinite(out))
    gray = solver(y[..., 1], field)
    np.testing.assert_allclose(out[..., 1], gray, atol=1e-6)


def _copy_model(tmp_path):
    root = resources.files("nublur.models")
    for suffix in (".params.json", ".json"):
        shutil.copy(root / f"{DEFAULT_IRCNET}{suffix}", tmp_path / f"{DEFAULT_IRCNET}{suffix}")
    return tmp_path / f"{DEFAULT_IRCNET}.params.json"


def test_tampered_or_invalid_files_are_refused(tmp_path):
    path = _copy_model(tmp_path)
    assert nublur.load_solver("ircnet", path=path).parameters.stages >= 1
    params = json.loads(path.read_text())
    params["lam"][0] *= 2
    path.write_text(json.dumps(params))
    with pytest.raises(ValueError, match="sha256"):
        nublur.load_solver("ircnet", path=path)
    (tmp_path / f"{DEFAULT_IRCNET}.json").unlink()
    with pytest.raises(ValueError, match="card"):
        nublur.load_solver("ircnet", path=path)
    with pytest.raises(ValueError, match="does not exist"):
        nublur.load_solver("ircnet", path=tmp_path / "missing.params.json")
    with pytest.raises(ValueError, match="name"):
        nublur.load_solver("cg")


@pytest.mark.parametrize("knots", [0, 3])
def test_parameters_round_trip_through_json(knots):
    p = IRCNetParameters(np.array([0.003, 0.002]), np.array([0.1, 0.05]),
                         np.array([[1.0, 1.2], [0.9, 1.1]]), 0.1,
                         np.arange(2 * knots, dtype=float).reshape(2, knots))
    q = IRCNetParameters.from_json(json.loads(json.dumps(p.to_json())))
    for name in ("lam", "rho", "step_scale", "shrink_coeffs"):
        np.testing.assert_array_equal(getattr(q, name), getattr(p, name))
    assert q.base_rho == p.base_rho


def test_invalid_parameters_are_refused():
    with pytest.raises(ValueError, match="positive"):
        IRCNetParameters(np.array([0.003, -1.0]), np.full(2, 0.1), np.ones((2, 2)))
    with pytest.raises(ValueError, match="stages"):
        IRCNetParameters(np.full(3, 0.003), np.full(2, 0.1), np.ones((3, 2)))
    with pytest.raises(ValueError, match="format"):
        IRCNetParameters.from_json({"format": 99})


def test_bad_input_is_refused_before_work(rng):
    solver = IRCNetSolver(_untrained(1, 1))
    with pytest.raises(ValueError, match="lookup"):
        solver(rng.random((16, 16)), _linear_field((16, 16)), lookup="bilinear")
    with pytest.raises(ValueError, match="35"):
        solver(rng.random((16, 16)), nublur.LinearMotionField(np.full((16, 16), 40.0),
                                                              np.zeros((16, 16))))
    with pytest.raises(TypeError, match="LinearMotionField"):
        solver(rng.random((16, 16)), nublur.linear_kernel(5, 0.0))
    with pytest.raises(ValueError, match="boundary"):
        solver(rng.random((16, 16)), _linear_field((16, 16)), boundary="wrap-around")


def test_inference_does_not_import_torch():
    code = ("import sys, numpy as np, nublur\n"
            "s = nublur.load_solver('ircnet')\n"
            "y = np.random.default_rng(0).random((24, 24))\n"
            "s(y, nublur.LinearMotionField(np.full((24, 24), 5.0), np.full((24, 24), 30.0)))\n"
            "assert 'torch' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
