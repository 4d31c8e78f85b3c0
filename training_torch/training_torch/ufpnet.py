"""003's kernel-estimation network, sized for CPU training: latent codes of the flow kernel
prior, and their standard deviations, on a grid of cells (003 section 3.2, Fig. 3a).

The encoder is the motion-flow network's (``flownet``: image and differences in, 4 poolings,
dilated context at 1/16); an average pooling brings it to one cell per ``CELL`` x ``CELL``
pixels, where a 1 x 1 head gives L = K^2 code channels and L sigma channels. 003 predicts a
code at every pixel; a cell grid keeps the field small (``nublur.LatentField`` interpolates
the decoded kernels between cell centres). At initialisation the code head is zero, so every
cell starts at the prior's mode.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .flownet import _block, with_differences

CELL = 32  # pixels per cell; input sizes must be multiples of it


class UfpNet(nn.Module):
    """Gray blurry image - 0.5, (N, 1, H, W) -> codes (N, L, H/32, W/32), sigma (same)."""

    def __init__(self, latent_dim: int = 361, width: int = 16):
        super().__init__()
        w = width
        self.width, self.latent_dim = width, latent_dim
        self.enc1 = _block(3, w)
        self.enc2 = _block(w, 2 * w)
        self.enc3 = _block(2 * w, 4 * w)
        self.enc4 = _block(4 * w, 6 * w)
        self.enc5 = _block(6 * w, 8 * w)
        self.context = nn.Sequential(_block(8 * w, 8 * w, 2), _block(8 * w, 8 * w, 4))
        self.head = nn.Conv2d(8 * w, 2 * latent_dim, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        with torch.no_grad():
            self.head.bias[latent_dim:] = -3.0  # sigma starts near 0.05

    def forward(self, x):
        e = self.enc1(with_differences(x))
        for block in (self.enc2, self.enc3, self.enc4, self.enc5):
            e = block(F.max_pool2d(e, 2))
        e = F.avg_pool2d(self.context(e), 2)
        codes, sigma = self.head(e).split(self.latent_dim, dim=1)
        return codes, 0.95 * torch.sigmoid(sigma)


def resample(codes, sigma, generator=None):
    """003 eqs. 5-6: sqrt(1 - sigma^2) z + n with n ~ N(0, sigma^2)."""
    noise = torch.randn(codes.shape, generator=generator, dtype=codes.dtype)
    return torch.sqrt(1 - sigma**2) * codes + sigma * noise
