"""BasisKPN: 000's two-head basis kernel prediction network, narrowed for CPUs (000 section 5).

A U-Net encoder; the mixing head is the U-Net decoder with a softmax over the B channels; the
kernel head maps globally pooled deepest features to B kernels (a linear layer to B x c x 5 x 5,
then three stride-2 transposed convolutions shared by all kernels: 5 -> 9 -> 17 -> 33) with a
softmax over the K x K entries of each kernel. Kernels are PSFs in nublur's convention.
Input: 3 x H x W with H, W multiples of 16, values blurry ** gamma - 0.5.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


def _block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.1),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.LeakyReLU(0.1))


class BasisKPN(nn.Module):
    def __init__(self, num_basis: int = 25, kernel_size: int = 33, width: int = 32):
        super().__init__()
        if kernel_size != 33:
            raise ValueError("the kernel head upsamples 5 -> 9 -> 17 -> 33; kernel_size must be 33")
        self.num_basis, self.kernel_size = num_basis, kernel_size
        w = width
        self.enc = nn.ModuleList([_block(3, w), _block(w, 2 * w), _block(2 * w, 4 * w),
                                  _block(4 * w, 8 * w), _block(8 * w, 8 * w)])
        self.up = nn.ModuleList([_block(16 * w, 4 * w), _block(8 * w, 2 * w),
                                 _block(4 * w, w), _block(2 * w, w)])
        self.mix_out = nn.Conv2d(w, num_basis, 3, padding=1)
        self.seed_channels = 8
        self.kernel_fc = nn.Sequential(nn.Linear(8 * w, 8 * w), nn.LeakyReLU(0.1),
                                       nn.Linear(8 * w, num_basis * self.seed_channels * 25))
        c = self.seed_channels
        self.kernel_up = nn.Sequential(
            nn.ConvTranspose2d(c, c, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
            nn.ConvTranspose2d(c, c, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
            nn.ConvTranspose2d(c, c, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
            nn.Conv2d(c, 1, 3, padding=1))

    def forward(self, x):
        feats = []
        for i, block in enumerate(self.enc):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            feats.append(x)
        deepest = feats[-1]
        y = deepest
        for block, skip in zip(self.up, reversed(feats[:-1])):
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip], dim=1))
        mixing = torch.softmax(self.mix_out(y), dim=1)
        pooled = deepest.mean(dim=(2, 3))
        n = x.shape[0]
        seeds = self.kernel_fc(pooled).view(n * self.num_basis, self.seed_channels, 5, 5)
        logits = self.kernel_up(seeds).view(n, self.num_basis, -1)
        kernels = torch.softmax(logits, dim=-1).view(n, self.num_basis, self.kernel_size,
                                                     self.kernel_size)
        return kernels, mixing


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
