"""IRC-Net inference (001 section 3.2): ADMM-IRC unrolled with trained per-stage parameters.

Stage t of ``stages`` (001 eqs. 4, 5, 15, with the factored IRC step of ``admm_irc``):

    z    <- psi_t(G x + beta)      (soft thresholding at lam_t / rho_t plus a trained odd
                                    piecewise-linear correction, ``shrink``)
    x    <- x + tau c_{t,s} S(H^T y + rho_t G^T (z - beta) - (H^T H + rho_t G^T G) x),
            s = 1 .. irc_steps
    beta <- beta + G x - z

S and tau are ``admm_irc(step="fixed")``'s step operator and damping for a
``LinearMotionField`` at the base penalty (the blended LUT filters of 001 eq. 17); lam_t,
rho_t and the step scales c_{t,s} come from a parameter file trained by
``training_torch.train_ircnet`` (torch is never imported here). With lam_t = lam,
rho_t = rho and c = 1 this is ``admm_irc(step="fixed")`` on a spatially varying field.

Files (in ``nublur.models``): ``NAME.params.json`` (the parameters) and ``NAME.json`` (the card:
its sha256, training data, measured figures). A parameter file whose hash differs from its
card, or whose shapes or values are not valid, is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np

from .admm import _finish, _IRCUpdate, _prepare, _Problem, shrink as soft_threshold
from ..fields import LinearMotionField

__all__ = ["IRCNetSolver", "IRCNetParameters", "load_solver", "DEFAULT_IRCNET"]

DEFAULT_IRCNET = "nublur_ircnet_s5t2"
_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class IRCNetParameters:
    """Per-stage penalties and step scales of IRC-Net.

    Attributes
    ----------
    lam, rho : ndarray (stages,)
        Prior weight and ADMM penalty of each stage (positive).
    step_scale : ndarray (stages, irc_steps)
        Factors on ``admm_irc``'s damping for each IRC step (positive).
    base_rho : float
        Penalty the step operator S and its damping are built for.
    shrink_coeffs : ndarray (stages, knots)
        Coefficients of the shrinkage's hat functions (``shrink``); (stages, 0) is soft
        thresholding.
    """

    lam: np.ndarray
    rho: np.ndarray
    step_scale: np.ndarray
    base_rho: float = 0.1
    shrink_coeffs: np.ndarray | None = None

    def __post_init__(self):
        lam, rho = np.asarray(self.lam, float), np.asarray(self.rho, float)
        scale = np.asarray(self.step_scale, float)
        if lam.ndim != 1 or rho.shape != lam.shape or scale.ndim != 2 \
                or scale.shape[0] != lam.shape[0] or lam.size == 0 or scale.shape[1] == 0:
            raise ValueError("IRC-Net parameters: lam and rho must be (stages,) and step_scale "
                             f"(stages, irc_steps), got {lam.shape}, {rho.shape}, {scale.shape}")
        for name, value in (("lam", lam), ("rho", rho), ("step_scale", scale),
                            ("base_rho", np.asarray(self.base_rho, float))):
            if not np.all(np.isfinite(value)) or np.any(value <= 0):
                raise ValueError(f"IRC-Net parameters: {name} must be finite and positive")
        coeffs = np.zeros((lam.shape[0], 0)) if self.shrink_coeffs is None else \
            np.asarray(self.shrink_coeffs, float)
        if coeffs.ndim != 2 or coeffs.shape[0] != lam.shape[0] or not np.all(np.isfinite(coeffs)):
            raise ValueError("IRC-Net parameters: shrink_coeffs must be finite, (stages, knots), "
                             f"got {coeffs.shape}")
        object.__setattr__(self, "shrink_coeffs", coeffs)
        object.__setattr__(self, "lam", lam)
        object.__setattr__(self, "rho", rho)
        object.__setattr__(self, "step_scale", scale)

    @property
    def stages(self) -> int:
        return int(self.lam.shape[0])

    @property
    def irc_steps(self) -> int:
        return int(self.step_scale.shape[1])

    def to_json(self) -> dict:
        return {"format": _FORMAT, "lam": self.lam.tolist(), "rho": self.rho.tolist(),
                "step_scale": self.step_scale.tolist(), "base_rho": float(self.base_rho),
                "shrink_coeffs": self.shrink_coeffs.tolist()}

    @classmethod
    def from_json(cls, obj: dict) -> "IRCNetParameters":
        if obj.get("format") != _FORMAT:
            raise ValueError(f"IRC-Net parameters: format {obj.get('format')!r} is not "
                             f"{_FORMAT}")
        coeffs = obj.get("shrink_coeffs")
        return cls(np.asarray(obj["lam"]), np.asarray(obj["rho"]),
                   np.asarray(obj["step_scale"]), float(obj["base_rho"]),
                   None if coeffs is None else np.asarray(coeffs, float))


class IRCNetSolver:
    """Non-blind deblurring with trained IRC-Net parameters (``load_solver("ircnet")``).

    Call as ``solve(image, field, *, boundary="reflect", channel_axis=None, support=None,
    filter_rho=1e-2, lookup="softmax")``: ``field`` a ``LinearMotionField`` (lengths up to
    35 px; a uniform linear PSF as a constant one), the other arguments as in ``admm_irc``.
    Every field takes the spatially varying path of ``admm_irc(step="fixed")`` (blended LUT
    filters, symmetrised step, power estimate on the problem itself), the one the parameters were
    trained on: with the translation-invariant shortcut or a general PSF's own filter the
    trained step scales are not stable (measured: 17.4 dB against 25.2 for untrained ADMM-IRC
    on uniform linear PSFs, ``benchmarks/bench_ircnet.py``).
    """

    def __init__(self, parameters: IRCNetParameters, card: dict | None = None):
        self.parameters = parameters
        self.card = card or {}

    def __call__(self, image, field, *, boundary: str = "reflect", channel_axis=None,
                 support: int | None = None, filter_rho: float = 1e-2,
                 lookup: str = "softmax"):
        if lookup not in ("softmax", "nearest"):
            raise ValueError(f"lookup must be 'softmax' or 'nearest', got {lookup!r}")
        if not isinstance(field, LinearMotionField):
            raise TypeError("field must be a LinearMotionField (IRC-Net's parameters are trained "
                            "on spatially varying linear motion; use admm_irc for a PSF), got "
                            f"{type(field).__name__}")
        field, boundary, channels, axis = _prepare(image, field, boundary, channel_axis,
                                                   (LinearMotionField,))
        p = self.parameters
        outs, update = [], None
        for c in range(channels.shape[-1]):
            y = np.ascontiguousarray(channels[..., c])
            problem = _Problem(field, y.shape, y.dtype, boundary)
            if update is None:
                update = _IRCUpdate(problem, p.base_rho, p.irc_steps, support, filter_rho,
                                    lookup, invariant=False)
            update.start(problem, y)
            outs.append(_unrolled(y, problem, update, p))
        return _finish(outs, axis, channel_axis)


def shrink(v: np.ndarray, threshold: float, coeffs: np.ndarray) -> np.ndarray:
    """Soft thresholding at ``threshold`` plus threshold x sum_j c_j (hat_j(v / threshold) -
    hat_j(-v / threshold)), hat_j the unit hat function at j = 1 .. len(coeffs): an odd
    piecewise-linear shrinkage (the small family of 001 section 3.2's learned shrinkage)."""
    out = soft_threshold(v, threshold, "l1")
    u = v / threshold
    for j, c in enumerate(coeffs, start=1):
        if c:
            hat = np.maximum(1 - np.abs(u - j), 0) - np.maximum(1 - np.abs(u + j), 0)
            out = out + (threshold * c) * hat
    return out


def _unrolled(y, problem, update, p: IRCNetParameters):
    x = y.copy()
    beta = [np.zeros_like(y) for _ in problem.grads]
    for t in range(p.stages):
        lam, rho = p.lam[t], p.rho[t]
        z = [shrink(g + b, lam / rho, p.shrink_coeffs[t])
             for g, b in zip(problem.grad(x), beta)]
        targets = [np.sqrt(rho) * (zi - bi) for zi, bi in zip(z, beta)]
        x = update(x, targets, rho, p.step_scale[t])
        beta = [b + g - zi for b, g, zi in zip(beta, problem.grad(x), z)]
    return x


def load_solver(name: str = "ircnet", *, path=None) -> IRCNetSolver:
    """A trained solver by name: ``"ircnet"`` (the shipped ``DEFAULT_IRCNET``), or any
    parameter file given by ``path`` (``NAME.params.json`` with its card ``NAME.json``
    beside it)."""
    if name != "ircnet":
        raise ValueError(f"name must be 'ircnet', got {name!r}")
    if path is None:
        path = resources.files("nublur.models") / f"{DEFAULT_IRCNET}.params.json"
    elif not isinstance(path, Traversable):
        path = Path(path)
    if not path.is_file():
        raise ValueError(f"IRC-Net parameter file {str(path)!r} does not exist")
    stem = path.name[:-len(".params.json")] if path.name.endswith(".params.json") else None
    if stem is None:
        raise ValueError(f"path must name a NAME.params.json file, got {path.name!r}")
    card_path = path.parent / f"{stem}.json"
    if not card_path.is_file():
        raise ValueError(f"IRC-Net card {str(card_path)!r} is missing")
    payload = path.read_bytes()
    card = json.loads(card_path.read_text())
    digest = hashlib.sha256(payload).hexdigest()
    if digest != card.get("sha256"):
        raise ValueError(f"{path.name}: sha256 {digest[:12]}... differs from its card "
                         f"({str(card.get('sha256'))[:12]}...); refusing to load")
    return IRCNetSolver(IRCNetParameters.from_json(json.loads(payload)), card)
