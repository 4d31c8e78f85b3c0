"""Train the flow kernel prior: ``python -m training_torch.train_kernel_flow --config C.json``.

Data: a pool of ``pool`` PSFs from ``nublur.synth.kernel_families`` (``families`` with
``weights``; "arc" is left out by default and serves as the held-out family), drawn once from
``seed``, visited in shuffled order under a random flip or transpose and a fresh
dequantisation (``kernel_flow.log_coordinates``). Loss: the mean negative log-likelihood of
003 eq. 2 in log-kernel coordinates. Adam, learning rate halved every ``lr_half_life`` steps
after ``lr_decay_from``. Every ``eval_every`` steps the deterministic NLL of 512 fresh kernels
of every family (seed + 1000) goes to ``out/eval.csv``; training losses to ``out/log.csv``.

Config keys: out, steps, pool, batch, kernel_size, blocks, hidden, lr, lr_decay_from,
lr_half_life, families, weights, seed, checkpoint_every, eval_every, max_minutes. Training
resumes from ``out/last.pt``.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch

from nublur.io import write_json
from nublur.synth.kernel_families import KERNEL_FAMILIES, random_kernels

from .kernel_flow import KernelFlow, log_coordinates
from .train import learning_rate, load_config as load_training_config, set_learning_rate
from .train_flow import resume, save, schedule

DEFAULTS = {"out": "runs/kernel_flow", "steps": 6000, "pool": 120000, "batch": 256,
            "kernel_size": 19, "blocks": 5, "hidden": 128, "lr": 1e-3, "lr_decay_from": 3000,
            "lr_half_life": 1000, "families": ["shake", "inertial", "linear"],
            "weights": [0.4, 0.35, 0.25], "seed": 0, "checkpoint_every": 500,
            "eval_every": 500, "max_minutes": None}


def load_config(path) -> dict:
    return load_training_config(path, DEFAULTS)


def dihedral(kernels: np.ndarray, rng) -> np.ndarray:
    """Each kernel under one of the 8 flips and transposes (motion PSFs have no preferred
    orientation)."""
    out = kernels.copy()
    codes = rng.integers(8, size=len(kernels))
    out[codes & 1 == 1] = out[codes & 1 == 1][:, ::-1]
    out[codes & 2 == 2] = out[codes & 2 == 2][:, :, ::-1]
    out[codes & 4 == 4] = out[codes & 4 == 4].transpose(0, 2, 1)
    return out


def evaluation_set(config, count: int = 512) -> dict:
    rng = np.random.default_rng(config["seed"] + 1000)
    return {family: torch.from_numpy(random_kernels(count, config["kernel_size"], rng,
                                                    (family,))[0])
            for family in KERNEL_FAMILIES}


def evaluate(flow: KernelFlow, kernels: dict) -> dict:
    flow.eval()
    with torch.no_grad():
        out = {f: float(flow.nll(log_coordinates(k, dequantise=False)).mean())
               for f, k in kernels.items()}
    flow.train()
    return out


def train(config: dict) -> Path:
    out = Path(config["out"])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config["seed"])
    flow = KernelFlow(config["kernel_size"], config["blocks"], config["hidden"])
    optimizer = torch.optim.Adam(flow.parameters(), lr=config["lr"])
    last = out / "last.pt"
    step = resume(last, flow, optimizer)
    write_json(out / "config.json", config, indent=1)
    started = time.monotonic()
    rng = np.random.default_rng(config["seed"])
    pool, _ = random_kernels(config["pool"], config["kernel_size"], rng, config["families"],
                             config["weights"])
    held = evaluation_set(config)
    print(f"pool of {len(pool)} kernels in {time.monotonic() - started:.0f} s", flush=True)
    rng = np.random.default_rng([config["seed"], step, 1])
    generator = torch.Generator().manual_seed(config["seed"] * 7919 + step)
    with (out / "log.csv").open("a", newline="") as log, \
            (out / "eval.csv").open("a", newline="") as eval_log:
        writer, eval_writer = csv.writer(log), csv.writer(eval_log)
        while step < config["steps"]:
            set_learning_rate(optimizer, learning_rate(config, step))
            picked = dihedral(pool[rng.integers(len(pool), size=config["batch"])], rng)
            x = log_coordinates(torch.from_numpy(picked), generator)
            loss = flow.nll(x).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(flow.parameters(), 50.0)
            optimizer.step()
            step += 1
            writer.writerow([step, float(loss.detach())])
            minutes, stop, due = schedule(config, step, started)
            if step % config["eval_every"] == 0 or step == config["steps"] or stop:
                scores = evaluate(flow, held)
                eval_writer.writerow([step] + [f"{scores[f]:.2f}" for f in KERNEL_FAMILIES])
                eval_log.flush()
                print(f"step {step} nll {float(loss.detach()):.1f} held-out "
                      + " ".join(f"{f} {s:.1f}" for f, s in scores.items())
                      + f" ({minutes:.1f} min)", flush=True)
            if due:
                save(last, flow, optimizer, step, config)
                log.flush()
            if stop:
                break
    return last


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train the flow kernel prior (003)")
    parser.add_argument("--config", help="JSON config (see the module docstring)")
    train(load_config(parser.parse_args(argv).config))


if __name__ == "__main__":
    main()
