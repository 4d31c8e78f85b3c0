"""``ReducedBasisField``: a basis field whose mixing maps are held at reduced resolution.

A network estimates a ``BasisField`` (000 eq. 2) on a reduced copy of a large photo; its B
mixing maps at full resolution would hold B x H x W values (25 maps: 5 GB at 50 MP). This
field keeps the reduced maps and gives the full-resolution maps of any window by bilinear
upsampling (the reduced pixel (i, j) covers full pixels i f .. (i + 1) f - 1), so a tiled
solver builds only its tile's maps. Bilinear weights sum to 1, so the upsampled maps stay
convex combinations.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, check_positive_int
from . import BasisField, KernelField, _check_kernels, _check_mixing, _check_pixel, _frozen

__all__ = ["ReducedBasisField"]


class ReducedBasisField(KernelField):
    """B basis PSFs mixed by maps stored ``factor`` times smaller than the image.

    Parameters
    ----------
    kernels : array_like, shape (B, K, K)
        Basis PSFs at full resolution, in nublur's convention.
    mixing : array_like, shape (B, h, w)
        Non-negative maps summing to 1 over B, at the reduced resolution.
    image_shape : (H, W)
        The full-resolution image; the maps are upsampled by H / h along rows and W / w
        along columns, the reduced pixel i centred on full-resolution (i + 0.5) H / h - 0.5,
        edges extended.
    normalize : bool
        Rescale kernels and maps to unit sums instead of rejecting them.
    """

    def __init__(self, kernels, mixing, image_shape, *, normalize: bool = False):
        kernels = as_float_array(kernels, "kernels", image=False)
        if kernels.ndim != 3:
            raise ValueError(f"kernels must have shape (B, K, K), got {kernels.shape}")
        kernels = _check_kernels(kernels, "kernels", normalize)
        checked = _check_mixing(mixing, "mixing", kernels.shape[0], normalize)
        if len(tuple(image_shape)) != 2:
            raise ValueError(f"image_shape must be (H, W), got {image_shape!r}")
        shape = tuple(check_positive_int(n, "image_shape") for n in image_shape)
        if shape[0] < checked.shape[1] or shape[1] < checked.shape[2]:
            raise ValueError(f"image_shape {shape} is smaller than the reduced mixing maps "
                             f"{checked.shape[1:]}")
        dtype = np.result_type(kernels.dtype, checked.dtype)
        self.kernels = _frozen(kernels.astype(dtype, copy=False))
        self.mixing = _frozen(checked.astype(dtype, copy=False), source=mixing)
        self._shape = shape
        self.kernel_size = kernels.shape[-1]
        self.num_basis = kernels.shape[0]
        self.dtype = np.dtype(dtype)

    @property
    def image_shape(self):
        return self._shape

    def maps_at(self, rows, cols) -> np.ndarray:
        """Full-resolution maps on the grid ``rows x cols`` (1-D pixel indices, any order):
        shape (B, len(rows), len(cols))."""
        r0, r1, ar = _bilinear(np.asarray(rows), self._shape[0], self.mixing.shape[1])
        c0, c1, ac = _bilinear(np.asarray(cols), self._shape[1], self.mixing.shape[2])
        ar = ar.astype(self.dtype)[:, None]
        ac = ac.astype(self.dtype)
        along_rows = self.mixing[:, r0] * (1 - ar) + self.mixing[:, r1] * ar
        return along_rows[:, :, c0] * (1 - ac) + along_rows[:, :, c1] * ac

    def window(self, rows, cols) -> BasisField:
        """The ``BasisField`` of the window ``rows x cols`` (full-resolution maps)."""
        return BasisField(self.kernels, self.maps_at(rows, cols), normalize=True)

    def to_basis(self) -> BasisField:
        """The whole field with full-resolution maps (B x H x W values, built once)."""
        if "_basis" not in self.__dict__:
            self._basis = self.window(np.arange(self._shape[0]), np.arange(self._shape[1]))
        return self._basis

    def kernel_at(self, row, col):
        _check_pixel(self, row, col)
        return self.kernels_at(np.array([row]), np.array([col]))[0]

    def kernels_at(self, rows, cols):
        r0, r1, ar = _bilinear(np.asarray(rows), self._shape[0], self.mixing.shape[1])
        c0, c1, ac = _bilinear(np.asarray(cols), self._shape[1], self.mixing.shape[2])
        m = self.mixing
        weights = (m[:, r0, c0] * ((1 - ar) * (1 - ac)) + m[:, r1, c0] * (ar * (1 - ac))
                   + m[:, r0, c1] * ((1 - ar) * ac) + m[:, r1, c1] * (ar * ac))
        return np.einsum("bn,bkl->nkl", weights, self.kernels)

    def __repr__(self):
        return (f"ReducedBasisField(B={self.num_basis}, K={self.kernel_size}, "
                f"image_shape={self._shape}, maps {self.mixing.shape[1:]})")


def _bilinear(index: np.ndarray, full: int, reduced: int):
    """Lower and upper reduced indices and the upper weight of full-resolution ``index``."""
    position = np.clip((index + 0.5) * (reduced / full) - 0.5, 0, reduced - 1)
    lower = np.floor(position).astype(np.intp)
    upper = np.minimum(lower + 1, reduced - 1)
    return lower, upper, position - lower
