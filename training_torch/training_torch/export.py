"""Export a trained BasisKPN to ONNX with its model card.

``python -m training_torch.export --checkpoint runs/kpn_cpu/last.pt
--out models_onnx/nublur_kpn_b25_k33.onnx`` writes the ONNX file (dynamic height and width,
multiples of 16), checks ONNX Runtime against torch (max abs difference <= 1e-4 on two sizes),
and writes the model card (JSON, same stem) with the sha256 of the file.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from nublur.io import atomic_write

from .model import BasisKPN, parameter_count


def load_model(checkpoint) -> tuple[BasisKPN, dict]:
    state = torch.load(checkpoint, map_location="cpu")
    model = BasisKPN(state["num_basis"], 33, state["width"])
    model.load_state_dict(state["model"])
    return model.eval(), state


def export(checkpoint, out, check_sizes=((64, 96), (128, 80))) -> dict:
    import onnxruntime as ort

    model, state = load_model(checkpoint)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, 64, 64)
    staged = out.with_name(f".{out.stem}.staged.onnx")  # the shipped file stays until checked
    torch.onnx.export(model, (dummy,), str(staged), input_names=["input"],
                      output_names=["kernels", "mixing"], opset_version=17, dynamo=False,
                      dynamic_axes={"input": {2: "height", 3: "width"},
                                    "mixing": {2: "height", 3: "width"}})
    session = ort.InferenceSession(str(staged), providers=["CPUExecutionProvider"])
    worst = 0.0
    rng = np.random.default_rng(0)
    for h, w in check_sizes:
        x = rng.random((1, 3, h, w), dtype=np.float32) - 0.5
        with torch.no_grad():
            ref = [t.numpy() for t in model(torch.from_numpy(x))]
        got = session.run(None, {"input": x})
        worst = max(worst, *(float(np.abs(a - b).max()) for a, b in zip(ref, got)))
    if worst > 1e-4:
        staged.unlink()
        raise RuntimeError(f"ONNX Runtime differs from torch by {worst:.2e} (> 1e-4)")
    staged.replace(out)
    log = Path(checkpoint).with_name("log.csv")
    return write_card(out, model, state, worst, log)


def write_card(out: Path, model, state, worst, log: Path) -> dict:
    config_path = Path(log).with_name("config.json")
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
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
                     "steps": int(state["step"]), "config": config,
                     "losses": "reblur (000 eq. 5) + kernel (eq. 6; L2 then L1)"},
        "onnx_vs_torch_max_abs_diff": worst,
        "metrics": {},
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
    }
    if log.exists():
        rows = list(csv.DictReader(log.open()))[-100:]
        card["training"]["final_losses_mean_last_100"] = {
            key: float(np.mean([float(r[key]) for r in rows])) for key in ("reblur", "kernel")}
    text = json.dumps(card, indent=1)
    atomic_write(out.with_suffix(".json"), lambda tmp: Path(tmp).write_text(text))
    return card


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", default="models_onnx/nublur_kpn_b25_k33.onnx")
    args = parser.parse_args(argv)
    card = export(args.checkpoint, args.out)
    print(f"wrote {args.out} ({card['parameters']} parameters, ONNX vs torch "
          f"{card['onnx_vs_torch_max_abs_diff']:.1e}, sha256 {card['sha256'][:12]}...)")


if __name__ == "__main__":
    main()
