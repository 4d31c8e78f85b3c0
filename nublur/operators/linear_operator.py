"""The blur of a kernel field as a ``scipy.sparse.linalg.LinearOperator``."""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator

from .._validation import check_boundary
from ..fields import BasisField
from .blur import as_field, blur, blur_adjoint

__all__ = ["BlurOperator", "mask_first_operator"]


class BlurOperator(LinearOperator):
    """H of a kernel field on images of ``image_shape``, usable by scipy's cg, lsqr, gmres.

    Vectors are flattened images (C order). ``matvec`` is ``blur`` and ``rmatvec`` is the
    exact ``blur_adjoint``, so ``H.T @ H`` is symmetric positive semi-definite as CG needs.

    Parameters
    ----------
    field : KernelField or ndarray (K, K)
    image_shape : (H, W) or (H, W, C)
        Colour images have channels last.
    boundary : str
        As in ``blur``.
    dtype : numpy dtype
        float64 (default) or float32.
    """

    def __init__(self, field, image_shape, *, boundary: str = "reflect", dtype=np.float64):
        self.field = as_field(field)
        image_shape = tuple(int(s) for s in image_shape)
        if len(image_shape) not in (2, 3):
            raise ValueError(f"image_shape must be (H, W) or (H, W, C), got {image_shape}")
        self.field.check_image_shape(image_shape[:2], "image_shape")
        self.image_shape = image_shape
        self.boundary = check_boundary(boundary)
        self._channel_axis = -1 if len(image_shape) == 3 else None
        n = int(np.prod(image_shape))
        super().__init__(dtype=np.dtype(dtype), shape=(n, n))

    def _matvec(self, x):
        image = np.asarray(x, dtype=self.dtype).reshape(self.image_shape)
        return blur(image, self.field, boundary=self.boundary,
                    channel_axis=self._channel_axis).ravel()

    def _rmatvec(self, y):
        image = np.asarray(y, dtype=self.dtype).reshape(self.image_shape)
        return blur_adjoint(image, self.field, boundary=self.boundary,
                            channel_axis=self._channel_axis).ravel()

    def _adjoint(self):
        return _AdjointBlur(self)


class _AdjointBlur(LinearOperator):
    def __init__(self, op: BlurOperator):
        self._op = op
        super().__init__(dtype=op.dtype, shape=op.shape)

    def _matvec(self, x):
        return self._op._rmatvec(x)

    def _rmatvec(self, y):
        return self._op._matvec(y)

    def _adjoint(self):
        return self._op


def mask_first_operator(kernels, mixing, *, boundary: str = "reflect", normalize: bool = False):
    """The mask-first product convolution ``v = sum_b k_b conv (m_b u)`` as a LinearOperator.

    This order (deepinv's product convolution) is not a gather field: the PSF belongs to the
    source pixel. It is exactly the adjoint of the kernel-first field with flipped kernels,
    ``BasisField(rot180(k_b), m_b)``, so it is returned as that operator's adjoint (its
    ``matvec`` is ``blur_adjoint``). ``boundary`` is the kernel-first field's boundary.
    """
    flipped = BasisField.from_correlation_kernels(kernels, mixing, normalize=normalize)
    return BlurOperator(flipped, flipped.image_shape, boundary=boundary).H
