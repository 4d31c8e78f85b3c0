"""Kernel-field estimators run by ONNX Runtime (no torch): ``load_estimator("kpn")``."""

from .onnx import DEFAULT_MODEL, OnnxKernelEstimator, load_estimator

__all__ = ["load_estimator", "OnnxKernelEstimator", "DEFAULT_MODEL"]
