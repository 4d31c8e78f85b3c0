"""training_torch: torch twin of the basis operator, model, training with resume, export."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training_torch"))

import nublur  # noqa: E402
from training_torch.losses import smooth_clip  # noqa: E402
from training_torch.model import BasisKPN, parameter_count  # noqa: E402
from training_torch.twin import basis_blur  # noqa: E402


def test_twin_equals_nublur_basis_operator(rng):
    k = rng.random((4, 33, 33)) ** 4
    k /= k.sum(axis=(1, 2), keepdims=True)
    m = rng.random((4, 37, 52))
    m /= m.sum(0)
    u = rng.random((37, 52, 3))
    expected = nublur.blur(u, nublur.BasisField(k, m), boundary="mirror", channel_axis=-1)
    got = basis_blur(torch.tensor(u).permute(2, 0, 1)[None], torch.tensor(k)[None],
                     torch.tensor(m)[None])[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-12)
    x = np.linspace(-0.5, 2, 50)
    np.testing.assert_allclose(smooth_clip(torch.tensor(x)).numpy(), nublur.smooth_clip(x),
                               atol=1e-12)


def test_model_heads_are_normalised():
    model = BasisKPN(num_basis=25, width=32)
    assert parameter_count(model) <= 10_000_000
    kernels, mixing = model(torch.randn(2, 3, 48, 64))
    assert kernels.shape == (2, 25, 33, 33) and mixing.shape == (2, 25, 48, 64)
    torch.testing.assert_close(kernels.sum(dim=(2, 3)), torch.ones(2, 25))
    torch.testing.assert_close(mixing.sum(dim=1), torch.ones(2, 48, 64))


def test_training_resumes_and_exports(tmp_path):
    from training_torch.export import export, quantize_int8
    from training_torch.train import load_config, train

    cfg = {"out": str(tmp_path / "run"), "steps": 2, "batch": 2, "crop": 32, "workers": 0,
           "width": 4, "checkpoint_every": 1, "num_basis": 3}
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    train(load_config(tmp_path / "c.json"))
    cfg["steps"] = 4
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    last = train(load_config(tmp_path / "c.json"))
    assert torch.load(last, map_location="cpu")["step"] == 4
    lines = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert lines[0].startswith("step") and len(lines) == 5
    card = export(last, tmp_path / "m.onnx")
    assert card["onnx_vs_torch_max_abs_diff"] <= 1e-4
    int8 = quantize_int8(tmp_path / "m.onnx", calibration_images=2, size=64)
    assert int8["quantization"]["float32_model"]["sha256"] == card["sha256"]
    assert int8["sha256"] != card["sha256"]
    assert not list(tmp_path.glob(".*"))  # no staged or temporary file left behind
    graph = onnx.load(str(tmp_path / "m_int8.onnx")).graph
    producer = {out: node.op_type for node in graph.node for out in node.output}
    weight_source = {node.name: producer.get(node.input[1]) for node in graph.node
                     if node.op_type == "Conv" and not node.name.startswith("/kernel_")}
    assert weight_source.pop("/mix_out/Conv") is None  # the mixing logits stay float32
    assert set(weight_source.values()) == {"DequantizeLinear"}  # the U-Net runs in int8
    image = np.random.default_rng(0).random((30, 40, 3))
    for name in ("m.onnx", "m_int8.onnx"):
        field = nublur.estimators.load_estimator(tmp_path / name).estimate(image)
        assert field.num_basis == 3
    assert card["training"]["stages"] == [
        {"config": load_config(tmp_path / "c.json"), "from_step": 0, "to_step": 4}]
    with pytest.raises(ValueError, match="unknown config keys"):
        (tmp_path / "bad.json").write_text(json.dumps({"epochs": 3}))
        load_config(tmp_path / "bad.json")


def test_new_stage_starts_from_init_checkpoint(tmp_path):
    from training_torch.export import export
    from training_torch.train import load_config, train

    first = {"out": str(tmp_path / "a"), "steps": 3, "batch": 2, "crop": 32, "workers": 0,
             "width": 4, "checkpoint_every": 1, "num_basis": 3}
    (tmp_path / "a.json").write_text(json.dumps(first))
    start = train(load_config(tmp_path / "a.json"))
    second = dict(first, out=str(tmp_path / "b"), crop=48, lr=1e-5, steps=3,
                  init_checkpoint=str(start))
    (tmp_path / "b.json").write_text(json.dumps(second))
    unchanged = torch.load(train(load_config(tmp_path / "b.json")), map_location="cpu")
    initial = torch.load(start, map_location="cpu")
    for name, value in initial["model"].items():  # no step to take: the weights are the init's
        torch.testing.assert_close(unchanged["model"][name], value, rtol=0, atol=0)
    (tmp_path / "b.json").write_text(json.dumps(dict(second, steps=5)))
    state = torch.load(train(load_config(tmp_path / "b.json")), map_location="cpu")
    assert state["step"] == 5
    assert [(s["from_step"], s["to_step"], s["config"]["crop"]) for s in state["stages"]] == [
        (0, 3, 32), (3, 5, 48)]
    card = export(tmp_path / "b" / "last.pt", tmp_path / "m.onnx")
    assert card["training"]["steps"] == 5 and card["training"]["stages"] == state["stages"]
