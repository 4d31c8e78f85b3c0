"""Train BasisKPN: ``python -m training_torch.train --config CONFIG.json``.

The config (JSON) sets: out (checkpoint folder), steps, batch, crop, lr, width, num_basis,
workers, seed, l1_from (step from which the kernel loss switches from L2 to L1, 000 section
5.2), checkpoint_every, image_folders, device ("cpu", "cuda" or "auto"), lr_decay_from and
lr_half_life (from step lr_decay_from the learning rate halves every lr_half_life steps; None
keeps it constant) and init_checkpoint. Training resumes from ``out/last.pt`` when it exists;
otherwise, with init_checkpoint, a new stage starts from that checkpoint's weights and step
(fresh optimizer state: fine-tuning with another crop or learning rate). Checkpoints keep the
list of stages (config, first and last step) that produced them, which the model card
records. Losses are appended to ``out/log.csv``.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from nublur.io import atomic_write, write_json

from .data import KernelFieldPairs
from .losses import kernel_loss, reblur_loss
from .model import BasisKPN, parameter_count

DEFAULTS = {"out": "runs/kpn", "steps": 2000, "batch": 4, "crop": 128, "lr": 2e-4,
            "width": 32, "num_basis": 25, "workers": 2, "seed": 0, "l1_from": 1000,
            "checkpoint_every": 100, "image_folders": [], "device": "auto", "gamma": 2.2,
            "max_minutes": None, "lr_decay_from": None, "lr_half_life": 2000,
            "init_checkpoint": None}


def load_config(path, defaults: dict = DEFAULTS) -> dict:
    """``defaults`` updated from the JSON file at ``path`` (None: the defaults); keys not in
    ``defaults`` are refused."""
    config = dict(defaults)
    if path:
        config.update(json.loads(Path(path).read_text()))
    unknown = set(config) - set(defaults)
    if unknown:
        raise ValueError(f"unknown config keys: {sorted(unknown)}")
    return config


def build(config):
    model = BasisKPN(config["num_basis"], 33, config["width"])
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    return model, optimizer


def train(config: dict) -> Path:
    out = Path(config["out"])
    out.mkdir(parents=True, exist_ok=True)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if config["device"] == "auto" \
        else config["device"]
    torch.manual_seed(config["seed"])
    model, optimizer = build(config)
    step, first_step, earlier_stages = 0, 0, []
    last = out / "last.pt"
    resuming = last.exists()
    start_from = last if resuming else config["init_checkpoint"]
    if start_from:
        state = torch.load(start_from, map_location="cpu")
        model.load_state_dict(state["model"])
        step = state["step"]
        stages = state.get("stages", [])
        if resuming:  # the same stage goes on
            optimizer.load_state_dict(state["optimizer"])
            earlier_stages = stages[:-1]
            first_step = stages[-1]["from_step"] if stages else 0
        else:  # a new stage, fresh optimizer state
            earlier_stages, first_step = stages, step
        print(f"{'resumed' if resuming else 'new stage'} from {start_from} "
              f"at step {step}")
    model.to(device)
    write_json(out / "config.json", config, indent=1)
    data = KernelFieldPairs(config["crop"], config["seed"], image_folders=config["image_folders"],
                            gamma=config["gamma"])
    # samples are deterministic per index: resuming continues with the next unseen ones
    loader = DataLoader(torch.utils.data.Subset(data, range(step * config["batch"], len(data))),
                        batch_size=config["batch"], num_workers=config["workers"],
                        persistent_workers=config["workers"] > 0)
    new_log = not (out / "log.csv").exists()
    log = open(out / "log.csv", "a", newline="")
    writer = csv.writer(log)
    if new_log:
        writer.writerow(["step", "reblur", "kernel", "p", "seconds"])
    start = time.time()
    print(f"BasisKPN, {parameter_count(model)} parameters, on {device}")

    def stages():
        return earlier_stages + [{"config": config, "from_step": first_step, "to_step": step}]

    for batch in loader:
        if step >= config["steps"] or (config["max_minutes"] and
                                       time.time() - start > 60 * config["max_minutes"]):
            break
        batch = {k: v.to(device) for k, v in batch.items()}
        set_learning_rate(optimizer, learning_rate(config, step))
        kernels, mixing = model(batch["input"])
        p = 2 if step < config["l1_from"] else 1
        l_reblur = reblur_loss(batch["sharp"], batch["blurry"], kernels, mixing,
                               batch["weights"], config["gamma"])
        l_kernel = kernel_loss(kernels, mixing, batch["rows"], batch["cols"], batch["kernels"],
                               batch["weights"], p)
        loss = l_reblur + l_kernel
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        writer.writerow([step, f"{l_reblur.item():.6g}", f"{l_kernel.item():.6g}", p,
                         f"{time.time() - start:.1f}"])
        if step % config["checkpoint_every"] == 0:
            log.flush()
            save_checkpoint(last, model, optimizer, step, stages())
    save_checkpoint(last, model, optimizer, step, stages())
    log.close()
    print(f"stopped at step {step}; checkpoint {last}")
    return last


def learning_rate(config: dict, step: int) -> float:
    """Constant ``lr`` up to ``lr_decay_from``, then halved every ``lr_half_life`` steps."""
    start = config["lr_decay_from"]
    if start is None or step < start:
        return config["lr"]
    return config["lr"] * 0.5 ** ((step - start) / config["lr_half_life"])


def set_learning_rate(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def save_checkpoint(path: Path, model, optimizer, step: int, stages: list) -> None:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
             "num_basis": model.num_basis, "width": model.enc[0][0].out_channels,
             "stages": stages}
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="JSON config (defaults in training_torch.train)")
    args = parser.parse_args(argv)
    train(load_config(args.config))


if __name__ == "__main__":
    main()
