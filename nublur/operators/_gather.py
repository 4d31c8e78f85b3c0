"""Per-pixel gather operators for DenseField and LinearMotionField (numba, CPU).

A LinearMotionField is applied from a table of its kernels' nonzero entries (CSR), cached on
the field, instead of rasterising every pixel's kernel at every application:

* few distinct motions (integer flows as in 002, piecewise-constant fields): a table of the
  distinct kernels and a label per pixel, built at the first application;
* otherwise a table with one kernel per pixel, built at the second application (a solver
  applies its field tens of times, a single blur does not pay for it) when it fits in
  ``NUBLUR_TABLE_MIB`` (about 16 bytes per kernel entry, ~40 entries a pixel for 5-30 px
  motions: the default 256 MiB covers about 0.4 MP); larger fields keep rasterising.
"""

from __future__ import annotations

import threading

import numpy as np

from .._backend import num_threads, table_memory_bytes
from . import _gather_numba as gn
from .boundaries import pad, pad_adjoint


def _band_height(h: int, radius: int) -> int:
    """Band height >= 2r for the two-pass scatter, about 2 bands per thread and pass."""
    return max(2 * radius, 1, -(-h // (4 * num_threads())))


def dense_forward(image, field, boundary):
    r = field.kernel_size // 2
    out = np.empty(image.shape, dtype=image.dtype)
    kernels = np.ascontiguousarray(field.kernels, dtype=image.dtype)
    gn.dense_forward(pad(image, r, boundary), kernels, image.dtype.type(0), out)
    return out


def dense_adjoint(residual, field, boundary):
    r = field.kernel_size // 2
    h, w = residual.shape
    padded = np.zeros((h + 2 * r, w + 2 * r), dtype=residual.dtype)
    kernels = np.ascontiguousarray(field.kernels, dtype=residual.dtype)
    gn.dense_adjoint(residual, kernels, _band_height(h, r), padded)
    return pad_adjoint(padded, residual.shape, r, boundary)


TABLE_MAX_KERNELS = 4096
"""A linear field gets a table of its distinct kernels when it has at most this many distinct
(length, angle) pairs and at most a quarter as many as pixels."""
_SAMPLE = 16384
_ENTRY_BYTES = 16  # int16 row and column offsets, float64 weight, float32 copy
_UNSET = object()


class KernelTable:
    """Kernels of a LinearMotionField as CSR nonzeros, and each pixel's label into them."""

    def __init__(self, labels, ptr, lengths, angles, size):
        self.labels, self.ptr = labels, ptr
        self.drow, self.dcol, weight = gn.kernel_entries(lengths, angles, size, ptr)
        self._weights = {np.dtype(np.float64): weight}

    def weight(self, dtype):
        """Kernel weights in the image dtype (cast once per dtype)."""
        dtype = np.dtype(dtype)
        if dtype not in self._weights:
            self._weights[dtype] = self._weights[np.dtype(np.float64)].astype(dtype)
        return self._weights[dtype]

    def arrays(self, dtype):
        return self.labels, self.ptr, self.drow, self.dcol, self.weight(dtype)


class _TableState:
    """Per-field record: applications so far and the tables decided on."""

    def __init__(self):
        self.lock = threading.Lock()
        self.uses = 0
        self.distinct = _UNSET
        self.per_pixel = _UNSET

    def table(self, field) -> KernelTable | None:
        with self.lock:
            self.uses += 1
            if field.kernel_size // 2 > np.iinfo(np.int16).max:  # offsets are int16
                self.distinct = self.per_pixel = None
            if self.distinct is _UNSET:
                self.distinct = _distinct_table(field)
            if self.distinct is not None or self.uses < 2:
                return self.distinct
            if self.per_pixel is _UNSET:
                self.per_pixel = _pixel_table(field)
            return self.per_pixel


def kernel_table(field) -> KernelTable | None:
    """The table to apply ``field`` from at this application, or None to rasterise."""
    return field.__dict__.setdefault("_kernel_table", _TableState()).table(field)


def rasterised(field):
    """A twin of a LinearMotionField that is always rasterised on the fly (for comparisons)."""
    twin = type(field)(field.length, field.angle, kernel_size=field.kernel_size)
    state = twin.__dict__["_kernel_table"] = _TableState()
    state.distinct = state.per_pixel = None
    return twin


def _distinct_table(field) -> KernelTable | None:
    motions = (field.length + 1j * field.angle).ravel()
    limit = min(TABLE_MAX_KERNELS, motions.size // 4)
    step = max(1, motions.size // _SAMPLE)
    if len(np.unique(motions[::step])) > limit:  # cheap refusal for continuous fields
        return None
    distinct, labels = np.unique(motions, return_inverse=True)
    if len(distinct) > limit:
        return None
    lengths, angles = np.ascontiguousarray(distinct.real), np.ascontiguousarray(distinct.imag)
    return KernelTable(labels.reshape(field.image_shape).astype(np.int32),
                       gn.kernel_counts(lengths, angles, field.kernel_size), lengths, angles,
                       field.kernel_size)


def _pixel_table(field) -> KernelTable | None:
    lengths, angles = field.length.ravel(), field.angle.ravel()
    budget = table_memory_bytes()
    if lengths.size * _ENTRY_BYTES > budget:
        return None
    step = max(1, lengths.size // _SAMPLE)  # entries of a sample, before counting them all
    sample = gn.kernel_counts(lengths[::step], angles[::step], field.kernel_size)[-1]
    if 0.9 * sample * step * _ENTRY_BYTES > budget:
        return None
    ptr = gn.kernel_counts(lengths, angles, field.kernel_size)
    if ptr[-1] * _ENTRY_BYTES + ptr.nbytes > budget:
        return None
    labels = np.arange(lengths.size, dtype=np.int32).reshape(field.image_shape)
    return KernelTable(labels, ptr, lengths, angles, field.kernel_size)


def linear_forward(image, field, boundary):
    return linear_forward_channels(image[..., None], field, boundary)[..., 0]


def linear_adjoint(residual, field, boundary):
    return linear_adjoint_channels(residual[..., None], field, boundary)[..., 0]


def linear_adjoint_channels(residual, field, boundary):
    """Adjoint of ``linear_forward_channels`` for an (H, W, C) residual."""
    r = field.kernel_size // 2
    h, w, nc = residual.shape
    planes = np.ascontiguousarray(np.moveaxis(residual, -1, 0))
    padded = np.zeros((nc, h + 2 * r, w + 2 * r), dtype=residual.dtype)
    band = _band_height(h, r)
    table = kernel_table(field)
    if table is not None and nc == 1:
        gn.table_adjoint(planes[0], *table.arrays(residual.dtype), r, band, padded[0])
    elif table is not None:
        gn.table_adjoint_channels(planes, *table.arrays(residual.dtype), r, band, padded)
    elif nc == 1:
        gn.linear_adjoint(planes[0], field.length, field.angle, field.kernel_size, band,
                          padded[0])
    else:
        gn.linear_adjoint_channels(planes, field.length, field.angle, field.kernel_size, band,
                                   padded)
    return np.stack([pad_adjoint(p, (h, w), r, boundary) for p in padded], axis=-1)


def linear_forward_channels(image, field, boundary):
    """Forward blur of an (H, W, C) image, building each pixel's kernel once for all C."""
    r = field.kernel_size // 2
    padded = np.stack([pad(np.ascontiguousarray(image[..., c]), r, boundary)
                       for c in range(image.shape[-1])])
    out = np.empty((image.shape[-1],) + image.shape[:2], dtype=image.dtype)
    table = kernel_table(field)
    zero = image.dtype.type(0)
    if table is not None and len(padded) == 1:
        gn.table_forward(padded[0], *table.arrays(image.dtype), r, zero, out[0])
    elif table is not None:
        gn.table_forward_channels(padded, *table.arrays(image.dtype), r, zero, out)
    elif len(padded) == 1:
        gn.linear_forward(padded[0], field.length, field.angle, field.kernel_size, zero,
                          out[0])
    else:
        gn.linear_forward_channels(padded, field.length, field.angle, field.kernel_size,
                                   zero, out)
    return np.moveaxis(out, 0, -1)
