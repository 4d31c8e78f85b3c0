"""Torch twins of the operators ADMM-IRC applies (001 sections 2.1-2.2), for IRC-Net.

* ``GatherBlur``: any kernel field's blur H as a sparse matrix over the image, with the
  boundary extension folded in, so H^T is its transpose: nublur's per-pixel gather
  ``v(i) = sum_q k_i(q) u(i - q)`` (DESIGN.md section 1) for a ``LinearMotionField``, a
  uniform PSF or any field with ``kernels_at``.
* ``Padding``: a boundary extension as an index map (``nublur.operators.boundaries``) and its
  adjoint, the fold.
* ``filter_forward`` / ``filter_adjoint``: ``v = sum_b m_b (f_b conv u)`` and its adjoint,
  nublur's ``FilterOperator`` (the blended-LUT IRC filters of 001 eq. 17), differentiable in
  the filters and the mixing.
* ``finite_difference`` / ``finite_difference_adjoint``: 001's gradient filters with the
  boundary, nublur's ``FiniteDifference``.

Each is tested equal to nublur's operator (``tests/test_irc_twin.py``).
"""

from __future__ import annotations

import numpy as np
import torch

from nublur.operators.blur import as_field
from nublur.operators.boundaries import padding_indices

__all__ = ["GatherBlur", "Padding", "filter_forward", "filter_adjoint", "finite_difference",
           "finite_difference_adjoint"]

_ROWS_PER_CHUNK = 16


class Padding:
    """Extension of (..., H, W) images by r pixels with a nublur boundary, and its fold."""

    def __init__(self, shape, r: int, boundary: str):
        h, w = shape
        self.shape, self.r = (h, w), r
        rows = padding_indices(h, r, boundary)
        cols = padding_indices(w, r, boundary)
        self.rows = torch.as_tensor(np.maximum(rows, 0))
        self.cols = torch.as_tensor(np.maximum(cols, 0))
        self.row_keep = torch.as_tensor(rows >= 0)
        self.col_keep = torch.as_tensor(cols >= 0)

    def pad(self, u: torch.Tensor) -> torch.Tensor:
        out = u.index_select(-2, self.rows).index_select(-1, self.cols)
        mask = self.row_keep[:, None] & self.col_keep[None, :]
        return out * mask.to(u.dtype)

    def fold(self, v: torch.Tensor) -> torch.Tensor:
        """Adjoint of ``pad``: each padded sample added onto the pixel it copies."""
        mask = (self.row_keep[:, None] & self.col_keep[None, :]).to(v.dtype)
        v = v * mask
        h, w = self.shape
        rows = torch.zeros(v.shape[:-2] + (h, v.shape[-1]), dtype=v.dtype)
        rows = rows.index_add(-2, self.rows, v)
        out = torch.zeros(v.shape[:-2] + (h, w), dtype=v.dtype)
        return out.index_add(-1, self.cols, rows)


class GatherBlur:
    """H of a kernel field on (H, W) images as a sparse (HW, HW) matrix; ``forward`` and
    ``adjoint`` act on (..., H, W) tensors (the boundary folded into the matrix)."""

    def __init__(self, field, shape, boundary: str = "reflect", dtype=torch.float64):
        field = as_field(field, "field")
        h, w = shape
        k = field.kernel_size
        r = k // 2
        rows_idx = padding_indices(h, r, boundary)
        cols_idx = padding_indices(w, r, boundary)
        targets, sources, weights = [], [], []
        for i0 in range(0, h, _ROWS_PER_CHUNK):
            ii, jj = np.meshgrid(np.arange(i0, min(h, i0 + _ROWS_PER_CHUNK)), np.arange(w),
                                 indexing="ij")
            ii, jj = ii.ravel(), jj.ravel()
            kern = field.kernels_at(ii, jj)
            pix, qa, qb = np.nonzero(kern)
            src_r = rows_idx[ii[pix] + 2 * r - qa]  # padded[i + 2r - a] holds u(i + r - a)
            src_c = cols_idx[jj[pix] + 2 * r - qb]
            keep = (src_r >= 0) & (src_c >= 0)
            targets.append((ii[pix] * w + jj[pix])[keep])
            sources.append((src_r * w + src_c)[keep])
            weights.append(kern[pix, qa, qb][keep])
        index = torch.as_tensor(np.stack([np.concatenate(targets), np.concatenate(sources)]))
        values = torch.as_tensor(np.concatenate(weights), dtype=dtype)
        matrix = torch.sparse_coo_tensor(index, values, (h * w, h * w)).coalesce()
        self.shape = (h, w)
        self.matrix = matrix.to_sparse_csr()
        self.matrix_t = matrix.t().coalesce().to_sparse_csr()

    def _apply(self, matrix, u):
        lead = u.shape[:-2]
        flat = u.reshape(-1, self.shape[0] * self.shape[1]).T
        return (matrix @ flat).T.reshape(lead + self.shape)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self._apply(self.matrix, u)

    def adjoint(self, v: torch.Tensor) -> torch.Tensor:
        return self._apply(self.matrix_t, v)


def _conv_full(u: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Full linear convolution of (..., P, Q) with filters (B, w, w): (..., B, P+w-1, Q+w-1)."""
    size = (u.shape[-2] + f.shape[-2] - 1, u.shape[-1] + f.shape[-1] - 1)
    spec = torch.fft.rfft2(u, s=size)[..., None, :, :] * torch.fft.rfft2(f, s=size)
    return torch.fft.irfft2(spec, s=size)


def filter_forward(u, filters, mixing, padding: Padding):
    """sum_b m_b (f_b conv u) with the boundary of ``padding`` (radius w // 2); ``mixing``
    (B, H, W) or None for a single filter (1, w, w)."""
    h, w = padding.shape
    r = filters.shape[-1] // 2
    full = _conv_full(padding.pad(u), filters)
    valid = full[..., 2 * r:2 * r + h, 2 * r:2 * r + w]
    if mixing is None:
        return valid[..., 0, :, :]
    return (valid * mixing).sum(dim=-3)


def filter_adjoint(v, filters, mixing, padding: Padding):
    """Adjoint of ``filter_forward``: sum_b f_b^T (m_b v), folded back by the boundary."""
    h, w = padding.shape
    r = filters.shape[-1] // 2
    weighted = v[..., None, :, :] * (1.0 if mixing is None else mixing)
    flipped = torch.flip(filters, dims=(-2, -1))
    size = (h + 2 * r, w + 2 * r)
    # correlation with f_b onto the padded grid: full convolution with the flipped filter
    spec = torch.fft.rfft2(weighted, s=(h + 4 * r, w + 4 * r)) * \
        torch.fft.rfft2(flipped, s=(h + 4 * r, w + 4 * r))
    full = torch.fft.irfft2(spec, s=(h + 4 * r, w + 4 * r)).sum(dim=-3)
    return padding.fold(full[..., :size[0], :size[1]])


def _previous_of_first(n: int, boundary: str) -> int:
    return int(padding_indices(n, 1, boundary)[0])


def finite_difference(u: torch.Tensor, axis: int, boundary: str) -> torch.Tensor:
    """u(i) - u(i - 1) along columns (axis 0, nublur's filter 0) or rows (axis 1)."""
    dim = -1 if axis == 0 else -2
    n = u.shape[dim]
    p0 = _previous_of_first(n, boundary)
    first = u.narrow(dim, 0, 1)
    before = u.narrow(dim, p0, 1) if p0 >= 0 else torch.zeros_like(first)
    rest = u.narrow(dim, 1, n - 1) - u.narrow(dim, 0, n - 1)
    return torch.cat([first - before, rest], dim=dim)


def finite_difference_adjoint(v: torch.Tensor, axis: int, boundary: str) -> torch.Tensor:
    """Adjoint of ``finite_difference``."""
    dim = -1 if axis == 0 else -2
    n = v.shape[dim]
    p0 = _previous_of_first(n, boundary)
    shifted = torch.cat([v.narrow(dim, 1, n - 1), torch.zeros_like(v.narrow(dim, 0, 1))],
                        dim=dim)
    out = v - shifted
    if p0 >= 0:
        index = torch.tensor([p0])
        out = out.index_add(dim, index, -v.narrow(dim, 0, 1))
    return out
