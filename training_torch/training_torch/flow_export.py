"""Export a flow-network checkpoint to ONNX with its card:
``python -m training_torch.flow_export --checkpoint runs/flow_cpu/last.pt
[--metrics METRICS.json] [--head classes]``.

The ONNX file is checked against torch on two sizes before it replaces the shipped one; the
card states the conventions ``nublur.estimators.flow`` reads, the training data and config, the
measured figures given in ``--metrics`` and the file's sha256.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .export import export_checked, write_signed_card
from .model import parameter_count
from .flownet import MAX_COMPONENT, MULTIPLE, STRIDE, FlowNet

TRAINING_DATA = (
    "training_torch.flow_data: gray dead-leaves scenes (random smallest disc, contrast, soft "
    "edges, shading) and Kodak24 crops (BSD68 held out), values scaled by U[0.5, 1.5]; 002 "
    "camera-motion flows (nublur.synth.flow_components, presets severe 60% / mild 40%) drawn on "
    "a virtual image 1-3x the crop, scaled by U[0, 1.4] with probability scale_probability, "
    "integer, clipped to 36, folded; nublur's gather, replicate boundary; Gaussian noise "
    "U[0, max_noise]; camera response; 8 bit; 8 flips/transposes")


def load(checkpoint):
    state = torch.load(checkpoint, map_location="cpu")
    model = FlowNet(state["config"]["width"])
    model.load_state_dict(state["model"])
    return model.eval(), state


def export(checkpoint, out, *, head: str = "classes", metrics: dict | None = None,
           check_sizes=((64, 96), (128, 80))) -> dict:
    model, state = load(checkpoint)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    worst = export_checked(model, out, channels=1, output_names=["scores"],
                           spatial_outputs=("scores",), check_sizes=check_sizes, tolerance=1e-3)
    card = {
        "name": out.stem,
        "architecture": "FlowNet (002 section 4.1 FCN sized for CPU: image and differences "
                        "in, group-normalised convolutions, 4 poolings, dilated context at "
                        "1/16, skip decoder to 1/4; 002's u/v classifiers, a doubled-angle "
                        "and a length regression head)",
        "parameters": parameter_count(model),
        "default_head": head,
        "input": {"name": "input", "layout": "N1HW gray", "range": "blurry display values "
                  "in [0, 1] (RGB: luminance 0.2125 R + 0.7154 G + 0.0721 B)",
                  "transform": "x = gray - 0.5", "padding_multiple": MULTIPLE},
        "output": {"scores": "(1, 37 + 73 + 3, ceil(H/4), ceil(W/4)): u logits (0..36), v "
                   "logits (-36..36) after the fold u >= 0, (l cos 2a, l sin 2a) / 36, l / 36",
                   "stride": STRIDE, "max_component": MAX_COMPONENT},
        "training": {"data": TRAINING_DATA, "steps": int(state["step"]),
                     "config": state["config"]},
        "onnx_vs_torch_max_abs_diff": worst,
        "metrics": metrics or {},
    }
    return write_signed_card(out, card)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", default="models_onnx/nublur_flow_w16.onnx")
    parser.add_argument("--head", default="classes", choices=("classes", "regression", "mean"))
    parser.add_argument("--metrics", help="JSON file of measured figures for the card")
    args = parser.parse_args(argv)
    metrics = json.loads(Path(args.metrics).read_text()) if args.metrics else None
    card = export(args.checkpoint, args.out, head=args.head, metrics=metrics)
    print(f"wrote {args.out} ({card['parameters']} parameters, ONNX vs torch "
          f"{card['onnx_vs_torch_max_abs_diff']:.1e}, sha256 {card['sha256'][:12]}...)")


if __name__ == "__main__":
    main()
