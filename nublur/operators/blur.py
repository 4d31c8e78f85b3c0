"""Forward and adjoint non-uniform blur (000 eqs. 1, 2 and 10; 002 eq. 2)."""

from __future__ import annotations

import threading

import numpy as np

from .._validation import as_image, check_boundary, restore_channel_axis
from ..fields import (BasisField, DenseField, GridField, KernelField, LatentField,
                      LinearMotionField, ReducedBasisField, UniformField)
from . import _gather
from .._backend import fft_engine
from ._basis_fft import BasisPlan
from ._grid_fft import GridPlan

__all__ = ["blur", "blur_adjoint", "as_field", "ChannelOperator"]

_PLAN_LOCK = threading.Lock()


def as_field(field, name: str = "field") -> KernelField:
    """A KernelField; a 2-D array is taken as a uniform PSF, a ``ReducedBasisField`` or a
    ``LatentField`` as its ``BasisField`` (built once per field)."""
    if isinstance(field, (ReducedBasisField, LatentField)):
        return field.to_basis()
    if isinstance(field, KernelField):
        return field
    if isinstance(field, np.ndarray) or isinstance(field, (list, tuple)):
        return UniformField(field)
    raise TypeError(f"{name} must be a KernelField or a 2-D PSF array, got "
                    f"{type(field).__name__}")


def _basis_plan(field, shape, dtype, boundary) -> BasisPlan:
    """Plan cached on the (immutable) field, keyed by image shape, dtype and boundary."""
    key = (tuple(shape), np.dtype(dtype).str, boundary)
    with _PLAN_LOCK:
        cache = field.__dict__.setdefault("_plans", {})
        plan = cache.get(key)
    if plan is None:
        if isinstance(field, GridField) and fft_engine() == "pyfftw":  # separable maps
            plan = GridPlan(field, shape, dtype, boundary)
        elif isinstance(field, BasisField):  # compact support: only the maps active per tile
            plan = BasisPlan(field.kernels, field.mixing_window, shape, dtype, boundary,
                             breaks=field.mixing_breaks())
        else:
            plan = BasisPlan(field.as_basis()[0], None, shape, dtype, boundary)
        with _PLAN_LOCK:
            if len(cache) >= 8:
                cache.pop(next(iter(cache)))
            cache[key] = plan
    return plan


def _apply_2d(image: np.ndarray, field: KernelField, boundary: str, adjoint: bool):
    if isinstance(field, (UniformField, BasisField)):
        plan = _basis_plan(field, image.shape, image.dtype, boundary)
        return plan.adjoint(image) if adjoint else plan.forward(image)
    if isinstance(field, DenseField):
        return (_gather.dense_adjoint if adjoint else _gather.dense_forward)(image, field, boundary)
    if isinstance(field, LinearMotionField):
        return (_gather.linear_adjoint if adjoint else _gather.linear_forward)(image, field,
                                                                               boundary)
    raise TypeError(f"no operator for field type {type(field).__name__}")


class ChannelOperator:
    """H and H^T on validated (H, W, C) arrays, for solvers (no checks, no channel moves)."""

    def __init__(self, field: KernelField, boundary: str):
        self.field = field
        self.boundary = boundary

    def _each(self, x: np.ndarray, adjoint: bool) -> np.ndarray:
        out = np.empty(x.shape, dtype=x.dtype)
        for c in range(x.shape[-1]):
            out[..., c] = _apply_2d(np.ascontiguousarray(x[..., c]), self.field, self.boundary,
                                    adjoint)
        return out

    def forward(self, x: np.ndarray) -> np.ndarray:
        if isinstance(self.field, LinearMotionField):  # each pixel's kernel once for all C
            return _gather.linear_forward_channels(x, self.field, self.boundary)
        return self._each(x, adjoint=False)

    def adjoint(self, r: np.ndarray) -> np.ndarray:
        if isinstance(self.field, LinearMotionField):
            return _gather.linear_adjoint_channels(r, self.field, self.boundary)
        return self._each(r, adjoint=True)


def _apply(image, field, boundary, channel_axis, adjoint, name):
    field = as_field(field)
    boundary = check_boundary(boundary)
    image, axis = as_image(image, name, channel_axis)
    field.check_image_shape(image.shape[:2], name)
    if axis is None:
        result = _apply_2d(image, field, boundary, adjoint)
    elif isinstance(field, LinearMotionField):
        result = (_gather.linear_adjoint_channels if adjoint else
                  _gather.linear_forward_channels)(image, field, boundary)
    else:
        result = np.empty(image.shape, dtype=image.dtype)
        for c in range(image.shape[-1]):
            result[..., c] = _apply_2d(np.ascontiguousarray(image[..., c]), field, boundary,
                                       adjoint)
    return restore_channel_axis(result, channel_axis)


def blur(image, field, *, boundary: str = "reflect", channel_axis=None) -> np.ndarray:
    """Blur an image with a kernel field: v(i) = sum_q k_i(q) u(i - q) (000 eqs. 1-2).

    Uniform and basis fields take the DFT path (000 eq. 10, H = sum_b M_b K_b), dense and
    linear-motion fields a per-pixel gather.

    Parameters
    ----------
    image : ndarray, shape (H, W) or with a channel axis
        float32 or float64 are preserved; integers are converted as ``img_as_float``.
    field : KernelField or ndarray (K, K)
        A 2-D array is a uniform PSF.
    boundary : {"reflect", "mirror", "replicate", "constant", "periodic"}
        Extension of the image beyond its border (scipy.ndimage names).
    channel_axis : int, optional
        Axis of colour channels; each channel is blurred with the same field.

    Returns
    -------
    ndarray, same shape and dtype as ``image`` (a new array).
    """
    return _apply(image, field, boundary, channel_axis, adjoint=False, name="image")


def blur_adjoint(residual, field, *, boundary: str = "reflect", channel_axis=None) -> np.ndarray:
    """Exact adjoint of ``blur``: H^T r = P^T sum_b flip(k_b) conv (m_b r) (000 eq. 10).

    ``P^T`` is the adjoint of the boundary extension (it folds the border back), so that
    ``<blur(x), y> = <x, blur_adjoint(y)>`` holds for every boundary mode. Arguments as
    ``blur``.
    """
    return _apply(residual, field, boundary, channel_axis, adjoint=True, name="residual")
