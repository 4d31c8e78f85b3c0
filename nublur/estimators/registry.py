"""``load_estimator``: every estimator by name, behind one interface
(``.estimate(image, *, channel_axis=-1) -> KernelField``).

Names: ``"classical"`` (training-free patch field, ``ClassicalEstimator``), ``"uniform"`` (the
same with one PSF for the whole image), ``"rotation"`` (the same patch field tied to one
camera-rotation trajectory, ``ClassicalEstimator(camera="rotation")``), ``"kpn"`` (the
shipped basis network), ``"flow"`` (the motion-flow network of 002, ``FlowEstimator``: a
``LinearMotionField``), ``"ufp"`` (003's latent-code network, ``UfpEstimator``: a
``LatentField`` of the flow kernel prior; refined as its ``GridField``; no trained model is
shipped yet, pass the path of an exported one), a path to an ``.onnx`` model with its card,
and any of these followed by ``"+refine"`` (the field refined on the image by
``refine_field``; not "flow", whose linear field ``refine_field`` would turn into general
kernels).
"""

from __future__ import annotations

import json
from pathlib import Path

from .classical import ClassicalEstimator, refine_field
from .flow import load_flow_estimator
from ..fields import LatentField
from .onnx import load_onnx_estimator
from .ufp import load_ufp_estimator

__all__ = ["load_estimator", "RefinedEstimator", "ESTIMATOR_NAMES"]

ESTIMATOR_NAMES = ("classical", "uniform", "rotation", "kpn", "flow", "ufp",
                   "classical+refine", "kpn+refine", "ufp+refine")


class RefinedEstimator:
    """Any estimator followed by ``refine_field`` on the same image (000 section 7)."""

    def __init__(self, base, *, gamma: float = 2.2, **refine_options):
        self.base = base
        self.gamma = gamma
        self.refine_options = refine_options

    def estimate(self, image, *, channel_axis=-1):
        field = self.base.estimate(image, channel_axis=channel_axis)
        if isinstance(field, LatentField):
            field = field.to_basis()
        if channel_axis is not None and getattr(image, "ndim", 3) == 2:
            channel_axis = None
        return refine_field(image, field, channel_axis=channel_axis, gamma=self.gamma,
                            **self.refine_options)


def load_estimator(name_or_path="classical", *, precision: str = "auto", **options):
    """The estimator named ``name_or_path`` (see the module docstring).

    Parameters
    ----------
    name_or_path : str or path
        "classical", "uniform", "rotation", "kpn", "flow", "ufp", PATH.onnx (a flow model
        when its card has a ``default_head``), or one of them but "flow" + "+refine".
    precision : {"auto", "float32", "int8"}
        For "kpn" only (see ``load_onnx_estimator``).
    **options
        Passed to the estimator: ``ClassicalEstimator`` options (``grid``, ``kernel_size``,
        ``gamma``, ``progress`` ...), ``OnnxKernelEstimator`` options (``providers``,
        ``max_side``), ``FlowEstimator`` options (``head``, ``providers``, ``max_side``) or
        ``UfpEstimator`` options (``prior``, ``providers``, ``max_side``).
    """
    name = str(name_or_path)
    if name == "flow+refine" or (name.endswith("+refine") and _is_flow_model(name[:-7])):
        raise ValueError("the flow estimator cannot be followed by +refine: its field is "
                         "linear motion, which refine_field does not keep")
    if name.endswith("+refine"):
        return RefinedEstimator(load_estimator(name[:-len("+refine")], precision=precision,
                                               **options))
    if name in ("classical", "uniform", "rotation"):
        if precision != "auto":
            raise ValueError("precision applies to the learned models only")
        if name == "uniform":
            options.setdefault("grid", (1, 1))
        if name == "rotation":
            options.setdefault("camera", "rotation")
        return ClassicalEstimator(**options)
    if name == "flow" or _is_flow_model(name):
        if precision != "auto":
            raise ValueError("precision applies to the kpn model only")
        return load_flow_estimator(None if name == "flow" else name, **options)
    if name == "ufp" or _card_role(name) == "ufp":
        if precision != "auto":
            raise ValueError("precision applies to the kpn model only")
        return load_ufp_estimator(None if name == "ufp" else name, **options)
    if name == "kpn" or name.endswith(".onnx") or isinstance(name_or_path, Path):
        return load_onnx_estimator(name_or_path, precision=precision, **options)
    raise ValueError(f"estimator must be one of {ESTIMATOR_NAMES} or a path to an .onnx "
                     f"model, got {name_or_path!r}")


def _card_role(name: str):
    """The ``role`` of the card beside an .onnx file (None without one)."""
    if not name.endswith(".onnx"):
        return None
    try:
        return json.loads(Path(name).with_suffix(".json").read_text()).get("role")
    except (OSError, ValueError, AttributeError):
        return None


def _is_flow_model(name: str) -> bool:
    """Whether ``name`` is an .onnx file whose card describes a flow network."""
    if not name.endswith(".onnx"):
        return False
    card = Path(name).with_suffix(".json")
    try:
        return "default_head" in json.loads(card.read_text())
    except (OSError, ValueError):
        return False
