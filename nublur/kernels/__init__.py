"""Kernel makers: fspecial-compatible linear motion and Boracchi-Foi camera shake."""

from .camera_shake import camera_shake_kernel, camera_shake_trajectory
from .linear import linear_kernel, linear_kernel_size

__all__ = ["linear_kernel", "linear_kernel_size", "camera_shake_kernel",
           "camera_shake_trajectory"]
