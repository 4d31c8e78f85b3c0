"""IRC-Net (001 section 3.2): ADMM with IRC x-updates unrolled into stages with trainable
penalties, shrinkage thresholds and step sizes, on nublur's operators (``irc_twin``).

Stage t (001 eqs. 4, 5, 15 with the factored IRC step of ``nublur.admm_irc``):

    z    <- shrink(G x + beta, lam_t / rho_t)
    x    <- x + tau_{t,s} S(H^T y + rho_t G^T (z - beta) - (H^T H + rho_t G^T G) x),
            s = 1 .. T (IRC steps)
    beta <- beta + G x - z

S is nublur's IRC step operator for the field (the blended, compressed LUT filters of 001
eq. 17 for a linear motion field, the shared filter of a uniform PSF, border scaled;
``prepare``). With its parameters at their initial values (lam_t = lam, rho_t = rho,
tau_{t,s} = nublur's damping) the network computes ``nublur.admm_irc`` exactly (tested).

Partial (issue "IRC-Net"): the inverse filters themselves are not yet trainable parameters,
and nothing has been trained or exported.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import nn

from nublur.operators.blur import as_field

from .irc_twin import (GatherBlur, Padding, filter_adjoint, filter_forward,
                       finite_difference, finite_difference_adjoint)

__all__ = ["IRCNet", "Prepared", "prepare", "parameters_of", "export"]


@dataclasses.dataclass
class Prepared:
    """A field's operators for IRC-Net on one image shape (``prepare``)."""

    blur: GatherBlur
    padding: Padding
    filters: torch.Tensor
    mixing: torch.Tensor | None
    root: torch.Tensor
    damping: float
    symmetrize: bool
    boundary: str


def prepare(field, shape, *, rho: float = 0.1, boundary: str = "reflect",
            support: int | None = None, filter_rho: float = 1e-2, lookup: str = "softmax",
            num_irc: int = 2, invariant: bool | None = None,
            dtype=torch.float64) -> Prepared:
    """The operators ``nublur.admm_irc`` builds for ``field`` on ``shape`` images, as tensors:
    the gather H, the IRC step filters with their per-pixel mixing and border scale, the
    damping (from nublur's own step rule). ``invariant=False`` takes the spatially varying
    path for a constant field too (what ``nublur.load_solver("ircnet")`` does)."""
    from nublur.solvers.admm import _IRCUpdate, _Problem

    field = as_field(field, "field")
    problem = _Problem(field, tuple(shape), np.dtype(np.float64), boundary)
    update = _IRCUpdate(problem, rho, num_irc, support, filter_rho, lookup, invariant)
    step = update.precondition
    filters = torch.as_tensor(step.filters.filters, dtype=dtype)
    mixing = None if step.filters.mixing is None else torch.as_tensor(step.filters.mixing,
                                                                       dtype=dtype)
    return Prepared(GatherBlur(field, shape, boundary, dtype),
                    Padding(shape, filters.shape[-1] // 2, step.filters.boundary), filters,
                    mixing,
                    torch.as_tensor(step.root, dtype=dtype), float(update.damping),
                    bool(step.symmetrize), boundary)


def _grad(x, boundary):
    return [finite_difference(x, axis, boundary) for axis in (0, 1)]


def _grad_t(vs, boundary):
    return sum(finite_difference_adjoint(v, axis, boundary) for axis, v in enumerate(vs))


def _step_operator(v, op: Prepared):
    """S v = s^1/2 M s^1/2 v (M symmetrised for a spatially varying blend)."""
    u = op.root * v
    forward = filter_forward(u, op.filters, op.mixing, op.padding)
    if not op.symmetrize:
        return op.root * forward
    return op.root * (0.5 * (forward + filter_adjoint(u, op.filters, op.mixing, op.padding)))


def soft_shrink(v, threshold):
    return torch.sign(v) * torch.clamp(v.abs() - threshold, min=0)


def shrink(v, threshold, coeffs):
    """Soft thresholding plus an odd piecewise-linear correction: hat functions at
    1, 2, .. len(coeffs) thresholds (``nublur.solvers.ircnet.shrink``)."""
    out = soft_shrink(v, threshold)
    if coeffs.numel() == 0:
        return out
    knots = torch.arange(1, coeffs.numel() + 1, dtype=v.dtype)
    u = (v / threshold)[..., None]
    hats = torch.clamp(1 - (u - knots).abs(), min=0) - torch.clamp(1 - (u + knots).abs(), min=0)
    return out + threshold * (hats * coeffs).sum(dim=-1)


class IRCNet(nn.Module):
    """ADMM-IRC unrolled: ``stages`` ADMM iterations of ``irc_steps`` IRC steps each.

    Parameters (trainable, per stage): log lam_t, log rho_t, a log-scale of each IRC step on
    nublur's damping, and the coefficients of ``knots`` hat functions of the shrinkage
    (``shrink``); all start at the untrained algorithm's values (soft thresholding).
    """

    def __init__(self, stages: int = 5, irc_steps: int = 2, lam: float = 0.003,
                 rho: float = 0.1, knots: int = 0):
        super().__init__()
        self.stages, self.irc_steps = stages, irc_steps
        self.shrink_coeffs = nn.Parameter(torch.zeros((stages, knots), dtype=torch.float64))
        self.log_lam = nn.Parameter(torch.full((stages,), math.log(lam), dtype=torch.float64))
        self.log_rho = nn.Parameter(torch.full((stages,), math.log(rho), dtype=torch.float64))
        self.log_step = nn.Parameter(torch.zeros((stages, irc_steps), dtype=torch.float64))

    def forward(self, y: torch.Tensor, op: Prepared) -> torch.Tensor:
        """y (..., H, W) blurry channels -> restored (..., H, W)."""
        b = op.boundary
        hty = op.blur.adjoint(y)
        x = y.clone()
        beta = [torch.zeros_like(y), torch.zeros_like(y)]
        for t in range(self.stages):
            lam, rho = self.log_lam[t].exp(), self.log_rho[t].exp()
            gx = _grad(x, b)
            z = [shrink(g + bt, lam / rho, self.shrink_coeffs[t]) for g, bt in zip(gx, beta)]
            rhs = hty + rho * _grad_t([zi - bi for zi, bi in zip(z, beta)], b)
            for s in range(self.irc_steps):
                normal = op.blur.adjoint(op.blur.forward(x)) + rho * _grad_t(_grad(x, b), b)
                tau = op.damping * self.log_step[t, s].exp()
                x = x + tau * _step_operator(rhs - normal, op)
            gx = _grad(x, b)
            beta = [bt + g - zi for bt, g, zi in zip(beta, gx, z)]
        return x


def parameters_of(model: IRCNet, base_rho: float = 0.1):
    """The trained values as ``nublur.solvers.ircnet.IRCNetParameters``."""
    from nublur.solvers.ircnet import IRCNetParameters

    with torch.no_grad():
        return IRCNetParameters(model.log_lam.exp().numpy(), model.log_rho.exp().numpy(),
                                model.log_step.exp().numpy(), base_rho,
                                model.shrink_coeffs.numpy().copy())


def export(model: IRCNet, out_dir, name: str, card: dict, base_rho: float = 0.1):
    """Write ``NAME.params.json`` and its card ``NAME.json`` (with the payload's sha256) into
    ``out_dir``, each atomically; returns the payload path."""
    import hashlib
    import json
    from pathlib import Path

    from nublur.io import atomic_write, write_json

    out_dir = Path(out_dir)
    payload = json.dumps(parameters_of(model, base_rho).to_json(), indent=1).encode()
    path = out_dir / f"{name}.params.json"
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(payload))
    card = dict(card, name=name, sha256=hashlib.sha256(payload).hexdigest(),
                stages=model.stages, irc_steps=model.irc_steps)
    write_json(out_dir / f"{name}.json", card, indent=1)
    return path
