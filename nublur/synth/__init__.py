"""Synthetic data: motion flows, segment-wise camera shake, kernel families, sharp-image models,
camera pipeline.

Every sample comes with its exact kernel field in nublur's convention.
"""

from .camera import (gamma_decode, gamma_encode, gaussian_noise, poisson_gaussian_noise,
                     quantize_8bit, saturation_augment)
from .dataset import KINDS, SyntheticDataset, write_dataset
from .flow import PRESETS, motion_flow
from .gyro import GyroLog, HomographyField, gyro_blur, gyro_homographies, load_gyro_log
from .images import ImageFolder, dead_leaves, image_folder
from .kernel_families import KERNEL_FAMILIES, random_kernel, random_kernels
from .segments import random_masks, segment_blur

__all__ = ["motion_flow", "PRESETS", "random_masks", "segment_blur", "dead_leaves",
           "image_folder", "ImageFolder", "saturation_augment", "gaussian_noise",
           "poisson_gaussian_noise", "gamma_encode", "gamma_decode", "quantize_8bit",
           "SyntheticDataset", "write_dataset", "KINDS", "gyro_blur", "load_gyro_log", "GyroLog",
           "HomographyField", "gyro_homographies", "KERNEL_FAMILIES", "random_kernel",
           "random_kernels"]
