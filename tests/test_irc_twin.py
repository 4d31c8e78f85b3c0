"""training_torch IRC-Net groundwork: torch twins of ADMM-IRC's operators equal nublur's, and
the untrained unrolled network equals nublur.admm_irc."""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training_torch"))

import nublur  # noqa: E402
from nublur.operators.filtering import FilterOperator, FiniteDifference  # noqa: E402
from training_torch.irc_twin import (GatherBlur, Padding, filter_adjoint,  # noqa: E402
                                     filter_forward, finite_difference,
                                     finite_difference_adjoint)
from training_torch.ircnet import IRCNet, prepare  # noqa: E402

BOUNDARIES = ["reflect", "mirror", "constant", "periodic", "replicate"]


def _smooth_linear_field(rng, shape, top=13.0):
    rows, cols = np.indices(shape)
    length = 2 + (top - 2) * (0.5 + 0.5 * np.sin(rows / 9.0 + rng.uniform(0, 6)))
    angle = 180 * (0.5 + 0.5 * np.cos(cols / 11.0 + rng.uniform(0, 6)))
    return nublur.LinearMotionField(length, angle)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_gather_blur_equals_nublur_and_its_transpose_is_the_adjoint(rng, boundary):
    shape = (23, 31)
    field = _smooth_linear_field(rng, shape)
    u, v = rng.random(shape), rng.random(shape)
    op = GatherBlur(field, shape, boundary)
    got = op.forward(torch.tensor(u)).numpy()
    np.testing.assert_allclose(got, nublur.blur(u, field, boundary=boundary), atol=1e-12)
    back = op.adjoint(torch.tensor(v)).numpy()
    np.testing.assert_allclose(back, nublur.blur_adjoint(v, field, boundary=boundary),
                               atol=1e-12)
    psf = nublur.camera_shake_kernel(9, rng)
    op = GatherBlur(psf, shape, boundary)
    np.testing.assert_allclose(op.forward(torch.tensor(u)).numpy(),
                               nublur.blur(u, psf, boundary=boundary), atol=1e-12)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_padding_fold_is_the_adjoint_of_pad(rng, boundary):
    pad = Padding((9, 12), 4, boundary)
    u, v = torch.tensor(rng.random((9, 12))), torch.tensor(rng.random((17, 20)))
    assert torch.allclose((pad.pad(u) * v).sum(), (u * pad.fold(v)).sum(), atol=1e-12)


@pytest.mark.parametrize("boundary", ["reflect", "constant", "periodic"])
def test_blended_filters_equal_nublur_filter_operator(rng, boundary):
    shape = (21, 26)
    filters = rng.standard_normal((3, 7, 7))
    mixing = rng.random((3,) + shape)
    u, v = rng.random(shape), rng.random(shape)
    ref = FilterOperator(filters, mixing, boundary=boundary)
    pad = Padding(shape, 3, boundary)
    f, m = torch.tensor(filters), torch.tensor(mixing)
    np.testing.assert_allclose(filter_forward(torch.tensor(u), f, m, pad).numpy(),
                               ref.forward(u), atol=1e-10)
    np.testing.assert_allclose(filter_adjoint(torch.tensor(v), f, m, pad).numpy(),
                               ref.adjoint(v), atol=1e-10)
    single = FilterOperator(filters[0], boundary=boundary)
    np.testing.assert_allclose(filter_forward(torch.tensor(u), f[:1], None, pad).numpy(),
                               single.forward(u), atol=1e-10)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("axis", [0, 1])
def test_finite_differences_equal_nublur(rng, boundary, axis):
    u, v = rng.random((8, 11)), rng.random((8, 11))
    ref = FiniteDifference(axis, boundary)
    np.testing.assert_allclose(finite_difference(torch.tensor(u), axis, boundary).numpy(),
                               ref.forward(u), atol=1e-14)
    np.testing.assert_allclose(
        finite_difference_adjoint(torch.tensor(v), axis, boundary).numpy(), ref.adjoint(v),
        atol=1e-14)


@pytest.mark.parametrize("kind,boundary", [("linear", "reflect"), ("uniform", "reflect"),
                                           ("linear", "replicate"), ("linear", "constant")])
def test_untrained_ircnet_equals_admm_irc(rng, kind, boundary):
    shape = (40, 44)
    sharp = rng.random(shape)
    field = _smooth_linear_field(rng, shape) if kind == "linear" else \
        nublur.linear_kernel(9, 30.0)
    y = nublur.blur(sharp, field, boundary=boundary) + 0.01 * rng.standard_normal(shape)
    expected = nublur.admm_irc(y, field, num_admm=4, num_irc=2, boundary=boundary,
                               step="fixed")
    net = IRCNet(stages=4, irc_steps=2)
    with torch.no_grad():
        got = net(torch.tensor(y), prepare(field, shape, num_irc=2, boundary=boundary)).numpy()
    # nublur filters its IRC steps in float32 (its fixed point stays exact)
    assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()


def test_shrinkage_is_odd_and_soft_thresholding_at_zero_coefficients(rng):
    from nublur.solvers.ircnet import shrink as nublur_shrink
    from training_torch.ircnet import shrink

    v = torch.tensor(rng.normal(0, 0.1, 200))
    np.testing.assert_allclose(shrink(v, 0.03, torch.zeros(3)).numpy(),
                               np.sign(v.numpy()) * np.maximum(np.abs(v.numpy()) - 0.03, 0))
    coeffs = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)
    np.testing.assert_allclose(shrink(-v, 0.03, coeffs).numpy(), -shrink(v, 0.03, coeffs).numpy())
    np.testing.assert_allclose(shrink(v, 0.03, coeffs).numpy(),
                               nublur_shrink(v.numpy(), 0.03, coeffs.numpy()), atol=1e-15)


def test_ircnet_parameters_get_gradients(rng):
    shape = (24, 24)
    field = _smooth_linear_field(rng, shape, top=7.0)
    sharp = rng.random(shape)
    y = torch.tensor(nublur.blur(sharp, field))
    net = IRCNet(stages=2, irc_steps=2, knots=2)
    loss = ((net(y, prepare(field, shape)) - torch.tensor(sharp)) ** 2).mean()
    loss.backward()
    for p in net.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_nublur_inference_equals_the_trained_torch_network(rng):
    from nublur.solvers.ircnet import IRCNetSolver
    from training_torch.ircnet import parameters_of

    shape = (36, 40)
    field = _smooth_linear_field(rng, shape, top=11.0)
    y = nublur.blur(rng.random(shape), field) + 0.01 * rng.standard_normal(shape)
    net = IRCNet(stages=3, irc_steps=2, knots=4)
    with torch.no_grad():
        net.shrink_coeffs += torch.tensor(rng.normal(0, 0.2, (3, 4)))
        net.log_lam += torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64)
        net.log_rho += torch.tensor([-0.4, 0.1, 0.2], dtype=torch.float64)
        net.log_step += torch.tensor([[0.2, -0.1], [0.1, 0.3], [-0.2, 0.0]],
                                     dtype=torch.float64)
        expected = net(torch.tensor(y), prepare(field, shape, num_irc=2)).numpy()
    got = IRCNetSolver(parameters_of(net))(y, field)
    assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()


def test_export_round_trips(tmp_path):
    from training_torch.ircnet import export

    net = IRCNet(stages=2, irc_steps=3, knots=3)
    with torch.no_grad():
        net.log_step += 0.25
        net.shrink_coeffs += 0.1
    path = export(net, tmp_path, "ircnet_test", {"training": "none"})
    solver = nublur.load_solver("ircnet", path=path)
    np.testing.assert_allclose(solver.parameters.step_scale, np.exp(0.25), rtol=1e-12)
    np.testing.assert_allclose(solver.parameters.shrink_coeffs, 0.1, rtol=1e-12)
    assert solver.card["stages"] == 2 and solver.card["irc_steps"] == 3
