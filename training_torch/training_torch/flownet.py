"""Motion-flow network (002 section 4.1, sized for CPU training), with 001's Motion-Net
regression as a second head.

A fully convolutional encoder (the image and its two differences in; 3 x 3 convolutions, each
group-normalised, 4 poolings, then dilated convolutions at 1/16 for a receptive field of about
250 px, enough for 002's 36 px flow components) and a decoder with skip connections back to 1/4
resolution. Output (N, 37 + 73 + 3, H/4, W/4):

* 37 logits for u in {0..36} and 73 for v in {-36..36} (002: two softmax classifiers after the
  fold u >= 0 of 002 eq. 5, trained with the sum of their cross entropies);
* 2 regression channels: the motion in doubled-angle form, (l cos 2a, l sin 2a) / 36, where
  l and a are the length and angle of ``nublur.LinearMotionField``. Unlike (u, v) after the
  fold, this is continuous where the fold flips v (vertical motion), so it can be
  interpolated; 001 section 3.1 regresses length and angle per pixel;
* 1 channel: the length l / 36 alone (it needs no direction, so it is learnt first and keeps
  its size where the direction is uncertain and the doubled-angle regression shrinks).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

U_CLASSES = 37
V_CLASSES = 73
MAX_COMPONENT = 36
STRIDE = 4  # output resolution
MULTIPLE = 16  # input sizes must be multiples of this


def _conv(c_in, c_out, dilation):
    conv = nn.Conv2d(c_in, c_out, 3, padding=dilation, dilation=dilation)
    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    nn.init.zeros_(conv.bias)
    return [conv, nn.GroupNorm(4, c_out), nn.ReLU(inplace=True)]


def _block(c_in, c_out, dilation=1):
    return nn.Sequential(*_conv(c_in, c_out, dilation), *_conv(c_out, c_out, dilation))


class FlowNet(nn.Module):
    """Gray blurry image (display values - 0.5), (N, 1, H, W) -> (N, 113, H/4, W/4)."""

    def __init__(self, width: int = 16):
        super().__init__()
        w = width
        self.width = width
        self.enc1 = _block(3, w)            # 1: image and its two differences
        self.enc2 = _block(w, 2 * w)        # 1/2
        self.enc3 = _block(2 * w, 4 * w)    # 1/4
        self.enc4 = _block(4 * w, 6 * w)    # 1/8
        self.enc5 = _block(6 * w, 8 * w)    # 1/16
        self.context = nn.Sequential(_block(8 * w, 8 * w, 2), _block(8 * w, 8 * w, 4))
        self.dec4 = _block(8 * w + 6 * w, 6 * w)
        self.dec3 = _block(6 * w + 4 * w, 4 * w)
        self.head = nn.Conv2d(4 * w, U_CLASSES + V_CLASSES + 3, 1)

    def forward(self, x):
        e1 = self.enc1(with_differences(x))
        e2 = self.enc2(F.max_pool2d(e1, 2))
        e3 = self.enc3(F.max_pool2d(e2, 2))
        e4 = self.enc4(F.max_pool2d(e3, 2))
        e5 = self.context(self.enc5(F.max_pool2d(e4, 2)))
        d4 = self.dec4(torch.cat([_up(e5, e4), e4], 1))
        d3 = self.dec3(torch.cat([_up(d4, e3), e3], 1))
        return self.head(d3)


def with_differences(x):
    """(x, dx, dy): blur shows most plainly in the gradients (sparse in sharp images), so the
    first layer is given them instead of having to learn them first."""
    dx = F.pad(x[..., :, 1:] - x[..., :, :-1], (0, 1, 0, 0))
    dy = F.pad(x[..., 1:, :] - x[..., :-1, :], (0, 0, 0, 1))
    return torch.cat([x, 4 * dx, 4 * dy], 1)


def _up(x, like):
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


def split(out):
    """(u logits, v logits, doubled-angle regression, length regression) of the output."""
    c = U_CLASSES + V_CLASSES
    return out[:, :U_CLASSES], out[:, U_CLASSES:c], out[:, c:c + 2], out[:, c + 2:c + 3]
