"""Export the flow kernel prior to ONNX with model cards.

``python -m training_torch.kernel_flow_export --checkpoint runs/kernel_flow_k19/last.pt
--out models_onnx/nublur_kernel_prior_k19.onnx [--metrics M.json]`` writes the decoder
(``latent`` (N, L) -> ``kernels`` (N, K, K)) at ``--out`` and the encoder (``kernels`` ->
``latent``, ``nll``) beside it as ``<stem>_encoder.onnx``, each checked against torch (1e-4
on kernels, 1e-3 relative on codes and NLL) and each with a card holding its sha256.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from nublur.synth.kernel_families import random_kernels

from .export import export_staged, write_signed_card
from .kernel_flow import ALPHA, Decoder, Encoder, KernelFlow
from .model import parameter_count

CONVENTIONS = {
    "kernel": "PSF in nublur's convention (DESIGN.md section 1): K x K, centre K // 2, "
              "non-negative, sums to 1",
    "coordinates": f"x = log((1 - a) k + a / L) with a = {ALPHA}, L = K^2 (the deterministic "
                   "point; training adds a dequantisation draw and a random gain along the "
                   "ones direction, which decoding ignores)",
    "decoding": "k = max(softmax(x) - a / L, 0), renormalised to sum 1",
    "latent": "z = f(x) ~ N(0, I_L) under the prior (003 eq. 2)",
    "nll": "-log p(x) in nats at the deterministic point (lower: more probable)",
}


def load_flow(checkpoint) -> tuple[KernelFlow, dict]:
    state = torch.load(checkpoint, map_location="cpu")
    config = state["config"]
    flow = KernelFlow(config["kernel_size"], config["blocks"], config["hidden"])
    flow.load_state_dict(state["model"])
    return flow.eval(), state


def export(checkpoint, out, metrics=None) -> dict:
    flow, state = load_flow(checkpoint)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    size, dim = flow.kernel_size, flow.dim
    rng = np.random.default_rng(4242)
    codes = [rng.standard_normal((n, dim)).astype(np.float32) for n in (1, 7)]
    kernels = [random_kernels(n, size, rng, ("shake", "linear"))[0] for n in (1, 5)]
    decoder_diff = export_staged(
        Decoder(flow), out, example=[codes[0]], input_names=["latent"],
        output_names=["kernels"], dynamic={"latent": {0: "n"}, "kernels": {0: "n"}},
        checks=[[c] for c in codes], tolerance=1e-4)
    encoder_path = encoder_file(out)
    encoder = Encoder(flow)
    with torch.no_grad():
        scale = max(float(encoder(torch.from_numpy(k))[1].abs().max()) for k in kernels)
    encoder_diff = export_staged(
        encoder, encoder_path, example=[kernels[0]], input_names=["kernels"],
        output_names=["latent", "nll"],
        dynamic={"kernels": {0: "n"}, "latent": {0: "n"}, "nll": {0: "n"}},
        checks=[[k] for k in kernels], tolerance=1e-3 * max(scale, 1.0))
    config = state["config"]
    common = {"architecture": f"RealNVP (003 section 3.1): {config['blocks']} blocks of "
                              "ActNorm + two checkerboard affine couplings (MLP "
                              f"{config['hidden']} hidden, tanh-bounded scales)",
              "parameters": parameter_count(flow), "kernel_size": size, "latent_dim": dim,
              "conventions": CONVENTIONS,
              "training": {"data": "nublur.synth.kernel_families "
                                   f"{config['families']} with weights {config['weights']} "
                                   "(the 'arc' family, Levin 2009 and gyro kernels held out), "
                                   "8 flips/transposes, fresh dequantisation per step",
                           "steps": state["step"], "config": config},
              "metrics": metrics or {}}
    write_signed_card(out, {"name": out.stem, "role": "decoder", "encoder": encoder_path.name,
                     **common, "onnx_vs_torch_max_abs_diff": decoder_diff})
    write_signed_card(encoder_path, {"name": encoder_path.stem, "role": "encoder",
                              "decoder": out.name, **common,
                              "onnx_vs_torch_max_abs_diff": encoder_diff})
    return json.loads(out.with_suffix(".json").read_text())


def encoder_file(decoder: Path) -> Path:
    return decoder.with_name(decoder.stem + "_encoder.onnx")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Export the flow kernel prior to ONNX")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", required=True, help="decoder .onnx (encoder beside it)")
    parser.add_argument("--metrics", help="JSON of measured metrics for the cards")
    args = parser.parse_args(argv)
    metrics = json.loads(Path(args.metrics).read_text()) if args.metrics else None
    card = export(args.checkpoint, args.out, metrics)
    print(json.dumps({k: card[k] for k in ("name", "parameters", "sha256")}, indent=1))


if __name__ == "__main__":
    main()
