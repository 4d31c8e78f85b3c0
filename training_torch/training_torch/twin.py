"""Torch twin of nublur's basis operator (000 eq. 10), for the reblur loss.

v = sum_b m_b * (k_b conv u) with the "mirror" boundary (torch's reflect padding), evaluated by
FFT on the padded image; tested against ``nublur.blur(..., boundary="mirror")``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def basis_blur(sharp: torch.Tensor, kernels: torch.Tensor, mixing: torch.Tensor) -> torch.Tensor:
    """sharp (N, C, H, W), kernels (N, B, K, K) PSFs, mixing (N, B, H, W) -> (N, C, H, W)."""
    n, c, h, w = sharp.shape
    k = kernels.shape[-1]
    r = k // 2
    padded = F.pad(sharp, (r, r, r, r), mode="reflect")
    size = (h + 2 * r, w + 2 * r)
    spec_u = torch.fft.rfft2(padded, s=size)  # (N, C, ., .)
    spec_k = torch.fft.rfft2(kernels, s=size)  # (N, B, ., .)
    conv = torch.fft.irfft2(spec_u[:, :, None] * spec_k[:, None], s=size)  # (N, C, B, ., .)
    valid = conv[..., 2 * r:2 * r + h, 2 * r:2 * r + w]
    return (valid * mixing[:, None]).sum(dim=2)
