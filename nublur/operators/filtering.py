"""Convolution with arbitrary real filters (inverse filters, finite differences).

The same tiled DFT machinery as the blur of a basis field, without the PSF checks (filters may
be negative and need not sum to 1): ``v = sum_b m_b * (f_b conv u)`` or, with no mixing,
``v = f conv u``, with the boundary extension and exact adjoint of ``blur``.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_boundary
from ._basis_fft import BasisPlan
from .boundaries import padding_indices

__all__ = ["FilterOperator", "FiniteDifference", "gradient_filters"]


class FilterOperator:
    """Filters (B, K, K) with optional mixing (B, H, W) on (H, W) images.

    Plans are cached per (shape, dtype), so repeated applications reuse kernel spectra.
    """

    def __init__(self, filters, mixing=None, boundary: str = "reflect"):
        filters = np.asarray(filters, dtype=np.float64)
        if filters.ndim == 2:
            filters = filters[None]
        if filters.ndim != 3 or filters.shape[1] != filters.shape[2] or filters.shape[1] % 2 == 0:
            raise ValueError(f"filters must be (B, K, K) with K odd, got {filters.shape}")
        self.filters = filters
        self.mixing = None if mixing is None else np.asarray(mixing)
        self.boundary = check_boundary(boundary)
        self._plans: dict = {}

    def _plan(self, shape, dtype) -> BasisPlan:
        key = (tuple(shape), np.dtype(dtype).str)
        plan = self._plans.get(key)
        if plan is None:
            plan = BasisPlan(self.filters, self.mixing, shape, dtype, self.boundary)
            self._plans[key] = plan
        return plan

    def forward(self, image: np.ndarray) -> np.ndarray:
        return self._plan(image.shape, image.dtype).forward(image)

    def adjoint(self, image: np.ndarray) -> np.ndarray:
        return self._plan(image.shape, image.dtype).adjoint(image)


def gradient_filters() -> np.ndarray:
    """001's prior filters [-1, 1] and its transpose, as 3 x 3 convolution kernels.

    In nublur's convention (v(i) = sum_q f(q) u(i - q)) they give u(i) - u(i - 1) along
    columns and rows.
    """
    gx = np.zeros((3, 3))
    gx[1, 1], gx[1, 2] = 1.0, -1.0
    return np.stack([gx, gx.T])


class FiniteDifference:
    """u(i) - u(i - 1) along ``axis`` with a boundary extension: ``gradient_filters()[axis]``
    applied without FFTs (same result as ``FilterOperator`` on that filter, exact adjoint)."""

    def __init__(self, axis: int, boundary: str = "reflect"):
        if axis not in (0, 1):
            raise ValueError(f"axis must be 0 (rows) or 1 (columns), got {axis!r}")
        self.axis = 1 - axis  # filter 0 differentiates along columns (axis 1 of the image)
        self.boundary = check_boundary(boundary)

    def _first_previous(self, n: int) -> int:
        """Index of the sample before sample 0 under the boundary (-1: zero)."""
        return int(padding_indices(n, 1, self.boundary)[0])

    def _along(self, index) -> tuple:
        """``index`` (a slice or an int) along the differentiated axis, all of the other."""
        return (index, slice(None)) if self.axis == 0 else (slice(None), index)

    def forward(self, u: np.ndarray) -> np.ndarray:
        out = np.empty_like(u)
        a = self._along
        np.subtract(u[a(slice(1, None))], u[a(slice(None, -1))], out=out[a(slice(1, None))])
        p0 = self._first_previous(u.shape[self.axis])
        out[a(0)] = u[a(0)] - u[a(p0)] if p0 >= 0 else u[a(0)]
        return out

    def adjoint(self, v: np.ndarray) -> np.ndarray:
        a = self._along
        out = v.copy()
        out[a(slice(None, -1))] -= v[a(slice(1, None))]
        p0 = self._first_previous(v.shape[self.axis])
        if p0 >= 0:
            out[a(p0)] -= v[a(0)]
        return out
