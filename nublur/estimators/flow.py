"""Motion-flow estimation by a fully convolutional network (002 section 4, with 001 section
3.1's regression of the motion per pixel), run by ONNX Runtime.

The network (``models_onnx/nublur_flow_*.onnx``, trained in ``training_torch.train_flow``)
sees the gray blurry image (display values - 0.5) and predicts at 1/4 resolution:

* 002's classifiers: softmax scores of the horizontal motion u in {0..36} and the vertical
  motion v in {-36..36} after the fold u >= 0 (002 eq. 5);
* a regression of the motion in doubled-angle form, (l cos 2a, l sin 2a) / 36, continuous
  where the fold flips the sign of v, and of the length l / 36 alone.

``head`` chooses the decoding: "classes" (002: the most probable u and v per pixel),
"regression" (the direction of the doubled-angle regression, the length of the length head),
or "mean" (the two averaged in doubled-angle form). Either way the doubled-angle maps are
upsampled bilinearly to full resolution, where length and angle follow. Images larger than
``max_side`` are estimated at reduced scale and the lengths magnified.

Confidence: an L1-trained doubled-angle regression shrinks towards zero where the direction
is uncertain, while the length head does not, so their ratio measures how sure the network
is of the direction (1: sure, 0: any direction); ``FlowEstimate.confidence`` is its median.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from skimage.transform import resize

from .._validation import as_image, check_positive_int
from ..fields import LinearMotionField
from .onnx import MODELS_DIR, checked_session

__all__ = ["FlowEstimator", "FlowEstimate", "load_flow_estimator", "HEADS", "FLOW_MODEL"]

HEADS = ("classes", "regression", "mean")
FLOW_MODEL = MODELS_DIR / "nublur_flow_w16.onnx"
_LUMA = np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)


@dataclasses.dataclass(frozen=True)
class FlowEstimate:
    """Diagnostics of ``FlowEstimator.estimate(..., return_info=True)``.

    Attributes
    ----------
    confidence : float
        Median direction certainty, in [0, 1].
    blur_radius : float
        Median radius of gyration of the estimated kernels, at the resolution the network ran
        on (a line of length l has radius l / sqrt(12)), as ``nublur.policy.blur_radius``.
    scale : float
        The resolution the network ran on, relative to the image.
    certainty : ndarray (H, W)
        Per-pixel direction certainty: |doubled-angle regression| / length head, in [0, 1].
    disagreement : ndarray (H, W)
        Per-pixel distance between the classifier's and the regression's motions
        (doubled-angle form, px).
    """

    confidence: float
    blur_radius: float
    scale: float
    certainty: np.ndarray
    disagreement: np.ndarray


class FlowEstimator:
    """Predicts a ``LinearMotionField`` from one blurry photo (002 section 4.1).

    Parameters
    ----------
    path : path
        An .onnx flow model with its card beside it (default: the shipped model).
    head : {"classes", "regression", "mean"}, optional
        Decoding; None takes the card's ``default_head`` (chosen on held-out data).
    providers : list, optional
        ONNX Runtime providers (default: CUDA when available, then the CPU).
    max_side : int
        Larger images are estimated at reduced scale.
    """

    def __init__(self, path=FLOW_MODEL, *, head=None, providers=None, max_side: int = 1024):
        if head is not None and head not in HEADS:
            raise ValueError(f"head must be one of {HEADS} or None, got {head!r}")
        self.max_side = check_positive_int(max_side, "max_side", minimum=32)
        self.path, self.card, self.session = checked_session(path, providers)
        self.head = head or self.card["default_head"]
        self.multiple = int(self.card["input"]["padding_multiple"])
        self.stride = int(self.card["output"]["stride"])
        self.max_component = int(self.card["output"]["max_component"])

    def estimate(self, image, *, channel_axis=-1, return_info: bool = False):
        """Motion field of ``image`` (display values in [0, 1]; gray or RGB).

        Returns
        -------
        LinearMotionField, or (LinearMotionField, FlowEstimate) with ``return_info``.
        """
        img, axis = as_image(image, "image", channel_axis)
        if axis is not None and img.shape[2] not in (1, 3):
            raise ValueError(f"image must have 1 or 3 channels, got {img.shape[2]}")
        if min(img.shape[:2]) < 16:
            raise ValueError(f"image must be at least 16 x 16 pixels, got {img.shape[:2]}")
        gray = _gray(img, axis)
        h, w = gray.shape
        scale = min(1.0, self.max_side / max(h, w))
        if scale < 1.0:
            gray = resize(gray, (round(h * scale), round(w * scale)), anti_aliasing=True)
        maps = self._maps(gray)
        maps = {name: _upsampled(m, (h, w)) / scale for name, m in maps.items()}
        field = _field(maps[self.head])
        if not return_info:
            return field
        return field, _diagnostics(field, maps, scale)

    def _maps(self, gray: np.ndarray) -> dict:
        """Doubled-angle motion (2, h', w') in px of each decoding, and the raw regression and
        length heads, at 1/stride resolution."""
        h, w = gray.shape
        m = self.multiple
        padded = np.pad(gray, ((0, -h % m), (0, -w % m)), mode="symmetric")
        x = (np.clip(padded, 0, 1) - 0.5).astype(np.float32)[None, None]
        (out,) = self.session.run(None, {"input": x})
        s = self.stride
        out = out[0, :, :-(-h // s), :-(-w // s)].astype(np.float64)
        c = self.max_component
        u = np.argmax(out[:c + 1], axis=0).astype(np.float64)
        v = np.argmax(out[c + 1:3 * c + 2], axis=0).astype(np.float64) - c
        classes = doubled_angle(u, v)
        motion = out[3 * c + 2:3 * c + 4] * c
        length = np.maximum(out[3 * c + 4:3 * c + 5] * c, 0)
        regression = motion / np.maximum(np.hypot(*motion), 1e-9) * length
        return {"classes": classes, "regression": regression,
                "mean": (classes + regression) / 2, "motion": motion, "length": length}


def doubled_angle(u, v):
    """(l cos 2a, l sin 2a) of a flow (u, v): (u^2 - v^2, 2 u v) / l, the same for (u, v)
    and (-u, -v)."""
    length = np.maximum(np.hypot(u, v), 1e-12)
    return np.stack([(u * u - v * v) / length, 2 * u * v / length])


def _gray(img: np.ndarray, axis) -> np.ndarray:
    if axis is None:
        return img.astype(np.float32)
    if img.shape[2] == 1:
        return img[..., 0].astype(np.float32)
    return img.astype(np.float32) @ _LUMA


def _upsampled(maps: np.ndarray, shape) -> np.ndarray:
    """Bilinear, pixel centres aligned (block j of s pixels has its centre at s j + (s-1)/2)."""
    return np.stack([resize(m, shape, order=1, mode="edge", anti_aliasing=False)
                     for m in maps])


def _field(maps: np.ndarray) -> LinearMotionField:
    length = np.hypot(maps[0], maps[1])
    angle = np.mod(np.degrees(np.arctan2(maps[1], maps[0]) / 2), 180.0)
    return LinearMotionField(length, angle)


def _diagnostics(field, maps, scale) -> FlowEstimate:
    certainty = np.clip(np.hypot(*maps["motion"]) / np.maximum(maps["length"][0], 0.5), 0, 1)
    disagreement = np.hypot(*(maps["classes"] - maps["regression"]))
    radius = float(np.median(field.length) * scale / np.sqrt(12))
    return FlowEstimate(float(np.median(certainty)), radius, scale, certainty, disagreement)


def load_flow_estimator(path=None, **options) -> FlowEstimator:
    """The shipped flow network (``path=None``) or an .onnx flow model with its card."""
    return FlowEstimator(FLOW_MODEL if path is None else path, **options)
