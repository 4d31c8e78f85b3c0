"""Train IRC-Net: ``python -m training_torch.train_ircnet --config CONFIG.json``.

Training pairs (001 section 4.2 trains on 5,400 patches of 121 x 121; here a pool of
``pool`` patches is drawn once and visited in shuffled order): dead-leaves scenes
(``nublur.synth.dead_leaves``, gray, with random contrast, soft edges and shading: ``scene``),
a smooth random linear motion field per patch (lengths
and angles from a few random low-frequency cosines, lengths in [``min_length``,
``max_length``]), nublur's gather, Gaussian noise ``noise`` (a standard deviation, or
[low, high] to draw one per patch). No photograph is used, so BSD68
and Kodak24 stay held out for the benchmark. Loss: mean squared error to the sharp patch away
from a 6 px border.

The config (JSON) sets: out, steps, pool, crop, stages, irc_steps, lam, rho, lr, noise,
min_length, max_length, seed, checkpoint_every, max_minutes, knots (hat functions of the
learned shrinkage, 0: soft thresholding) and init_checkpoint. Training resumes from
``out/last.pt`` when it exists; otherwise, with init_checkpoint, a new stage starts from that
checkpoint's parameters and step (fresh optimizer). Losses go to ``out/log.csv``.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch

import nublur
from nublur.io import atomic_write, write_json

from .ircnet import IRCNet, export, prepare
from .train import load_config as load_training_config

DEFAULTS = {"out": "runs/ircnet", "steps": 400, "pool": 48, "crop": 96, "stages": 5,
            "irc_steps": 2, "lam": 0.003, "rho": 0.1, "lr": 0.02, "noise": 0.01,
            "min_length": 3.0, "max_length": 31.0, "seed": 0, "checkpoint_every": 20,
            "max_minutes": None, "knots": 0, "init_checkpoint": None}
_BORDER = 6


def load_config(path) -> dict:
    return load_training_config(path, DEFAULTS)


def smooth_linear_field(rng, shape, min_length, max_length):
    """Length and angle maps from 3 random low-frequency cosines each."""
    rows, cols = np.indices(shape) / max(shape)

    def smooth():
        total = np.zeros(shape)
        for _ in range(3):
            fy, fx = rng.uniform(-2.5, 2.5, size=2)
            total += np.cos(2 * np.pi * (fy * rows + fx * cols) + rng.uniform(0, 2 * np.pi))
        return (total - total.min()) / max(np.ptp(total), 1e-9)

    lo = rng.uniform(min_length, max_length)
    hi = rng.uniform(min_length, max_length)
    length = min(lo, hi) + abs(hi - lo) * smooth()
    angle = rng.uniform(0, 180) + rng.uniform(20, 120) * smooth()
    return nublur.LinearMotionField(length, angle)


def _model(config) -> IRCNet:
    return IRCNet(config["stages"], config["irc_steps"], config["lam"], config["rho"],
                  config["knots"])


def _load_earlier(model: IRCNet, earlier: dict) -> None:
    """Parameters of an earlier stage; a shrinkage with fewer (or no) knots is zero-padded."""
    state = dict(earlier)
    coeffs = model.shrink_coeffs.detach().clone()
    old = state.pop("shrink_coeffs", coeffs[:, :0])
    coeffs[:, :old.shape[1]] = old
    state["shrink_coeffs"] = coeffs
    model.load_state_dict(state)


def scene(rng, shape):
    """A gray dead-leaves scene made less cartoon-like: random smallest disc (1-6 px),
    contrast (0.2-1), soft edges (Gaussian, sigma 0-1.5 px) and smooth shading (amplitude
    up to 0.3): flat discs alone taught the network too little regularisation for smooth
    photographs."""
    from scipy.ndimage import gaussian_filter

    leaves = nublur.synth.dead_leaves(shape, rng, r_min=rng.uniform(1, 6), colour=False)
    leaves = leaves.astype(np.float64)
    contrast = rng.uniform(0.2, 1.0)
    image = leaves.mean() + contrast * (leaves - leaves.mean())
    image = gaussian_filter(image, rng.uniform(0, 1.5))
    shading = gaussian_filter(rng.standard_normal(shape), max(shape) / 5)
    image += rng.uniform(0, 0.3) * shading / max(np.abs(shading).max(), 1e-9)
    return np.clip(image, 0, 1)


def make_pair(rng, config):
    shape = (config["crop"], config["crop"])
    sharp = scene(rng, shape)
    field = smooth_linear_field(rng, shape, config["min_length"], config["max_length"])
    noise = config["noise"]
    sigma = rng.uniform(*noise) if isinstance(noise, (list, tuple)) else float(noise)
    blurry = nublur.blur(sharp, field) + sigma * rng.standard_normal(shape)
    op = prepare(field, shape, rho=config["rho"], num_irc=config["irc_steps"])
    return torch.tensor(blurry), torch.tensor(sharp), op


def interior_mse(x, sharp):
    b = _BORDER
    return ((x - sharp)[..., b:-b, b:-b] ** 2).mean()


def train(config: dict) -> Path:
    out = Path(config["out"])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config["seed"])
    model = _model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    step = 0
    last = out / "last.pt"
    if last.exists():
        state = torch.load(last, map_location="cpu")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        print(f"resumed from {last} at step {step}")
    elif config["init_checkpoint"]:  # a new stage: earlier parameters, fresh optimizer
        state = torch.load(config["init_checkpoint"], map_location="cpu")
        _load_earlier(model, state["model"])
        step = state["step"]
        print(f"new stage from {config['init_checkpoint']} at step {step}")
    write_json(out / "config.json", config, indent=1)
    rng = np.random.default_rng(config["seed"])
    pool = [make_pair(rng, config) for _ in range(config["pool"])]
    order = np.random.default_rng(config["seed"] + 1)
    started = time.monotonic()
    log = (out / "log.csv").open("a", newline="")
    writer = csv.writer(log)
    try:
        while step < config["steps"]:
            blurry, sharp, op = pool[int(order.integers(len(pool)))]
            loss = interior_mse(model(blurry, op), sharp)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            writer.writerow([step, float(loss)])
            if step % config["checkpoint_every"] == 0 or step == config["steps"]:
                _save(last, model, optimizer, step, config)
                log.flush()
                print(f"step {step} loss {float(loss):.3e}", flush=True)
            minutes = (time.monotonic() - started) / 60
            if config["max_minutes"] and minutes > config["max_minutes"]:
                _save(last, model, optimizer, step, config)
                print(f"stopped after {minutes:.1f} min at step {step}")
                break
    finally:
        log.close()
    return last


def _save(path, model, optimizer, step, config):
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
             "config": config}
    atomic_write(path, lambda tmp: torch.save(state, tmp))


TRAINING_DATA = ("dead leaves (nublur.synth.dead_leaves, gray; random smallest disc 1-6 px, "
                 "contrast 0.2-1, soft edges, smooth shading), smooth random linear motion "
                 "fields (3 low-frequency cosines per map, lengths 3-31 px), nublur's gather, "
                 "Gaussian noise (sigma: config 'noise'); no photographs")


def export_checkpoint(checkpoint, out_dir, name: str, metrics: dict | None = None):
    """Export a training checkpoint's parameters and card (``ircnet.export``)."""
    state = torch.load(checkpoint, map_location="cpu")
    config = state["config"]
    model = _model(config)
    model.load_state_dict(state["model"])
    card = {"architecture": "IRC-Net (001 section 3.2): ADMM-IRC unrolled, trained per-stage "
                            "lam, rho, IRC step scales and piecewise-linear shrinkage; "
                            "nublur's LUT filters (not trained)",
            "training": {"data": TRAINING_DATA, "steps": state["step"], "config": config},
            "metrics": metrics or {}}
    return export(model, out_dir, name, card, base_rho=config["rho"])


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train IRC-Net (001 section 3.2)")
    parser.add_argument("--config", help="JSON config (see the module docstring)")
    parser.add_argument("--export", metavar="CHECKPOINT", help="export this checkpoint instead")
    parser.add_argument("--out", default="models_onnx", help="export folder")
    parser.add_argument("--name", default="nublur_ircnet_s5t2")
    parser.add_argument("--metrics", help="JSON file of measured figures for the card")
    args = parser.parse_args(argv)
    if args.export:
        metrics = json.loads(Path(args.metrics).read_text()) if args.metrics else None
        print(export_checkpoint(args.export, args.out, args.name, metrics))
    else:
        train(load_config(args.config))


if __name__ == "__main__":
    main()
