"""Train 003's kernel-estimation network with its self-supervised reblur loss (003 eq. 4):
``python -m training_torch.train_ufp --config C.json``; ``--export CKPT --out MODEL.onnx``.

Data: a pool of ``pool`` (sharp, blurry) crops drawn once: half dead-leaves scenes, half crops
of ``photos`` (Kodak24; BSD68 stays held out), each blurred by a ``nublur.GridField`` of one
19 x 19 PSF per 32 x 32 cell (``nublur.synth.random_kernels`` of ``families``: with
probability 1/2 one PSF for the whole crop, else one per cell), mirror boundary, Gaussian noise
U[0, ``max_noise``], 8 bits. The network sees the blurry crop; its codes, resampled with its
sigmas (003 eq. 6), are decoded by the frozen flow prior (``prior_checkpoint``) and the sharp
crop is blurred with them by the torch twin (``twin.basis_blur``, hat mixing between cell
centres as ``LatentField``); the loss is the mean squared reblur error away from the border.
003 trains without kernel ground truth, as here; the true kernels are used only to report.
Validation every ``eval_every`` steps on 48 crops blurred with the held-out "arc" family.
With ``code_weight`` > 0 the loss adds that weight times the mean squared distance of the
predicted codes to the prior codes of the true PSFs (a supervised term 003 does not have);
``init_checkpoint`` starts a new stage from earlier weights.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch

import nublur
from nublur.fields.grid import cell_centres, hat_weights
from nublur.io import write_json
from nublur.synth import random_kernels

from .flow_data import scene
from .kernel_flow import Decoder, Encoder
from .kernel_flow_export import load_flow
from .train import learning_rate, load_config as load_training_config, set_learning_rate
from .train_flow import _photos, resume, save, schedule
from .twin import basis_blur
from .ufpnet import CELL, UfpNet, resample

DEFAULTS = {"out": "runs/ufp", "steps": 2000, "pool": 2000, "crop": 128, "batch": 8,
            "width": 16, "lr": 5e-4, "lr_decay_from": 1500, "lr_half_life": 500,
            "max_noise": 0.01, "families": ["shake", "inertial", "linear"],
            "weights": [0.4, 0.35, 0.25], "photos": "../shared/data/kodak24",
            "prior_checkpoint": "checkpoints/kernel_flow_k19.pt", "seed": 0,
            "checkpoint_every": 100, "eval_every": 250, "max_minutes": None, "code_weight": 0.0,
            "init_checkpoint": None}
BORDER = 10


def load_config(path) -> dict:
    return load_training_config(path, DEFAULTS)


def make_sample(rng, crop, photos, families, weights, max_noise):
    """(sharp, blurry (crop, crop), PSFs (cells, cells, 19, 19)), float32: a grid of PSFs,
    one per 32 px cell."""
    if photos is not None and rng.random() < 0.5:
        photo = photos[int(rng.integers(len(photos)))]
        top = int(rng.integers(0, photo.shape[0] - crop + 1))
        left = int(rng.integers(0, photo.shape[1] - crop + 1))
        sharp = photo[top:top + crop, left:left + crop].astype(np.float64)
    else:
        sharp = scene(rng, (crop, crop))
    cells = crop // CELL
    count = 1 if rng.random() < 0.5 else cells * cells
    kernels, _ = random_kernels(count, 19, rng, families, weights)
    kernels = np.broadcast_to(kernels, (cells * cells, 19, 19)).reshape(cells, cells, 19, 19)
    field = nublur.GridField(kernels.astype(np.float64), (crop, crop), normalize=True)
    blurry = nublur.blur(sharp, field, boundary="mirror")
    blurry = blurry + rng.uniform(0, max_noise) * rng.standard_normal(blurry.shape)
    blurry = np.round(np.clip(blurry, 0, 1) * 255) / 255
    return sharp.astype(np.float32), blurry.astype(np.float32), kernels.astype(np.float32)


def make_pool(config, count, seed, families, weights):
    rng = np.random.default_rng(seed)
    photos = _photos(config["photos"])
    pairs = [make_sample(rng, config["crop"], photos, families, weights, config["max_noise"])
             for _ in range(count)]
    sharp, blurry = (torch.from_numpy(np.stack([p[j] for p in pairs])[:, None]) for j in (0, 1))
    return sharp, blurry, torch.from_numpy(np.stack([p[2] for p in pairs]))


def true_codes(flow, kernels) -> torch.Tensor:
    """Prior codes of the true PSFs (N, cells, cells, 19, 19) -> (N, L, cells, cells)."""
    n, gy, gx = kernels.shape[:3]
    with torch.no_grad():
        z, _ = Encoder(flow)(kernels.reshape(-1, 19, 19))
    return z.reshape(n, gy, gx, -1).permute(0, 3, 1, 2).contiguous()


def hat_maps(crop: int) -> torch.Tensor:
    """(cells^2, crop, crop) mixing maps of a cell grid (``GridField``'s, row-major)."""
    w = hat_weights(cell_centres(crop, crop // CELL), crop)
    return torch.from_numpy((w[:, None, :, None] * w[None, :, None, :]).reshape(
        -1, crop, crop).astype(np.float32))


def reblur(net, decoder, sharp, blurry, maps, generator=None):
    """(mean squared reblur error away from the border (003 eq. 4), the predicted codes)."""
    codes, sigma = net(blurry - 0.5)
    drawn = codes if generator is None else resample(codes, sigma, generator)
    n, dim, gy, gx = codes.shape
    kernels = decoder(drawn.permute(0, 2, 3, 1).reshape(-1, dim)).reshape(n, gy * gx, 19, 19)
    out = basis_blur(sharp, kernels, maps[None].expand(n, -1, -1, -1))
    b = BORDER
    return torch.mean((out - blurry)[..., b:-b, b:-b] ** 2), codes


def train(config: dict) -> Path:
    out = Path(config["out"])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config["seed"])
    flow, _ = load_flow(config["prior_checkpoint"])
    decoder = Decoder(flow).eval()
    for p in decoder.parameters():
        p.requires_grad_(False)
    net = UfpNet(flow.dim, config["width"])
    optimizer = torch.optim.Adam(net.parameters(), lr=config["lr"])
    last = out / "last.pt"
    step = resume(last, net, optimizer)
    if not step and config["init_checkpoint"]:  # a new stage from earlier weights
        net.load_state_dict(torch.load(config["init_checkpoint"], map_location="cpu")["model"])
    write_json(out / "config.json", config, indent=1)
    started = time.monotonic()
    pool = make_pool(config, config["pool"], config["seed"], config["families"],
                     config["weights"])
    held = make_pool(config, 48, config["seed"] + 1000, ["arc"], None)
    maps = hat_maps(config["crop"])
    targets = true_codes(flow, pool[2]) if config["code_weight"] else None
    print(f"pool of {len(pool[0])} crops in {time.monotonic() - started:.0f} s", flush=True)
    rng = np.random.default_rng([config["seed"], step, 1])
    generator = torch.Generator().manual_seed(config["seed"] * 7919 + step)
    with (out / "log.csv").open("a", newline="") as log:
        writer = csv.writer(log)
        while step < config["steps"]:
            set_learning_rate(optimizer, learning_rate(config, step))
            picked = rng.integers(len(pool[0]), size=config["batch"])
            loss, codes = reblur(net, decoder, pool[0][picked], pool[1][picked], maps, generator)
            if config["code_weight"]:
                loss = loss + config["code_weight"] * torch.mean((codes - targets[picked]) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            held_loss = ""
            if step % config["eval_every"] == 0 or step == config["steps"]:
                with torch.no_grad():
                    held_loss = float(reblur(net.eval(), decoder, *held[:2], maps)[0])
                net.train()
            writer.writerow([step, float(loss.detach()), held_loss])
            minutes, stop, due = schedule(config, step, started)
            if due:
                save(last, net, optimizer, step, config)
                log.flush()
                print(f"step {step} loss {float(loss.detach()):.2e} held-out arcs reblur mse "
                      f"{held_loss} ({minutes:.1f} min)", flush=True)
            if stop:
                break
    return last


def export(checkpoint, out_path, prior_card: Path) -> dict:
    """ONNX of the network (input N x 1 x H x W, H and W multiples of 32) and its card,
    paired with the prior decoder of ``prior_card`` (its name and sha256)."""
    import json

    from .export import export_staged, write_signed_card
    from .model import parameter_count

    state = torch.load(checkpoint, map_location="cpu")
    config = state["config"]
    net = UfpNet(361, config["width"])
    net.load_state_dict(state["model"])
    net.eval()
    out = Path(out_path)
    rng = np.random.default_rng(0)
    checks = [[rng.random((1, 1, h, w), dtype=np.float32) - 0.5] for h, w in ((64, 96),
                                                                              (128, 64))]
    diff = export_staged(net, out, example=[np.zeros((1, 1, 64, 64), np.float32)],
                         input_names=["input"], output_names=["codes", "sigma"],
                         dynamic={n: {2: "height", 3: "width"}
                                  for n in ("input", "codes", "sigma")},
                         checks=checks, tolerance=1e-4)
    prior = json.loads(Path(prior_card).read_text())
    card = {"name": out.stem, "role": "ufp",
            "architecture": "003 kernel-estimation network sized for CPU: the flow "
                            "network's encoder, average-pooled to 32 x 32 cells, 1 x 1 head "
                            "to 361 code and 361 sigma channels",
            "parameters": parameter_count(net),
            "input": {"name": "input", "layout": "N1HW gray", "transform": "x = gray - 0.5",
                      "range": "blurry values in [0, 1], linear (gamma 1)",
                      "padding_multiple": CELL},
            "output": {"codes": "(1, 361, H/32, W/32) latent codes of the prior",
                       "sigma": "(1, 361, H/32, W/32) their standard deviations (003 eq. 5)",
                       "cell": CELL, "nodes": "cell centres (GridField default)"},
            "prior": {"decoder": prior["name"] + ".onnx", "sha256": prior["sha256"]},
            "training": {"data": __doc__.split("Data: ")[1].split("\n\n")[0].replace("\n", " "),
                         "steps": state["step"], "config": config},
            "onnx_vs_torch_max_abs_diff": diff}
    return write_signed_card(out, card)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train 003's kernel-estimation network")
    parser.add_argument("--config", help="JSON config (see the module docstring)")
    parser.add_argument("--export", metavar="CHECKPOINT")
    parser.add_argument("--out", help="the .onnx to write with --export")
    parser.add_argument("--prior-card", default="../models_onnx/nublur_kernel_prior_k19.json")
    args = parser.parse_args(argv)
    if args.export:
        export(args.export, args.out, args.prior_card)
    else:
        train(load_config(args.config))


if __name__ == "__main__":
    main()
