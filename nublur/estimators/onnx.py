"""ONNX Runtime wrapper of the basis kernel prediction network (000 section 5).

The model (``models_onnx/*.onnx``) comes with a model card (same stem, .json) that states its
input and output conventions and the sha256 of the file; a model whose hash differs from its
card is refused. Images of any size are padded (reflect) to the model's multiple; images larger
than ``max_side`` are estimated at reduced scale: the mixing maps are upsampled to full
resolution and the kernels magnified by the scale factor (bilinear, renormalised), so the
field's kernels grow to about 33 / scale pixels. Memory: the network runs on at most
``max_side``^2 pixels (peak process memory 0.95 GB int8 / 1.4 GB float32 at 1024 x 1024),
and the returned field holds B mixing maps at full resolution (25 x 12 M x 4 B = 1.2 GB at
12 MP).

The shipped model comes in two precisions: float32 (the exported network) and its int8 twin
(U-Net convolutions quantised, kernel head and mixing logits float32; about 1.5x faster on
2 CPU cores, held-out accuracy within 0.05 dB; both measured in
``benchmarks/bench_estimator.py``).
``load_estimator("kpn")`` takes int8 on the CPU and float32 with the CUDA provider.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np
from scipy.ndimage import zoom
from skimage.transform import resize

from .._validation import as_image, check_positive_int
from ..fields import BasisField

__all__ = ["load_onnx_estimator", "OnnxKernelEstimator", "DEFAULT_MODEL"]

MODELS_DIR = resources.files("nublur.models")
DEFAULT_MODEL = MODELS_DIR / "nublur_kpn_b25_k33.onnx"
PRECISIONS = ("auto", "float32", "int8")


class OnnxKernelEstimator:
    """Predicts a ``BasisField`` from one blurry photo."""

    def __init__(self, path, *, providers=None, max_side: int = 1024):
        self.max_side = check_positive_int(max_side, "max_side", minimum=16)
        self.path, self.card, self.session = checked_session(path, providers)
        self.gamma = float(self.card["input"]["gamma"])
        self.multiple = int(self.card["input"]["padding_multiple"])

    def _run(self, rgb: np.ndarray):
        h, w = rgb.shape[:2]
        x = network_input(rgb, self.gamma, self.multiple)
        kernels, mixing = self.session.run(None, {"input": x})
        return kernels[0], np.ascontiguousarray(mixing[0, :, :h, :w])

    def estimate(self, image, *, channel_axis=-1) -> BasisField:
        """Kernel field of ``image`` (display values in [0, 1]; gray or RGB)."""
        img, axis = as_image(image, "image", channel_axis)
        rgb = np.repeat(img[..., None], 3, axis=2) if axis is None else img
        if rgb.shape[2] != 3:
            raise ValueError(f"image must have 1 or 3 channels, got {rgb.shape[2]}")
        rgb = rgb.astype(np.float32)
        h, w = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        if scale < 1.0:
            small = resize(rgb, (max(16, round(h * scale)), max(16, round(w * scale))),
                           anti_aliasing=True).astype(np.float32)
            kernels, mixing = self._run(small)
            mixing = np.stack([resize(m, (h, w), order=1) for m in mixing]).astype(np.float32)
            mixing /= mixing.sum(axis=0)
            kernels = _magnify(kernels, 1.0 / scale)
        else:
            kernels, mixing = self._run(rgb)
        # softmax outputs: non-negative, unit sums up to float32 rounding (checked by the field)
        return BasisField(kernels.astype(np.float32), mixing, normalize=True)


def checked_session(path, providers=None):
    """(path, card, ONNX Runtime session) of a model file whose card (same stem, .json) is
    beside it and states the file's sha256; a missing card or another hash is refused."""
    import onnxruntime as ort

    path = path if isinstance(path, Traversable) else Path(path)
    if not path.is_file():
        raise ValueError(f"model file {str(path)!r} does not exist")
    card_path = path.parent / (path.name.rsplit(".", 1)[0] + ".json")
    if not card_path.is_file():
        raise ValueError(f"model card {str(card_path)!r} is missing")
    card = json.loads(card_path.read_text())
    model = path.read_bytes()  # read once: also works inside a zip
    digest = hashlib.sha256(model).hexdigest()
    if digest != card.get("sha256"):
        raise ValueError(f"{path.name}: sha256 {digest[:12]}... differs from its model "
                         f"card ({str(card.get('sha256'))[:12]}...); refusing to load")
    if providers is None:
        providers = _default_providers()
    return path, card, ort.InferenceSession(model, providers=providers)


def network_input(rgb: np.ndarray, gamma: float, multiple: int = 1) -> np.ndarray:
    """The network's (1, 3, H', W') float32 input for an (H, W, 3) display-range image.

    The card's transform ``clip(rgb, 0, 1) ** gamma - 0.5``, after padding (reflect) the
    bottom and right to multiples of ``multiple``; the same for inference and for export's
    int8 calibration.
    """
    h, w = rgb.shape[:2]
    padded = np.pad(rgb, ((0, -h % multiple), (0, -w % multiple), (0, 0)), mode="reflect")
    x = np.clip(padded, 0, 1).astype(np.float32) ** np.float32(gamma) - np.float32(0.5)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def _magnify(kernels: np.ndarray, factor: float) -> np.ndarray:
    k = kernels.shape[-1]
    size = int(np.ceil(k * factor)) | 1
    out = np.zeros((len(kernels), size, size))
    for i, kernel in enumerate(kernels):
        big = np.maximum(zoom(kernel, size / k, order=1), 0)
        c = (size - big.shape[0]) // 2
        out[i, c:c + big.shape[0], c:c + big.shape[1]] = big[:size - c, :size - c]
    return (out / out.sum(axis=(1, 2), keepdims=True)).astype(np.float32)


def load_onnx_estimator(name_or_path="kpn", *, precision: str = "auto",
                        **options) -> OnnxKernelEstimator:
    """The shipped estimator ("kpn") or an .onnx file with its model card beside it.

    Parameters
    ----------
    name_or_path : "kpn" or path
        The shipped model, or an .onnx file with its card (same stem, .json) beside it.
    precision : {"auto", "float32", "int8"}
        For "kpn": which of the shipped files to run. "auto" takes int8 when the session runs
        on the CPU only and float32 when the CUDA provider is used. Must stay "auto" for a path.
    **options
        ``providers`` and ``max_side`` of `OnnxKernelEstimator`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if name_or_path != "kpn":
        if precision != "auto":
            raise ValueError("precision applies to the shipped model 'kpn' only; a path names "
                             "its precision itself")
        return OnnxKernelEstimator(Path(name_or_path), **options)
    if precision == "auto":
        precision = "float32" if _uses_cuda(options.get("providers")) else "int8"
    int8 = MODELS_DIR / "nublur_kpn_b25_k33_int8.onnx"
    return OnnxKernelEstimator(int8 if precision == "int8" else DEFAULT_MODEL, **options)


def _default_providers() -> list[str]:
    """CUDA when ONNX Runtime has it, then the CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def _uses_cuda(providers) -> bool:
    if providers is None:
        providers = _default_providers()
    return any((p[0] if isinstance(p, tuple) else p) == "CUDAExecutionProvider"
               for p in providers)
