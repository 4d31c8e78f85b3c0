"""``load_estimator``: every estimator by name, behind one interface
(``.estimate(image, *, channel_axis=-1) -> KernelField``).

Names: ``"classical"`` (training-free patch field, ``ClassicalEstimator``), ``"uniform"`` (the
same with one PSF for the whole image), ``"kpn"`` (the shipped basis network), a path to an
``.onnx`` model with its card, and any of these followed by ``"+refine"`` (the field refined
on the image by ``refine_field``).
"""

from __future__ import annotations

from pathlib import Path

from .classical import ClassicalEstimator, refine_field
from .onnx import load_onnx_estimator

__all__ = ["load_estimator", "RefinedEstimator", "ESTIMATOR_NAMES"]

ESTIMATOR_NAMES = ("classical", "uniform", "kpn", "classical+refine", "kpn+refine")


class RefinedEstimator:
    """Any estimator followed by ``refine_field`` on the same image (000 section 7)."""

    def __init__(self, base, *, gamma: float = 2.2, **refine_options):
        self.base = base
        self.gamma = gamma
        self.refine_options = refine_options

    def estimate(self, image, *, channel_axis=-1):
        field = self.base.estimate(image, channel_axis=channel_axis)
        if channel_axis is not None and getattr(image, "ndim", 3) == 2:
            channel_axis = None
        return refine_field(image, field, channel_axis=channel_axis, gamma=self.gamma,
                            **self.refine_options)


def load_estimator(name_or_path="classical", *, precision: str = "auto", **options):
    """The estimator named ``name_or_path`` (see the module docstring).

    Parameters
    ----------
    name_or_path : str or path
        "classical", "uniform", "kpn", PATH.onnx, or one of them + "+refine".
    precision : {"auto", "float32", "int8"}
        For "kpn" only (see ``load_onnx_estimator``).
    **options
        Passed to the estimator: ``ClassicalEstimator`` options (``grid``, ``kernel_size``,
        ``gamma``, ``progress`` ...) or ``OnnxKernelEstimator`` options (``providers``,
        ``max_side``).
    """
    name = str(name_or_path)
    if name.endswith("+refine"):
        return RefinedEstimator(load_estimator(name[:-len("+refine")], precision=precision,
                                               **options))
    if name in ("classical", "uniform"):
        if precision != "auto":
            raise ValueError("precision applies to the learned models only")
        if name == "uniform":
            options.setdefault("grid", (1, 1))
        return ClassicalEstimator(**options)
    if name == "kpn" or name.endswith(".onnx") or isinstance(name_or_path, Path):
        return load_onnx_estimator(name_or_path, precision=precision, **options)
    raise ValueError(f"estimator must be one of {ESTIMATOR_NAMES} or a path to an .onnx "
                     f"model, got {name_or_path!r}")
