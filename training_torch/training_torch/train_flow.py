"""Train the motion-flow network: ``python -m training_torch.train_flow --config CONFIG.json``.

Data (``flow_data``): a pool of ``pool`` samples drawn once (in ``workers`` processes; half
dead-leaves scenes, half crops of the ``photos`` folder, Kodak24 by default, so BSD68 stays held
out), visited in shuffled order under a random flip or transpose. Loss (002 section 4.1): the
sum of the cross entropies of the u and v classifiers, plus ``regression_weight`` times the L1
error of the doubled-angle regression head, at 1/4 resolution. Adam with the learning rate
halved every ``lr_half_life`` steps after ``lr_decay_from``.

The config (JSON) sets: out, steps, pool, crop, batch, width, lr, lr_decay_from, lr_half_life,
regression_weight, max_noise, scale_probability, mixture (weights of ``flow_data.FAMILIES``),
photos, seed, workers, checkpoint_every, max_minutes and init_checkpoint (a new stage starts
from that checkpoint's weights and step). Training resumes from ``out/last.pt`` when it exists
(a checkpoint without optimizer state, as ``weights_only`` writes for the repository, resumes
with a fresh Adam). Losses go to ``out/log.csv``.
"""

from __future__ import annotations

import argparse
import csv
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from nublur.io import atomic_write, write_json
from nublur.synth.images import image_folder

from .flow_data import augment, make_sample, targets
from .flownet import FlowNet, split
from .train import learning_rate, load_config as load_training_config, set_learning_rate

DEFAULTS = {"out": "runs/flow", "steps": 3000, "pool": 4000, "crop": 128, "batch": 12,
            "width": 16, "lr": 1e-3, "lr_decay_from": 2000, "lr_half_life": 1000,
            "regression_weight": 4.0, "max_noise": 0.02, "scale_probability": 0.3,
            "photos": "../shared/data/kodak24", "seed": 0, "workers": 2,
            "checkpoint_every": 100, "max_minutes": None, "mixture": [1.0, 0.0, 0.0],
            "init_checkpoint": None}


def load_config(path) -> dict:
    return load_training_config(path, DEFAULTS)


def _photos(folder):
    if not folder or not Path(folder).is_dir():
        return None
    images = image_folder(folder, as_gray=True)
    return [np.asarray(images[i], dtype=np.float32) for i in range(len(images))]


def _samples(args):
    seed, start, stop, config = args
    photos = _photos(config["photos"])
    out = []
    for i in range(start, stop):
        rng = np.random.default_rng([seed, i])
        out.append(make_sample(rng, config["crop"], photos, max_noise=config["max_noise"],
                               scale_probability=config["scale_probability"],
                               mixture=config["mixture"]))
    return out


def make_pool(config):
    """The ``pool`` samples of ``config`` as arrays (images uint8, u, v int8)."""
    n, workers = config["pool"], max(1, config["workers"])
    bounds = np.linspace(0, n, 4 * workers + 1).astype(int)
    jobs = [(config["seed"], a, b, config) for a, b in zip(bounds[:-1], bounds[1:])]
    with get_context("spawn").Pool(workers) as pool:
        parts = pool.map(_samples, jobs)
    samples = [s for part in parts for s in part]
    return tuple(np.stack([s[j] for s in samples]) for j in range(3))


def batch(pool, rng, size):
    images, us, vs = pool
    xs, ucs, vcs, regs = [], [], [], []
    for i in rng.integers(len(images), size=size):
        image, u, v = augment(images[i], us[i], vs[i], int(rng.integers(8)))
        u_cls, v_cls, reg = targets(u, v)
        xs.append(image.astype(np.float32)[None] / 255 - 0.5)
        ucs.append(u_cls)
        vcs.append(v_cls)
        regs.append(reg)
    return tuple(torch.from_numpy(np.stack(a)) for a in (xs, ucs, vcs, regs))


def loss_terms(out, u_cls, v_cls, reg):
    """Cross entropies of u and v, and the L1 error of the doubled-angle and length heads
    (the length alone is the easy part: it gives the network a gradient towards blur-sensitive
    features before it can tell directions)."""
    u_logits, v_logits, motion, length = split(out)
    return (F.cross_entropy(u_logits, u_cls), F.cross_entropy(v_logits, v_cls),
            F.l1_loss(motion, reg[:, :2]) + F.l1_loss(length, reg[:, 2:]))


def train(config: dict) -> Path:
    out = Path(config["out"])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config["seed"])
    model = FlowNet(config["width"])
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    step, last = 0, out / "last.pt"
    if last.exists():
        state = torch.load(last, map_location="cpu")
        model.load_state_dict(state["model"])
        if state.get("optimizer"):  # the committed checkpoint carries the weights only
            optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        print(f"resumed from {last} at step {step}", flush=True)
    elif config["init_checkpoint"]:  # a new stage: earlier weights and step, fresh optimizer
        state = torch.load(config["init_checkpoint"], map_location="cpu")
        model.load_state_dict(state["model"])
        step = state["step"]
        print(f"new stage from {config['init_checkpoint']} at step {step}", flush=True)
    write_json(out / "config.json", config, indent=1)
    started = time.monotonic()
    pool = make_pool(config)
    print(f"pool of {len(pool[0])} samples in {time.monotonic() - started:.0f} s", flush=True)
    rng = np.random.default_rng([config["seed"], step, 1])
    with (out / "log.csv").open("a", newline="") as log:
        writer = csv.writer(log)
        while step < config["steps"]:
            set_learning_rate(optimizer, learning_rate(config, step))
            x, u_cls, v_cls, reg = batch(pool, rng, config["batch"])
            cu, cv, lr_ = loss_terms(model(x), u_cls, v_cls, reg)
            loss = cu + cv + config["regression_weight"] * lr_
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            cu, cv, lr_ = (float(t.detach()) for t in (cu, cv, lr_))
            writer.writerow([step, cu, cv, lr_])
            minutes, stop, due = schedule(config, step, started)
            if due:
                save(last, model, optimizer, step, config)
                log.flush()
                print(f"step {step} ce_u {cu:.3f} ce_v {cv:.3f} l1 {lr_:.4f} "
                      f"({minutes:.1f} min)", flush=True)
            if stop:
                break
    return last


def save(path, model, optimizer, step, config):
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
             "config": config}
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def schedule(config: dict, step: int, started: float) -> tuple[float, bool, bool]:
    """(minutes since ``started``, whether to stop (past ``max_minutes``), whether to save a
    checkpoint now: every ``checkpoint_every`` steps, at the last step and when stopping)."""
    minutes = (time.monotonic() - started) / 60
    stop = bool(config["max_minutes"] and minutes > config["max_minutes"])
    due = step % config["checkpoint_every"] == 0 or step == config["steps"] or stop
    return minutes, stop, due


def resume(last: Path, model, optimizer) -> int:
    """Load ``last`` into ``model`` and ``optimizer`` when it exists; its step (else 0). A
    checkpoint without optimizer state (``weights_only``) resumes with a fresh optimizer."""
    if not last.exists():
        return 0
    state = torch.load(last, map_location="cpu")
    model.load_state_dict(state["model"])
    if state.get("optimizer"):
        optimizer.load_state_dict(state["optimizer"])
    print(f"resumed from {last} at step {state['step']}", flush=True)
    return state["step"]


def weights_only(checkpoint, out) -> None:
    """A copy of a checkpoint without its optimizer state (a third of the size)."""
    state = torch.load(checkpoint, map_location="cpu")
    state["optimizer"] = None
    atomic_write(Path(out), lambda tmp: torch.save(state, tmp))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train the motion-flow network (002)")
    parser.add_argument("--config", help="JSON config (see the module docstring)")
    parser.add_argument("--weights-only", nargs=2, metavar=("CHECKPOINT", "OUT"),
                        help="write CHECKPOINT without its optimizer state to OUT instead")
    args = parser.parse_args(argv)
    if args.weights_only:
        weights_only(*args.weights_only)
    else:
        train(load_config(args.config))


if __name__ == "__main__":
    main()
