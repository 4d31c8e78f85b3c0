"""Input checks shared by fields, operators and solvers (DESIGN.md section 4).

Every check raises before any work is done, names the argument, and says what was expected.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._backend import get_array_module

BOUNDARIES = ("reflect", "mirror", "replicate", "constant", "periodic")
_BOUNDARY_ALIASES = {"symmetric": "reflect", "edge": "replicate", "nearest": "replicate",
                     "wrap": "periodic", "zero": "constant", "zeros": "constant"}


def check_boundary(boundary) -> str:
    """Canonical boundary name (scipy.ndimage names, a few numpy aliases accepted)."""
    if not isinstance(boundary, str):
        raise TypeError(f"boundary must be a string, one of {BOUNDARIES}, got {boundary!r}")
    name = _BOUNDARY_ALIASES.get(boundary, boundary)
    if name not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
    return name


def as_float_array(array, name: str, *, image: bool = True) -> np.ndarray:
    """A float32/float64 numpy array.

    For images (``image=True``) ints are converted as skimage's img_as_float (uint8 255 ->
    1.0); float16 becomes float32 (values kept: there are no half-precision transforms); for
    other quantities (kernels, lengths, angles) values are kept.
    """
    get_array_module(array)
    if isinstance(array, (list, tuple)):
        array = np.asarray(array)
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(array).__name__}")
    if array.dtype in (np.float32, np.float64):
        return array
    if array.dtype == np.float16:  # no half-precision FFTs or kernels: compute in float32
        return array.astype(np.float32)
    if array.dtype == np.bool_ or np.issubdtype(array.dtype, np.integer):
        if not image:
            return array.astype(np.float64)
        from skimage.util import img_as_float

        return img_as_float(array)
    raise TypeError(f"{name} must have a real numeric dtype, got {array.dtype}")


def check_finite(array: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or Inf values")


def as_image(image, name: str = "image", channel_axis=None) -> tuple[np.ndarray, int | None]:
    """Validate an image; returns it as float and the channel axis normalised to 2 or None.

    The returned array is the caller's (no copy) unless a dtype conversion was needed, and
    channels are moved last; callers must not write into it.
    """
    image = as_float_array(image, name)
    if channel_axis is None:
        if image.ndim != 2:
            raise ValueError(f"{name} must be 2-D (H, W) when channel_axis is None, got shape "
                             f"{image.shape}; pass channel_axis for colour images")
        check_finite(image, name)
        return image, None
    if not isinstance(channel_axis, numbers.Integral):
        raise TypeError(f"channel_axis must be an int or None, got {channel_axis!r}")
    if image.ndim != 3:
        raise ValueError(f"{name} must be 3-D when channel_axis is given, got shape {image.shape}")
    if not -3 <= channel_axis < 3:
        raise ValueError(f"channel_axis must be in [-3, 2] for a 3-D {name}, got {channel_axis}")
    check_finite(image, name)
    return np.moveaxis(image, channel_axis, -1), 2


def restore_channel_axis(result: np.ndarray, channel_axis) -> np.ndarray:
    """Inverse of the channel move in ``as_image``."""
    if channel_axis is None:
        return result
    return np.moveaxis(result, -1, channel_axis)


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_nonnegative_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) \
            or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_positive_float(value, name: str) -> float:
    value = check_nonnegative_float(value, name)
    if value == 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value
