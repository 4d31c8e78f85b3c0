"""Training pairs from ``nublur.synth`` (000 section 4): segment-wise camera shake on dead
leaves and, when ../shared/data is present, on Kodak24 / BSD68 crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from nublur import synth


class KernelFieldPairs(Dataset):
    """Samples: network input, blurry, sharp (linear), segment weights, sampled true kernels."""

    def __init__(self, size: int = 128, seed: int = 0, length: int = 1_000_000,
                 image_folders=(), kernel_samples: int = 128, gamma: float = 2.2,
                 noise: float = 0.01):
        self.sources = [synth.SyntheticDataset("segments", size, seed, length, noise=noise,
                                               gamma=gamma)]
        for i, folder in enumerate(image_folders):
            if Path(folder).is_dir():
                self.sources.append(synth.SyntheticDataset("segments", size, seed + 1 + i, length,
                                                           noise=noise, gamma=gamma,
                                                           images=folder))
        self.length, self.kernel_samples, self.gamma, self.seed = length, kernel_samples, gamma, seed

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        source = self.sources[index % len(self.sources)]
        sample = source[index // len(self.sources)]
        field = sample["field"]
        regions = np.argmax(field.mixing, axis=0)
        counts = np.bincount(regions.ravel(), minlength=field.num_basis).astype(np.float64)
        weights = 1.0 / counts[regions]
        weights /= weights.sum()
        rng = np.random.default_rng([self.seed, index, 7])
        h, w = regions.shape
        rows = rng.integers(0, h, self.kernel_samples)
        cols = rng.integers(0, w, self.kernel_samples)
        true_kernels = field.kernels_at(rows, cols)
        blurry = sample["blurry"]
        return {
            "input": torch.from_numpy(network_input(blurry, self.gamma)),
            "blurry": torch.from_numpy(np.ascontiguousarray(blurry.transpose(2, 0, 1))),
            "sharp": torch.from_numpy(np.ascontiguousarray(sample["sharp"].transpose(2, 0, 1))),
            "weights": torch.from_numpy(weights.astype(np.float32)),
            "rows": torch.from_numpy(rows), "cols": torch.from_numpy(cols),
            "kernels": torch.from_numpy(true_kernels.astype(np.float32)),
        }


def network_input(blurry: np.ndarray, gamma: float) -> np.ndarray:
    """(3, H, W) float32: blurry ** gamma - 0.5 (the authors' input convention)."""
    x = np.clip(blurry, 0, 1).astype(np.float32) ** np.float32(gamma) - np.float32(0.5)
    return np.ascontiguousarray(x.transpose(2, 0, 1))
