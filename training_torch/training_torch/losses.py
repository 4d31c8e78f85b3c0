"""Losses of 000 section 5.1: reblur loss (eq. 5) and kernel loss (eq. 6)."""

from __future__ import annotations

import torch

from .twin import basis_blur

_A = 50.0


def smooth_clip(x):
    """R of 000 eq. 4, as nublur.smooth_clip."""
    return x - torch.nn.functional.softplus(_A * (x - 1.0)) / _A


def reblur_loss(sharp_linear, blurry, kernels, mixing, weights, gamma: float):
    """sum_i w_i (v_i - v_i^GT)^2 with v = R(H u) ** (1 / gamma) (000 eqs. 3, 5).

    ``weights`` (N, H, W) are 1 / (pixels of the pixel's segment), normalised per image.
    """
    reblurred = smooth_clip(basis_blur(sharp_linear, kernels, mixing)).clamp_min(1e-8)
    reblurred = reblurred ** (1.0 / gamma)
    return ((reblurred - blurry) ** 2).mean(dim=1).mul(weights).sum(dim=(1, 2)).mean()


def kernel_loss(kernels, mixing, rows, cols, true_kernels, weights, p: int):
    """sum_i w_i || sum_b m_b(i) k_b - k_i^GT ||_p over sampled pixels (000 eq. 6).

    rows, cols (N, S) index S sampled pixels per image; true_kernels (N, S, K, K).
    """
    n = kernels.shape[0]
    idx = torch.arange(n)[:, None]
    m = mixing[idx, :, rows, cols]  # (N, S, B)
    predicted = torch.einsum("nsb,nbkl->nskl", m, kernels)
    diff = (predicted - true_kernels).abs()
    per_pixel = (diff.pow(2) if p == 2 else diff).sum(dim=(2, 3))
    w = weights[idx, rows, cols]
    return (per_pixel * w).sum(dim=1).div(w.sum(dim=1)).mean()
