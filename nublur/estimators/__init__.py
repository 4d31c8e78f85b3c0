"""Kernel-field estimators behind one interface, ``.estimate(image, *, channel_axis=-1)``:
classical blind estimation (no training) and networks run by ONNX Runtime (no torch).
``load_estimator(name)`` returns any of them."""

from .classical import (ClassicalEstimator, FieldEstimate, PsfEstimate, estimate_psf,
                        refine_field)
from .onnx import DEFAULT_MODEL, OnnxKernelEstimator, load_onnx_estimator
from .prior import KernelPrior, load_kernel_prior
from .registry import ESTIMATOR_NAMES, RefinedEstimator, load_estimator
from .ufp import UfpEstimator, load_ufp_estimator

__all__ = ["load_estimator", "ESTIMATOR_NAMES", "OnnxKernelEstimator", "load_onnx_estimator",
           "DEFAULT_MODEL", "ClassicalEstimator", "RefinedEstimator", "estimate_psf",
           "refine_field", "PsfEstimate", "FieldEstimate", "KernelPrior", "load_kernel_prior",
           "UfpEstimator", "load_ufp_estimator"]
