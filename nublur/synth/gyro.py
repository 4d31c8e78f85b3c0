"""Spatially varying blur from a real recorded hand shake (Lai et al. 2016 gyro logs).

Procedure: the gyroscope's angular rate (camera axes: x right, y down, z along the optical
axis; rad/s) is linearly interpolated onto ``samples`` instants of the exposure window and
integrated into rotations R(t) (Rodrigues steps, R(0) = I at the window start). Optionally the
accelerometer (g, times 9.8, its mean over the window removed as gravity) is integrated twice
into translations T(t) for a fronto-parallel scene at ``depth`` metres. Each instant gives the
homography H_t = K (R(t) + T(t) n^T / depth) K^-1 with K = [[f, 0, cx], [0, f, cy], [0, 0, 1]],
f = max(H, W) pixels (36 mm-equivalent, as Lai et al.'s script), and the blurry image is the
average of the bilinearly warped sharp images, v(p) = mean_t u(H_t^-1 p) (edges replicated).

The exact PSF of every output pixel is made of the same bilinear weights (``HomographyField``),
so ``blur(u, field.to_dense(), boundary="replicate")`` equals the warp average; for large
images the field is compressed to a ``BasisField`` (``BasisField.from_field``), whose achieved
relative kernel error is returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validation import as_image, check_positive_float, check_positive_int, restore_channel_axis
from ..fields import BasisField, KernelField
from . import _homography_numba as hn

__all__ = ["GyroLog", "load_gyro_log", "gyro_homographies", "HomographyField", "gyro_blur"]


@dataclass(frozen=True)
class GyroLog:
    """A recorded camera motion: timestamps (s), gyro rates (rad/s, (N, 3)), accelerometer (g,
    (N, 3)), and the exposure window [start, start + exposure]."""

    timestamps: np.ndarray
    rates: np.ndarray
    accel: np.ndarray
    start: float
    exposure: float


def load_gyro_log(folder) -> GyroLog:
    """Read a Lai et al. 2016 log folder: ``gyro.txt`` (accel xyz, gyro xyz, time) and
    ``info.txt`` (number 2: exposure time, number 3: reference timestamp)."""
    folder = Path(folder)
    try:
        table = np.loadtxt(folder / "gyro.txt")
        info = np.loadtxt(folder / "info.txt").ravel()
    except (OSError, ValueError) as exc:
        raise ValueError(f"{str(folder)!r} is not a readable gyro log folder: {exc}") from exc
    if table.ndim != 2 or table.shape[1] != 7 or info.size < 3:
        raise ValueError(f"{str(folder)!r}: expected gyro.txt with 7 columns and info.txt with "
                         f">= 3 numbers")
    return GyroLog(table[:, 6], table[:, 3:6], table[:, 0:3], float(info[2]), float(info[1]))


def _rodrigues(v):
    angle = np.linalg.norm(v)
    if angle < 1e-15:
        return np.eye(3)
    k = v / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def gyro_homographies(log: GyroLog, shape, *, samples: int = 64, translation: bool = False,
                      depth: float = 2.0) -> np.ndarray:
    """Homographies (samples, 3, 3) of the exposure, mapping reference to current pixels."""
    samples = check_positive_int(samples, "samples")
    h, w = shape
    times = log.start + log.exposure * (np.arange(samples) + 0.5) / samples
    dt = log.exposure / samples
    rates = np.stack([np.interp(times, log.timestamps, log.rates[:, a]) for a in range(3)], 1)
    f = float(max(h, w))
    k = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1.0]])
    k_inv = np.linalg.inv(k)
    if translation:
        depth = check_positive_float(depth, "depth")
        acc = np.stack([np.interp(times, log.timestamps, log.accel[:, a]) for a in range(3)], 1)
        acc = (acc - acc.mean(axis=0)) * 9.8
        velocity = np.cumsum(acc, axis=0) * dt
        position = np.cumsum(velocity, axis=0) * dt
    rotation = np.eye(3)
    out = np.empty((samples, 3, 3))
    for s in range(samples):
        rotation = _rodrigues(rates[s] * dt) @ rotation
        motion = rotation.copy()
        if translation:
            motion = motion + np.outer(position[s], [0, 0, 1.0]) / depth
        out[s] = k @ motion @ k_inv
    return out


class HomographyField(KernelField):
    """Exact per-pixel PSFs of a bilinear warp average (kernels built on request).

    Blurring with it goes through ``to_dense()`` or a compression (``BasisField.from_field``);
    the operators have no direct path for this type.
    """

    def __init__(self, homographies, image_shape, kernel_size: int | None = None):
        self.homographies = np.asarray(homographies, dtype=np.float64)
        self._inverses = np.linalg.inv(self.homographies)
        self._shape = (int(image_shape[0]), int(image_shape[1]))
        needed = self._needed_size()
        self.kernel_size = needed if kernel_size is None else int(kernel_size)
        if self.kernel_size < needed or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= {needed}, got {kernel_size!r}")
        self.dtype = np.dtype(np.float64)

    @property
    def image_shape(self):
        return self._shape

    def _needed_size(self) -> int:
        h, w = self._shape
        rows, cols = np.meshgrid(np.linspace(0, h - 1, 9), np.linspace(0, w - 1, 9), indexing="ij")
        pts = np.stack([cols.ravel(), rows.ravel(), np.ones(rows.size)])
        reach = 0.0
        for hinv in self._inverses:
            src = hinv @ pts
            reach = max(reach, np.abs(src[:2] / src[2] - pts[:2]).max())
        return 2 * int(np.ceil(reach - 1e-9)) + 3

    def kernel_at(self, row, col):
        return self.kernels_at(np.array([row]), np.array([col]))[0]

    def kernels_at(self, rows, cols):
        out = np.empty((len(rows), self.kernel_size, self.kernel_size))
        hn.kernels_at(self._inverses, np.asarray(rows, np.int64), np.asarray(cols, np.int64),
                      self.kernel_size, self._shape[0], self._shape[1], out)
        return out


def gyro_blur(image, log, *, samples: int = 64, translation: bool = False, depth: float = 2.0,
              field: str = "basis", rank: int = 25, channel_axis=None, **compression):
    """Blur ``image`` with the camera motion recorded in ``log`` (see module docstring).

    Parameters
    ----------
    image : ndarray, (H, W) or with ``channel_axis``
    log : GyroLog or path to a Lai et al. log folder
    samples : int
        Instants of the exposure (the warp average and the PSFs use the same ones).
    translation, depth : bool, float
        Include the accelerometer's translation for a plane at ``depth`` metres.
    field : "basis", "dense" or "exact"
        Returned field: a rank-``rank`` BasisField compression (with its relative error), the
        DenseField (refused above ``to_dense``'s memory limit), or the lazy HomographyField.
    **compression
        Passed to ``BasisField.from_field`` (num_samples, num_iter, rng).

    Returns
    -------
    blurry : ndarray like ``image`` (the warp average)
    field : KernelField
    info : dict with "homographies", "kernel_size" and, for "basis", "relative_error"
    """
    if not isinstance(log, GyroLog):
        log = load_gyro_log(log)
    if field not in ("basis", "dense", "exact"):
        raise ValueError(f"field must be 'basis', 'dense' or 'exact', got {field!r}")
    img, axis = as_image(image, "image", channel_axis)
    shape = img.shape[:2]
    homs = gyro_homographies(log, shape, samples=samples, translation=translation, depth=depth)
    exact = HomographyField(homs, shape)
    data = np.ascontiguousarray(img if axis is not None else img[..., None], dtype=np.float64)
    out = np.empty(data.shape)
    hn.warp_average(data, np.ascontiguousarray(exact._inverses), out)
    out = out.astype(img.dtype)
    blurry = restore_channel_axis(out, channel_axis) if axis is not None else out[..., 0]
    info = {"homographies": homs, "kernel_size": exact.kernel_size}
    if field == "exact":
        return blurry, exact, info
    if field == "dense":
        return blurry, exact.to_dense(), info
    basis, error = BasisField.from_field(exact, rank, **compression)
    info["relative_error"] = error
    return blurry, basis, info
