"""The flow-based motion-kernel prior (003 section 3.1, eq. 2): a RealNVP between K x K PSFs
and a standard normal.

Coordinates. A PSF k (non-negative, sum 1, L = K^2 pixels) is mapped to log-kernel
coordinates

    x = log((1 - alpha) k + alpha w) + g 1,

where w is a dequantisation draw (a random near-uniform distribution, w_j = u_j / sum u,
u_j ~ U[0.5, 1.5]) that keeps the zero pixels of a PSF from piling up on one value, and g is a
random gain ~ N(0, 1) along the all-ones direction, which the decoder ignores: without it the
data would lie on the surface sum(exp x) = 1 and maximum likelihood would diverge. Decoding is
``kernel_from_log``: softmax(x), minus the floor alpha / L, clipped at 0 and renormalised, so
decoded kernels are valid PSFs (003's are not renormalised) and decoding inverts encoding at
the deterministic point exactly; a sampled code keeps a faint haze (under 0.5 alpha / L per
pixel) where its draw of the floor was above the mean.

Flow. ``blocks`` blocks of [ActNorm, affine coupling on the even checkerboard pixels, affine
coupling on the odd ones] (RealNVP, Dinh et al. 2017); each coupling's scale and shift come
from an MLP of the pixels it keeps, the scale bounded by tanh. ``forward`` maps x to z with the
log-determinant, ``inverse`` maps z to x; -log p(x) = |z|^2 / 2 + L/2 log(2 pi) - logdet.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ALPHA = 0.02
"""Weight of the dequantisation floor in the log-kernel coordinates."""


def checkerboard(kernel_size: int, parity: int) -> torch.Tensor:
    idx = torch.arange(kernel_size)
    return (((idx[:, None] + idx[None, :]) % 2) == parity).float().reshape(-1)


class ActNorm(nn.Module):
    """Per-pixel affine map, initialised from the first batch to zero mean, unit variance."""

    def __init__(self, dim: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialised", torch.tensor(False))

    def forward(self, x):
        if self.training and not bool(self.initialised):
            with torch.no_grad():
                self.bias.copy_(-x.mean(0))
                self.log_scale.copy_(-torch.log(x.std(0) + 1e-6))
                self.initialised.fill_(True)
        return (x + self.bias) * torch.exp(self.log_scale), self.log_scale.sum()

    def inverse(self, z):
        return z * torch.exp(-self.log_scale) - self.bias


class AffineCoupling(nn.Module):
    """y = m x + (1 - m) (x exp(s) + t), (s, t) = MLP(m x) (RealNVP eq. 9 with mask m)."""

    def __init__(self, mask: torch.Tensor, hidden: int):
        super().__init__()
        dim = mask.numel()
        self.register_buffer("mask", mask)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, 2 * dim))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.scale = nn.Parameter(torch.ones(dim))

    def _st(self, kept):
        s, t = self.net(kept).chunk(2, dim=1)
        free = 1 - self.mask
        return self.scale * torch.tanh(s) * free, t * free

    def forward(self, x):
        s, t = self._st(x * self.mask)
        return x * torch.exp(s) + t, s.sum(1)

    def inverse(self, y):
        s, t = self._st(y * self.mask)
        return (y - t) * torch.exp(-s)


class KernelFlow(nn.Module):
    """RealNVP prior over K x K motion PSFs in log-kernel coordinates (module docstring)."""

    def __init__(self, kernel_size: int = 19, blocks: int = 5, hidden: int = 256):
        super().__init__()
        self.kernel_size = kernel_size
        self.dim = kernel_size**2
        layers = []
        for _ in range(blocks):
            layers.append(ActNorm(self.dim))
            layers.append(AffineCoupling(checkerboard(kernel_size, 0), hidden))
            layers.append(AffineCoupling(checkerboard(kernel_size, 1), hidden))
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        """x (N, L) -> (z (N, L), log|det dz/dx| (N,))."""
        logdet = 0.0
        for layer in self.layers:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, z):
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z

    def nll(self, x):
        """-log p(x) per sample (nats), 003 eq. 2."""
        z, logdet = self(x)
        return 0.5 * (z**2).sum(1) + 0.5 * self.dim * math.log(2 * math.pi) - logdet


def log_coordinates(kernels: torch.Tensor, generator: torch.Generator | None = None,
                    dequantise: bool = True) -> torch.Tensor:
    """(N, K, K) PSFs -> (N, L) log-kernel coordinates; without ``dequantise`` the floor is
    uniform and the gain 0 (the deterministic point used to score a kernel)."""
    k = kernels.flatten(1)
    dim = k.shape[1]
    if dequantise:
        u = 0.5 + torch.rand(k.shape, generator=generator, dtype=k.dtype)
        w = u / u.sum(1, keepdim=True)
        gain = torch.randn((len(k), 1), generator=generator, dtype=k.dtype)
    else:
        return torch.log((1 - ALPHA) * k + ALPHA / dim)
    return torch.log((1 - ALPHA) * k + ALPHA * w) + gain


def kernel_from_log(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """(N, L) log-kernel coordinates -> (N, K, K) PSFs (softmax, floor removed, sum 1)."""
    dim = x.shape[1]
    k = torch.clamp(torch.softmax(x, dim=1) - ALPHA / dim, min=0.0)
    k = k / torch.clamp(k.sum(1, keepdim=True), min=1e-12)
    return k.reshape(-1, kernel_size, kernel_size)


class Decoder(nn.Module):
    """Latent codes (N, L) -> PSFs (N, K, K): the exported decoder."""

    def __init__(self, flow: KernelFlow):
        super().__init__()
        self.flow = flow

    def forward(self, z):
        return kernel_from_log(self.flow.inverse(z), self.flow.kernel_size)


class Encoder(nn.Module):
    """PSFs (N, K, K) -> (latent codes (N, L), -log p (N,)) at the deterministic point."""

    def __init__(self, flow: KernelFlow):
        super().__init__()
        self.flow = flow

    def forward(self, kernels):
        x = log_coordinates(kernels, dequantise=False)
        z, logdet = self.flow(x)
        nll = 0.5 * (z**2).sum(1) + 0.5 * self.flow.dim * math.log(2 * math.pi) - logdet
        return z, nll
