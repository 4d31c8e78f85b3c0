"""training_torch's flow kernel prior: an exact bijection with the right log-determinant,
training that lowers the NLL and resumes, and an ONNX export that nublur runs as torch does."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training_torch"))

import nublur  # noqa: E402
from nublur.estimators.prior import KernelPrior  # noqa: E402
from nublur.synth import random_kernels  # noqa: E402
from training_torch import kernel_flow_export, train_kernel_flow  # noqa: E402
from training_torch.kernel_flow import (Decoder, KernelFlow, kernel_from_log,  # noqa: E402
                                        log_coordinates)

CHECKPOINT = Path(__file__).resolve().parents[1] / "training_torch" / "checkpoints" \
    / "kernel_flow_k19.pt"


def _random_flow(size=5, seed=0):
    torch.manual_seed(seed)
    flow = KernelFlow(size, blocks=2, hidden=16)
    for p in flow.parameters():  # away from the identity the couplings start at
        torch.nn.init.normal_(p, std=0.3)
    return flow.double().eval()


def test_flow_is_a_bijection_with_the_exact_log_determinant():
    flow = _random_flow()
    x = torch.randn(3, 25, dtype=torch.float64)
    z, logdet = flow(x)
    torch.testing.assert_close(flow.inverse(z), x, atol=1e-10, rtol=0)
    for i in range(3):
        jac = torch.autograd.functional.jacobian(lambda v: flow(v[None])[0][0], x[i])
        torch.testing.assert_close(logdet[i], torch.linalg.slogdet(jac)[1], atol=1e-8, rtol=0)


def test_log_coordinates_decode_back_to_the_kernel():
    kernels = torch.from_numpy(random_kernels(8, 19, np.random.default_rng(0),
                                              ("shake", "linear"))[0]).double()
    kernels = kernels / kernels.sum(dim=(1, 2), keepdim=True)
    back = kernel_from_log(log_coordinates(kernels, dequantise=False), 19)
    torch.testing.assert_close(back, kernels, atol=1e-9, rtol=0)
    noisy = kernel_from_log(log_coordinates(kernels, torch.Generator().manual_seed(0)), 19)
    assert float((noisy - kernels).abs().sum(dim=(1, 2)).max()) < 0.03


def test_training_lowers_the_nll_and_resumes(tmp_path):
    config = train_kernel_flow.load_config(None)
    config.update(out=str(tmp_path / "run"), steps=60, pool=600, batch=64, kernel_size=9,
                  blocks=2, hidden=32, eval_every=60, checkpoint_every=30, lr=3e-3)
    last = train_kernel_flow.train(config)
    losses = np.loadtxt(tmp_path / "run" / "log.csv", delimiter=",")[:, 1]
    assert losses[-10:].mean() < losses[:10].mean() - 50
    config["steps"] = 70
    train_kernel_flow.train(config)
    steps = np.loadtxt(tmp_path / "run" / "log.csv", delimiter=",")[:, 0]
    np.testing.assert_array_equal(steps, np.arange(1, 71))
    assert torch.load(last, map_location="cpu")["step"] == 70


def test_export_runs_in_nublur_as_in_torch(tmp_path):
    if not CHECKPOINT.is_file():
        pytest.skip("committed prior checkpoint not present")
    out = tmp_path / "prior.onnx"
    card = kernel_flow_export.export(CHECKPOINT, out)
    assert card["role"] == "decoder" and card["kernel_size"] == 19
    encoder_card = json.loads((tmp_path / "prior_encoder.json").read_text())
    assert encoder_card["decoder"] == "prior.onnx"
    prior = KernelPrior(out)
    flow, _ = kernel_flow_export.load_flow(CHECKPOINT)
    z = np.random.default_rng(0).standard_normal((6, 361)).astype(np.float32)
    with torch.no_grad():
        expected = Decoder(flow)(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(prior.decode(z), expected, atol=1e-5)
    shipped = nublur.load_kernel_prior()
    np.testing.assert_allclose(shipped.decode(z), expected, atol=1e-5)



def test_ufp_export_runs_in_nublur_as_in_torch(tmp_path):
    from nublur.estimators.ufp import UfpEstimator
    from training_torch import train_ufp
    from training_torch.ufpnet import UfpNet

    config = train_ufp.load_config(None)
    config.update(out=str(tmp_path / "ufp"), steps=2, pool=4, batch=2, crop=64,
                  eval_every=2, checkpoint_every=2, photos=None,
                  prior_checkpoint=str(CHECKPOINT))
    last = train_ufp.train(config)
    assert torch.load(last, map_location="cpu")["step"] == 2
    model = tmp_path / "ufp.onnx"
    card = train_ufp.export(last, model, nublur.estimators.prior.DEFAULT_PRIOR.parent
                            / "nublur_kernel_prior_k19.json")
    assert card["role"] == "ufp" and card["output"]["cell"] == 32
    x = np.random.default_rng(0).random((64, 96)).astype(np.float32)
    net = UfpNet(361, config["width"])
    net.load_state_dict(torch.load(last, map_location="cpu")["model"])
    with torch.no_grad():
        codes, sigma = net.eval()(torch.from_numpy(x - 0.5)[None, None])
    field = UfpEstimator(model).estimate(x, channel_axis=None)
    np.testing.assert_allclose(field.codes, codes[0].permute(1, 2, 0).numpy(), atol=1e-4)
    np.testing.assert_allclose(field.sigma, sigma[0].permute(1, 2, 0).numpy(), atol=1e-4)
