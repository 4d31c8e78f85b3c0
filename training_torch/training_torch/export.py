"""Export a trained BasisKPN to ONNX with its model card.

``python -m training_torch.export --checkpoint runs/kpn_cpu/last.pt
--out models_onnx/nublur_kpn_b25_k33.onnx`` writes the ONNX file (dynamic height and width,
multiples of 16), checks ONNX Runtime against torch (max abs difference <= 1e-4 on two sizes),
and writes the model card (JSON, same stem) with the sha256 of the file. Unless ``--no-int8``,
it also writes ``<stem>_int8.onnx``: the U-Net convolutions quantised to int8 (ONNX Runtime
static QDQ quantisation, per-channel weights, min-max activation ranges calibrated on
synthetic images from a seed used neither in training nor in evaluation; the kernel head and
the mixing logits stay float32), checked against the float32 file on other synthetic images,
with its own card.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from nublur.io import write_json

from .model import BasisKPN, parameter_count


def load_model(checkpoint) -> tuple[BasisKPN, dict]:
    state = torch.load(checkpoint, map_location="cpu")
    model = BasisKPN(state["num_basis"], 33, state["width"])
    model.load_state_dict(state["model"])
    return model.eval(), state


def export_checked(model, out: Path, *, channels: int, output_names, spatial_outputs,
                   check_sizes, tolerance: float) -> float:
    """Export ``model`` (input N x channels x H x W, any H, W) to ONNX at ``out``, replacing
    the file there only once ONNX Runtime agrees with torch within ``tolerance`` on every
    size of ``check_sizes``; returns the largest difference."""
    rng = np.random.default_rng(0)
    checks = [[rng.random((1, channels, h, w), dtype=np.float32) - 0.5] for h, w in check_sizes]
    dynamic = {name: {2: "height", 3: "width"} for name in ("input", *spatial_outputs)}
    return export_staged(model, out, example=[np.zeros((1, channels, 64, 64), np.float32)],
                         input_names=["input"], output_names=output_names, dynamic=dynamic,
                         checks=checks, tolerance=tolerance)


def write_signed_card(model_path: Path, card: dict) -> dict:
    """Write ``card`` beside ``model_path`` (same stem, .json) with the model file's sha256,
    which nublur checks before it loads the model."""
    card["sha256"] = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()
    write_json(Path(model_path).with_suffix(".json"), card, indent=1)
    return card


def export_staged(model, out: Path, *, example, input_names, output_names, dynamic, checks,
                  tolerance: float) -> float:
    """Export ``model`` at the ``example`` inputs to a staged ONNX file, run ONNX Runtime and
    torch on every input list of ``checks`` and move the file to ``out`` only when they agree
    within ``tolerance`` (the shipped file stays otherwise); returns the largest difference."""
    import onnxruntime as ort

    staged = out.with_name(f".{out.stem}.staged.onnx")
    torch.onnx.export(model, tuple(torch.from_numpy(a) for a in example), str(staged),
                      input_names=list(input_names), output_names=list(output_names),
                      opset_version=17, dynamo=False, dynamic_axes=dynamic)
    session = ort.InferenceSession(str(staged), providers=["CPUExecutionProvider"])
    worst = 0.0
    for inputs in checks:
        with torch.no_grad():
            ref = model(*(torch.from_numpy(a) for a in inputs))
        ref = [t.numpy() for t in (ref if isinstance(ref, (tuple, list)) else (ref,))]
        got = session.run(None, dict(zip(input_names, inputs)))
        worst = max(worst, *(float(np.abs(a - b).max()) for a, b in zip(ref, got)))
    if worst > tolerance:
        staged.unlink()
        raise RuntimeError(f"ONNX Runtime differs from torch by {worst:.2e} (> {tolerance:.0e})")
    staged.replace(out)
    return worst


def export(checkpoint, out, check_sizes=((64, 96), (128, 80))) -> dict:
    model, state = load_model(checkpoint)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    worst = export_checked(model, out, channels=3, output_names=["kernels", "mixing"],
                           spatial_outputs=("mixing",), check_sizes=check_sizes, tolerance=1e-4)
    log = Path(checkpoint).with_name("log.csv")
    return write_card(out, model, state, worst, log)


CALIBRATION_SEED, CHECK_SEED = 4242, 4243  # training uses seeds 0-2, the evaluation seed 999
INT8_TOLERANCE = {"mixing_mean_abs": 0.005, "kernels_max_abs": 0.02}


def int8_path(out) -> Path:
    out = Path(out)
    return out.with_name(f"{out.stem}_int8.onnx")


def quantize_int8(float_model, *, calibration_images=16, size=256) -> dict:
    """Write the int8 twin of ``float_model`` and its card; returns the card.

    The twin is refused (nothing written) when it differs from the float32 model by more
    than ``INT8_TOLERANCE`` on synthetic images that were not used for calibration.
    """
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    float_model = Path(float_model)
    card = json.loads(float_model.with_suffix(".json").read_text())
    out = int8_path(float_model)
    # The kernel head and the mixing logits stay float32: the logits span thousands, and
    # uint8 steps that coarse tie them, which turns a confident mixing into a uniform one.
    float32_nodes = [n.name for n in onnx.load(str(float_model)).graph.node
                     if n.name.startswith(("/kernel_", "/mix_out/"))]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.inputs = iter(_network_inputs(CALIBRATION_SEED, calibration_images, size,
                                               card["input"]["gamma"]))

        def get_next(self):
            return next(self.inputs, None)

    staged = out.with_name(f".{out.stem}.staged.onnx")
    quantize_static(str(float_model), str(staged), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"],
                    nodes_to_exclude=float32_nodes)
    sessions = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
                for p in (float_model, staged)]
    diff = {"mixing_mean_abs": 0.0, "kernels_max_abs": 0.0}
    checks = [(4, size), (4, 96)]  # small images too: their borders weigh more
    for feed in (f for n, side in checks
                 for f in _network_inputs(CHECK_SEED, n, side, card["input"]["gamma"])):
        (k32, m32), (k8, m8) = (s.run(None, feed) for s in sessions)
        diff["mixing_mean_abs"] = max(diff["mixing_mean_abs"], float(np.abs(m8 - m32).mean()))
        diff["kernels_max_abs"] = max(diff["kernels_max_abs"], float(np.abs(k8 - k32).max()))
    if any(diff[k] > INT8_TOLERANCE[k] for k in diff):
        staged.unlink()
        raise RuntimeError(f"int8 model differs from float32 by {diff} (> {INT8_TOLERANCE})")
    staged.replace(out)
    card.update(name=out.stem, metrics={}, sha256=hashlib.sha256(out.read_bytes()).hexdigest())
    card.pop("onnx_vs_torch_max_abs_diff", None)
    card["quantization"] = {
        "method": "ONNX Runtime static QDQ: Conv weights int8 per channel, activations uint8 "
                  "(min-max calibration); kernel head (Gemm, ConvTranspose) and the mixing "
                  "logits (mix_out) kept float32",
        "calibration": f"{calibration_images} synthetic images {size}x{size}, "
                       f"SyntheticDataset('segments', seed={CALIBRATION_SEED})",
        "float32_model": {"file": float_model.name,
                          "sha256": hashlib.sha256(float_model.read_bytes()).hexdigest()},
        "int8_vs_float32": {**diff, "images": " + ".join(f"{n} synthetic {side}x{side}"
                                                          for n, side in checks)
                            + f", seed {CHECK_SEED}"}}
    write_json(out.with_suffix(".json"), card, indent=1)
    return card


def _network_inputs(seed, count, size, gamma):
    from nublur import synth
    from nublur.estimators.onnx import network_input

    data = synth.SyntheticDataset("segments", size=size, seed=seed, noise=0.01)
    for i in range(count):
        yield {"input": network_input(data[i]["blurry"], gamma)}


def write_card(out: Path, model, state, worst, log: Path) -> dict:
    stages = state.get("stages")
    if not stages:  # a checkpoint from before stages were recorded: one stage, its run's config
        config_path = Path(log).with_name("config.json")
        config = json.loads(config_path.read_text()) if config_path.exists() else {}
        stages = [{"config": config, "from_step": 0, "to_step": int(state["step"])}]
    card = {
        "name": out.stem,
        "architecture": "BasisKPN (000: U-Net encoder, mixing decoder with softmax over B, "
                        "kernel head from pooled features, softmax over K*K)",
        "parameters": parameter_count(model),
        "num_basis": model.num_basis,
        "kernel_size": model.kernel_size,
        "input": {"name": "input", "layout": "NCHW RGB", "range": "blurry display values in "
                  "[0, 1]", "transform": "x = blurry ** gamma - 0.5", "gamma": 2.2,
                  "padding_multiple": 16},
        "output": {"kernels": "(1, B, 33, 33) PSFs in nublur's convention (gathered at the "
                   "output pixel, true convolution), each summing to 1",
                   "mixing": "(1, B, H, W), softmax over B"},
        "training": {"data": "nublur.synth SyntheticDataset('segments'): dead leaves and "
                     "Kodak24/BSD68 crops, segment-wise Boracchi-Foi camera shake, HSV-value "
                     "saturation augmentation, 1% Gaussian noise, gamma 2.2, 8-bit",
                     "steps": int(state["step"]), "stages": stages,
                     "losses": "reblur (000 eq. 5) + kernel (eq. 6; L2 then L1)"},
        "onnx_vs_torch_max_abs_diff": worst,
        "metrics": {},
    }
    if log.exists():
        rows = list(csv.DictReader(log.open()))[-100:]
        card["training"]["final_losses_mean_last_100"] = {
            key: float(np.mean([float(r[key]) for r in rows])) for key in ("reblur", "kernel")}
    return write_signed_card(out, card)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", default="models_onnx/nublur_kpn_b25_k33.onnx")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 twin")
    args = parser.parse_args(argv)
    card = export(args.checkpoint, args.out)
    print(f"wrote {args.out} ({card['parameters']} parameters, ONNX vs torch "
          f"{card['onnx_vs_torch_max_abs_diff']:.1e}, sha256 {card['sha256'][:12]}...)")
    if not args.no_int8:
        card = quantize_int8(args.out)
        print(f"wrote {int8_path(args.out)} (int8 vs float32 "
              f"{card['quantization']['int8_vs_float32']}, sha256 {card['sha256'][:12]}...)")


if __name__ == "__main__":
    main()
