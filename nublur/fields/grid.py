"""Grids of patch PSFs with bilinear (hat) interpolation between them.

A ``GridField`` holds a gy x gx grid of PSFs, each attached to a node (its patch centre), and
gives every pixel the bilinear interpolation of the four nearest nodes' PSFs:

    k_i = sum_{a, b} w_a(row_i) v_b(col_i) k_ab

with 1-D hat weights ``w_a``, ``v_b`` (piecewise linear between nodes, constant beyond the
outer ones). This is the efficient-filter-flow model of Hirsch et al. with Bartlett windows
(REFERENCE_NOTES.md "Blind kernel estimation", Whyte's makeEFF) and 000 eq. 2 with mixing
maps ``m_ab = w_a v_b``, each zero outside the cells next to its node. The field is a
``BasisField`` whose mixing maps are never stored: ``mixing_window`` hands the operators the
few maps that are non-zero in a window, so a grid of G kernels costs about what 4 basis
kernels cost, whatever G.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, check_finite
from . import BasisField, _check_kernels, _check_pixel, _frozen

__all__ = ["GridField", "hat_weights", "cell_centres"]


def cell_centres(size: int, count: int) -> np.ndarray:
    """Node positions at the centres of ``count`` equal cells of ``size`` pixels."""
    return (np.arange(count) + 0.5) * size / count - 0.5


def hat_weights(nodes: np.ndarray, size: int) -> np.ndarray:
    """(len(nodes), size) piecewise-linear interpolation weights, summing to 1 at each pixel.

    Between two nodes the weights fall linearly from 1 to 0; before the first node and
    after the last one the outer node has weight 1.
    """
    nodes = np.asarray(nodes, dtype=np.float64)
    x = np.arange(size, dtype=np.float64)
    weights = np.zeros((len(nodes), size))
    if len(nodes) == 1:
        weights[0] = 1.0
        return weights
    pos = np.clip(x, nodes[0], nodes[-1])
    right = np.clip(np.searchsorted(nodes, pos, side="right"), 1, len(nodes) - 1)
    t = (pos - nodes[right - 1]) / (nodes[right] - nodes[right - 1])
    weights[right - 1, np.arange(size)] = 1.0 - t
    weights[right, np.arange(size)] += t
    return weights


def _node_breaks(nodes: np.ndarray, size: int) -> np.ndarray:
    """floor(node) + 1 for the interior nodes: rows up to a node see it and the node
    before it, rows past it the node after it (``hat_weights``)."""
    breaks = np.floor(nodes[1:-1]).astype(np.int64) + 1
    return np.unique(breaks[(breaks > 0) & (breaks < size)])


def _check_nodes(nodes, count: int, size: int, name: str) -> np.ndarray:
    if nodes is None:
        return cell_centres(size, count)
    nodes = np.asarray(as_float_array(nodes, name, image=False), dtype=np.float64)
    check_finite(nodes, name)
    if nodes.shape != (count,):
        raise ValueError(f"{name} must have {count} positions (one per grid line), got shape "
                         f"{nodes.shape}")
    if count > 1 and np.any(np.diff(nodes) <= 0):
        raise ValueError(f"{name} must be strictly increasing, got {nodes.tolist()}")
    return nodes


class GridField(BasisField):
    """A gy x gx grid of PSFs interpolated bilinearly between their nodes.

    Parameters
    ----------
    kernels : array_like, shape (gy, gx, K, K)
        One PSF per grid node, in nublur's convention.
    image_shape : (H, W)
    row_nodes, col_nodes : array_like, optional
        Pixel positions of the grid rows (gy values) and columns (gx values), strictly
        increasing; default the centres of a regular gy x gx partition of the image.
    normalize : bool
        Rescale kernels to sum 1 instead of rejecting them.

    Notes
    -----
    As a ``BasisField`` its basis is the G = gy gx kernels in row-major order and its mixing
    maps are ``row_weights[a, :, None] * col_weights[b, None, :]``; ``mixing`` builds that
    (G, H, W) array on request (G H W values), the operators never do.
    """

    def __init__(self, kernels, image_shape, *, row_nodes=None, col_nodes=None,
                 normalize: bool = False):
        kernels = as_float_array(kernels, "kernels", image=False)
        if kernels.ndim != 4:
            raise ValueError(f"kernels must have shape (gy, gx, K, K), got {kernels.shape}")
        kernels = _check_kernels(kernels, "kernels", normalize)
        if len(image_shape) != 2 or min(image_shape) < 1:
            raise ValueError(f"image_shape must be (H, W) with positive sizes, got "
                             f"{image_shape!r}")
        h, w = int(image_shape[0]), int(image_shape[1])
        gy, gx = kernels.shape[:2]
        self.grid_shape = (gy, gx)
        self.row_nodes = _frozen(_check_nodes(row_nodes, gy, h, "row_nodes"))
        self.col_nodes = _frozen(_check_nodes(col_nodes, gx, w, "col_nodes"))
        self.row_weights = _frozen(hat_weights(self.row_nodes, h).astype(kernels.dtype))
        self.col_weights = _frozen(hat_weights(self.col_nodes, w).astype(kernels.dtype))
        self.grid_kernels = _frozen(kernels)
        self.kernels = _frozen(kernels.reshape((gy * gx,) + kernels.shape[2:]))
        self.kernel_size = kernels.shape[-1]
        self.num_basis = gy * gx
        self.dtype = kernels.dtype
        self._shape = (h, w)

    @property
    def image_shape(self):
        return self._shape

    @property
    def mixing(self) -> np.ndarray:
        """The dense (G, H, W) mixing maps (built on each call)."""
        maps = self.row_weights[:, None, :, None] * self.col_weights[None, :, None, :]
        return maps.reshape((self.num_basis,) + self._shape)

    def _pixel_mixing(self, rows, cols) -> np.ndarray:
        wr = self.row_weights[:, rows]
        wc = self.col_weights[:, cols]
        return (wr[:, None, :] * wc[None, :, :]).reshape(self.num_basis, -1)

    def kernel_at(self, row, col):
        _check_pixel(self, row, col)
        return np.tensordot(self._pixel_mixing([row], [col])[:, 0], self.kernels, axes=1)

    def kernels_at(self, rows, cols):
        rows, cols = np.asarray(rows), np.asarray(cols)
        return np.einsum("bn,bkl->nkl", self._pixel_mixing(rows, cols), self.kernels)

    def as_basis(self):
        return self.kernels, self.mixing

    def mixing_window(self, i0: int, j0: int, rows: int, cols: int):
        """The grid nodes whose maps are non-zero on image rows i0:i0+rows, cols j0:j0+cols,
        and those maps there: (indices (n,), maps (n, rows', cols')), clipped to the image."""
        wr = self.row_weights[:, i0:i0 + rows]
        wc = self.col_weights[:, j0:j0 + cols]
        ra = np.flatnonzero(wr.any(axis=1))
        ca = np.flatnonzero(wc.any(axis=1))
        index = (ra[:, None] * self.grid_shape[1] + ca[None, :]).ravel()
        maps = wr[ra][:, None, :, None] * wc[ca][None, :, None, :]
        return index, maps.reshape((len(index),) + maps.shape[2:])

    def mixing_breaks(self):
        """(row_breaks, col_breaks): between consecutive breaks every pixel's non-zero maps
        are the same (at most 2 x 2 nodes). A break follows each interior node; beyond the
        outer nodes only their own maps are non-zero, so the outer cells reach the border."""
        return tuple(_node_breaks(nodes, size)
                     for nodes, size in zip((self.row_nodes, self.col_nodes), self._shape))

    def __repr__(self):
        return (f"GridField(grid={self.grid_shape}, kernel_size={self.kernel_size}, "
                f"image_shape={self.image_shape}, dtype={self.dtype})")
