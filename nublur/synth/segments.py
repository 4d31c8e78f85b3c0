"""Segment-wise camera shake (000 section 4, appendix A.3, Algorithm 1)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_fill_holes, gaussian_filter, label

from .._validation import as_image
from ..fields import BasisField
from ..operators.blur import blur

__all__ = ["random_masks", "segment_blur"]


def random_masks(shape, rng: np.random.Generator, max_objects: int = 3,
                 min_size: int = 400) -> list[np.ndarray]:
    """Procedural object masks (blobs of smoothed noise), 0 to ``max_objects`` of them.

    Each mask is the largest connected region of a thresholded smooth random field in a random
    window, holes filled, at least ``min_size`` pixels (000 keeps up to 3 objects of at least
    400 px). Masks do not overlap (later ones are cut out of earlier ones, then re-checked).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    h, w = shape
    taken = np.zeros(shape, dtype=bool)
    masks = []
    for _ in range(int(rng.integers(0, max_objects + 1))):
        for _attempt in range(5):
            blob = _blob(shape, rng) & ~taken
            if blob.sum() >= min_size:
                masks.append(blob)
                taken |= blob
                break
    return masks


def _blob(shape, rng):
    h, w = shape
    bh, bw = int(rng.integers(h // 4, h // 2 + 1)), int(rng.integers(w // 4, w // 2 + 1))
    top, left = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    field = gaussian_filter(rng.standard_normal((bh, bw)), min(bh, bw) / 6)
    yy, xx = np.mgrid[-1:1:bh * 1j, -1:1:bw * 1j]
    field = field / (field.std() + 1e-12) - 2.0 * (yy**2 + xx**2)  # favour a central blob
    labels, count = label(field > 0)
    out = np.zeros(shape, dtype=bool)
    if count == 0:
        return out
    sizes = np.bincount(labels.ravel())[1:]
    out[top:top + bh, left:left + bw] = binary_fill_holes(labels == 1 + int(np.argmax(sizes)))
    return out


def segment_blur(image, masks, kernels, *, boundary: str = "reflect", channel_axis=None):
    """Blur each region with its own kernel and blend (000 Algorithm 1).

    Region 0 is the background (1 minus the union of ``masks``), region r >= 1 is ``masks[r-1]``;
    ``kernels`` has one PSF per region (len(masks) + 1). Every region mask is smoothed by its
    own kernel, m_r * k_r, as in Algorithm 1; we then normalise the smoothed masks to sum to 1
    at every pixel (Algorithm 1 leaves that sum slightly off 1 near region borders), so that
    the blurry image is exactly ``blur(image, field)`` with the returned BasisField. Kernels
    displaced away from each other can leave a gap along a border that no smoothed mask
    covers; there a pixel keeps its own region's kernel (each smoothed mask gets 1e-9 of its
    region indicator added before normalising).

    Returns
    -------
    dict with "sharp", "blurry", "kernels" (R, K, K), "masks" (R, H, W region masks, background
    first) and "field" (the BasisField with the normalised smoothed masks as mixing).
    """
    img, axis = as_image(image, "image", channel_axis)
    kernels = np.asarray(kernels, dtype=np.float64)
    masks = [np.asarray(m, dtype=bool) for m in masks]
    if kernels.ndim != 3 or len(kernels) != len(masks) + 1:
        raise ValueError(f"kernels must be (len(masks) + 1, K, K) = ({len(masks) + 1}, K, K), got "
                         f"{kernels.shape}")
    for i, m in enumerate(masks):
        if m.shape != img.shape[:2]:
            raise ValueError(f"masks[{i}] has shape {m.shape}, expected {img.shape[:2]}")
    union = np.zeros(img.shape[:2], dtype=bool)
    regions = []
    for m in masks:
        regions.append(m & ~union)
        union |= m
    regions.insert(0, ~union)
    regions = np.stack(regions).astype(np.float64)
    smooth = np.stack([blur(r, k, boundary=boundary) for r, k in zip(regions, kernels)])
    smooth = np.maximum(smooth, 0) + 1e-9 * regions
    mixing = smooth / smooth.sum(axis=0)
    field = BasisField(kernels, mixing.astype(img.dtype) if img.dtype == np.float32 else mixing,
                       normalize=True)
    blurry = blur(image, field, boundary=boundary, channel_axis=channel_axis)
    return {"sharp": image, "blurry": blurry, "kernels": field.kernels, "masks": regions,
            "field": field}

