"""Deterministic synthetic (sharp, blurry, field) samples for training, tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._validation import check_nonnegative_float, check_positive_float, check_positive_int
from ..fieldio import save_field
from ..fields import BasisField, UniformField
from ..io import write_image, write_json
from ..kernels.camera_shake import camera_shake_kernel
from ..operators.blur import blur
from ..operators.camera import camera_response
from .camera import gamma_decode, gamma_encode, gaussian_noise, quantize_8bit, saturation_augment
from .flow import motion_flow
from .gyro import GyroLog, HomographyField, gyro_homographies, load_gyro_log
from .images import dead_leaves, image_folder
from .segments import random_masks, segment_blur

__all__ = ["SyntheticDataset", "write_dataset", "KINDS"]

KINDS = ("segments", "flow", "uniform", "gyro")


class SyntheticDataset:
    """Indexable, deterministic and picklable synthetic blur dataset.

    Sample i is drawn from ``numpy.random.default_rng([seed, i])`` alone, so any index can be
    generated in any worker, in any order, with the same result.

    Pipeline (000 section 4): a sharp image (dead leaves, or a random crop of ``images``) in
    display space is linearised (** gamma), its HSV value scaled by U[0.5, 1.5]
    (``saturation_augment``, so light sources exceed 1), blurred by the sample's field, passed
    through the smooth clip R with Gaussian noise, gamma-encoded and quantised to 8 bits.

    Parameters
    ----------
    kind : "segments" (000 Algorithm 1 with camera shake), "flow" (002 camera motion),
        "uniform" (one camera-shake PSF) or "gyro" (a recorded hand shake, ``gyro_blur``: a
        random log of ``gyro_logs``, exposure window shifted by up to half its length, rates
        scaled by U[0.5, 1.5]; the sample's field is the rank-``gyro_rank`` BasisField
        compression of the exact homography PSFs, whose relative kernel error goes into the
        metadata (measured 2-17% at rank 16, 0.4-9% at rank 25), and the sample is blurred with
        that field, replicate boundary; about 1.7 s a sample at 256x256)
    size : int
        Square image size.
    seed : int
    length : int
        Number of samples (``len``).
    kernel_size : int
        Camera-shake PSF size (segments, uniform).
    noise : float
        Gaussian noise sigma in linear units.
    gamma : float
    images : path or None
        Folder of sharp images (e.g. ../shared/data/kodak24); dead leaves when None.
    flow_preset : "severe" or "mild"
    gyro_logs : path, optional
        Folder of Lai et al. log folders (e.g. ../shared/data/lai2016_nonuniform_gyro/gyro);
        required for kind "gyro".
    gyro_rank : int
        Basis size of the gyro fields.

    Each sample is a dict: ``sharp`` (linear, after augmentation, float32 (size, size, 3)),
    ``blurred`` (= ``blur(sharp, field, channel_axis=-1)``, linear, before noise and clipping),
    ``blurry`` (the observed display image in [0, 1]), ``field`` and ``meta``.
    """

    def __init__(self, kind: str = "segments", size: int = 256, seed: int = 0,
                 length: int = 10_000, *, kernel_size: int = 33, noise: float = 0.01,
                 gamma: float = 2.2, images=None, flow_preset: str = "severe",
                 gyro_logs=None, gyro_rank: int = 16):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.kind = kind
        self.size = check_positive_int(size, "size", minimum=16)
        self.seed = check_positive_int(seed, "seed", minimum=0)
        self.length = check_positive_int(length, "length")
        self.kernel_size = check_positive_int(kernel_size, "kernel_size", minimum=3)
        self.noise = check_nonnegative_float(noise, "noise")
        self.gamma = check_positive_float(gamma, "gamma")
        self.images = None if images is None else str(images)
        self.flow_preset = flow_preset
        self._folder = None if images is None else image_folder(images)
        self.gyro_logs = None if gyro_logs is None else str(gyro_logs)
        self.gyro_rank = check_positive_int(gyro_rank, "gyro_rank")
        self._logs = _load_logs(gyro_logs) if kind == "gyro" else None

    def __len__(self):
        return self.length

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_folder"] = None  # reopened in the worker
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self.images is not None:
            self._folder = image_folder(self.images)

    def _sharp(self, rng):
        if self._folder is None:
            return dead_leaves((self.size, self.size), rng)
        image = self._folder[int(rng.integers(len(self._folder)))]
        h, w = image.shape[:2]
        if h < self.size or w < self.size:
            raise ValueError(f"image {self._folder.files[0].name} is smaller than size "
                             f"{self.size}")
        top, left = int(rng.integers(0, h - self.size + 1)), int(rng.integers(0, w - self.size + 1))
        return image[top:top + self.size, left:left + self.size]

    def _field_and_blur(self, sharp, rng):
        shape = sharp.shape[:2]
        if self.kind == "segments":
            masks = random_masks(shape, rng)
            kernels = np.stack([camera_shake_kernel(self.kernel_size, rng)
                                for _ in range(len(masks) + 1)])
            out = segment_blur(sharp, masks, kernels, channel_axis=-1)
            return out["field"], out["blurry"], {"regions": len(masks) + 1}
        if self.kind == "gyro":
            return self._gyro(sharp, rng)
        if self.kind == "flow":
            field = motion_flow(shape, rng, self.flow_preset)
        else:
            field = UniformField(camera_shake_kernel(self.kernel_size, rng))
        return field, blur(sharp, field, channel_axis=-1), {}

    def _gyro(self, sharp, rng):
        log = self._logs[int(rng.integers(len(self._logs)))]
        start = log.start + rng.uniform(-0.5, 0.5) * log.exposure
        start = float(np.clip(start, log.timestamps[0], log.timestamps[-1] - log.exposure))
        log = GyroLog(log.timestamps, log.rates * rng.uniform(0.5, 1.5), log.accel, start,
                      log.exposure)
        exact = HomographyField(gyro_homographies(log, sharp.shape[:2], samples=32),
                                sharp.shape[:2])
        field, error = BasisField.from_field(exact, self.gyro_rank, num_samples=1024,
                                             num_iter=100, rng=rng)
        blurred = blur(sharp, field, boundary="replicate", channel_axis=-1)
        return field, blurred, {"relative_kernel_error": error}

    def __getitem__(self, index: int) -> dict:
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} samples")
        index %= self.length
        rng = np.random.default_rng([self.seed, index])
        sharp = saturation_augment(gamma_decode(self._sharp(rng), self.gamma), rng)
        field, blurred, extra = self._field_and_blur(sharp, rng)
        observed = camera_response(gaussian_noise(blurred, rng, self.noise), self.gamma)
        meta = {"kind": self.kind, "seed": self.seed, "index": index, "noise": self.noise,
                "gamma": self.gamma, "size": self.size, **extra}
        return {"sharp": sharp, "blurred": blurred,
                "blurry": quantize_8bit(observed).astype(np.float32), "field": field,
                "meta": meta}


def _load_logs(folder):
    if folder is None:
        raise ValueError("kind 'gyro' needs gyro_logs, a folder of Lai et al. log folders")
    folders = sorted(p for p in Path(folder).iterdir() if (p / "gyro.txt").exists()) \
        if Path(folder).is_dir() else []
    if not folders:
        raise ValueError(f"gyro_logs: no log folders (with gyro.txt) in {str(folder)!r}")
    return [load_gyro_log(p) for p in folders]


def write_dataset(path, n: int, kind: str = "segments", seed: int = 0, **options) -> Path:
    """Write n samples: ``NNNNN_blurry.png``, ``NNNNN_sharp.png`` (display space, clipped),
    ``NNNNN_field.npz`` (``nublur.fieldio``) and ``NNNNN_meta.json``, each written atomically."""
    dataset = SyntheticDataset(kind, seed=seed, length=check_positive_int(n, "n"), **options)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sample = dataset[i]
        stem = path / f"{i:05d}"
        write_image(Path(f"{stem}_blurry.png"), sample["blurry"], force=True)
        write_image(Path(f"{stem}_sharp.png"), gamma_encode(sample["sharp"], dataset.gamma),
                    force=True)
        save_field(Path(f"{stem}_field.npz"), sample["field"])
        write_json(Path(f"{stem}_meta.json"), sample["meta"])
    return path
