"""Kernel fields: a blur kernel (PSF) for every output pixel.

Convention (DESIGN.md section 1): a field assigns to every output pixel i a PSF k_i of odd
size K x K (centre at K // 2), non-negative and summing to 1, and the blurred image is

    v(i) = sum_q k_i(q) u(i - q)                 (000 eq. 1, 002 eq. 2)

The basis model (000 eq. 2, eq. 10) is kernel first: k_i = sum_b m_b(i) k_b.

Other conventions are converted here, at the boundary, never inside the operators:

* correlation kernels (the basis network of 000): ``BasisField.from_correlation_kernels``
  flips them by 180 degrees;
* the mask-first product-convolution order ``v = sum_b k_b conv (m_b u)`` (deepinv) is the
  adjoint of the kernel-first field with flipped kernels;
  ``nublur.operators.mask_first_operator`` returns it as a ``LinearOperator`` (exact).
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import as_float_array, check_finite, check_positive_int
from ..kernels._motion_numba import max_motion_size, motion_kernels_batch
from ..kernels.linear import linear_kernel

__all__ = ["KernelField", "UniformField", "BasisField", "GridField", "DenseField",
           "LinearMotionField", "ReducedBasisField", "LatentField", "DEFAULT_DENSE_LIMIT"]

DEFAULT_DENSE_LIMIT = 2 * 1024**3
"""Default byte limit of ``to_dense`` (2 GiB); pass ``max_bytes`` to change it per call."""

_SUM_TOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-8}


def _frozen(array: np.ndarray, source=None) -> np.ndarray:
    """Read-only ``array``; copied unless it provably shares no memory with ``source``."""
    if source is None or not isinstance(source, np.ndarray) \
            or np.may_share_memory(array, source):
        array = np.array(array, copy=True)
    array.setflags(write=False)
    return array


def _check_kernels(kernels, name: str, normalize: bool, kernel_axes=(-2, -1)) -> np.ndarray:
    """Validated float copy of a stack of square, odd, non-negative, unit-sum kernels."""
    kernels = as_float_array(kernels, name, image=False)
    check_finite(kernels, name)
    kh, kw = kernels.shape[kernel_axes[0]], kernels.shape[kernel_axes[1]]
    if kh != kw or kh % 2 == 0:
        raise ValueError(f"{name} must be square with an odd size (centre at K // 2), got "
                         f"{kh} x {kw}")
    if kernels.min(initial=0.0) < 0:
        raise ValueError(f"{name} must be non-negative (no negative light), min is "
                         f"{kernels.min():.3g}")
    sums = kernels.sum(axis=kernel_axes)
    if normalize:
        if np.any(sums <= 0):
            raise ValueError(f"{name} has an all-zero kernel, which cannot be normalised")
        kernels = kernels / np.expand_dims(sums, kernel_axes)
    elif np.abs(sums - 1).max(initial=0.0) > _SUM_TOL[kernels.dtype]:
        raise ValueError(f"{name} must each sum to 1 (max deviation "
                         f"{np.abs(sums - 1).max():.3g}); pass normalize=True to rescale")
    return kernels


def _check_mixing(mixing, name: str, num_basis: int, normalize: bool) -> np.ndarray:
    mixing = as_float_array(mixing, name, image=False)
    check_finite(mixing, name)
    if mixing.ndim != 3 or mixing.shape[0] != num_basis:
        raise ValueError(f"{name} must have shape (B={num_basis}, H, W), got {mixing.shape}")
    if mixing.min(initial=0.0) < 0:
        raise ValueError(f"{name} must be non-negative, min is {mixing.min():.3g}")
    sums = mixing.sum(axis=0)
    if normalize:
        if np.any(sums <= 0):
            raise ValueError(f"{name} is zero at some pixel, so it cannot be normalised")
        mixing = mixing / sums
    elif np.abs(sums - 1).max(initial=0.0) > _SUM_TOL[mixing.dtype]:
        raise ValueError(f"{name} must sum to 1 over B at every pixel (max deviation "
                         f"{np.abs(sums - 1).max():.3g}); pass normalize=True to rescale")
    return mixing


def nonzero_maps(mixing: np.ndarray, i0: int, j0: int, rows: int, cols: int):
    """(indices, maps) of the maps of a (B, H, W) stack that are non-zero on the window
    rows i0:i0+rows, cols j0:j0+cols (clipped to the image)."""
    block = mixing[:, i0:i0 + rows, j0:j0 + cols]
    index = np.flatnonzero(block.reshape(len(block), -1).any(axis=1))
    return index, block[index]


def _check_pixel(field, row, col):
    h, w = field.image_shape
    for name, value, size in (("row", row, h), ("col", col, w)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
                or not 0 <= value < size:
            raise IndexError(f"{name} must be an integer in [0, {size}), got {value!r}")


class KernelField:
    """Base class of kernel fields; see the module docstring for the convention."""

    kernel_size: int
    dtype: np.dtype

    @property
    def image_shape(self) -> tuple[int, int] | None:
        """(H, W) of the images the field applies to (None for a uniform field)."""
        raise NotImplementedError

    def kernel_at(self, row: int, col: int) -> np.ndarray:
        """The (K, K) PSF at output pixel (row, col)."""
        raise NotImplementedError

    def kernels_at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """PSFs at many pixels, shape (n, K, K)."""
        return np.stack([self.kernel_at(int(r), int(c)) for r, c in zip(rows, cols)])

    def check_image_shape(self, shape, name: str = "image") -> None:
        """Raise if a (H, W) image shape does not match the field."""
        own = self.image_shape
        if own is not None and tuple(shape) != own:
            raise ValueError(f"{name} has spatial shape {tuple(shape)} but the field is defined "
                             f"on {own}")

    def dense_nbytes(self, image_shape=None) -> int:
        h, w = self._resolve_shape(image_shape)
        return h * w * self.kernel_size**2 * self.dtype.itemsize

    def to_dense(self, image_shape=None, *, max_bytes: int = DEFAULT_DENSE_LIMIT) -> "DenseField":
        """The equivalent ``DenseField``; refuses above ``max_bytes`` (default 2 GiB)."""
        h, w = self._resolve_shape(image_shape)
        nbytes = self.dense_nbytes((h, w))
        if nbytes > max_bytes:
            raise MemoryError(f"a dense field of {h}x{w} pixels with {self.kernel_size}x"
                              f"{self.kernel_size} kernels needs {nbytes / 2**30:.2f} GiB, above "
                              f"max_bytes={max_bytes / 2**30:.2f} GiB; raise max_bytes or keep "
                              f"the compact field")
        rows, cols = np.divmod(np.arange(h * w), w)
        kernels = np.empty((h * w, self.kernel_size, self.kernel_size), self.dtype)
        for start in range(0, h * w, 65536):
            stop = min(start + 65536, h * w)
            kernels[start:stop] = self.kernels_at(rows[start:stop], cols[start:stop])
        return DenseField(kernels.reshape(h, w, self.kernel_size, self.kernel_size),
                          _validated=True)

    def _resolve_shape(self, image_shape):
        if image_shape is None:
            if self.image_shape is None:
                raise ValueError("image_shape is required for a uniform field")
            return self.image_shape
        if len(image_shape) != 2:
            raise ValueError(f"image_shape must be (H, W), got {image_shape!r}")
        self.check_image_shape(image_shape, "image_shape")
        return int(image_shape[0]), int(image_shape[1])


class UniformField(KernelField):
    """The same PSF at every pixel (plain convolution).

    Parameters
    ----------
    psf : array_like, shape (K, K)
        Odd, non-negative, summing to 1 (or ``normalize=True``).
    """

    def __init__(self, psf, *, normalize: bool = False):
        psf = as_float_array(psf, "psf", image=False)
        if psf.ndim != 2:
            raise ValueError(f"psf must be 2-D (K, K), got shape {psf.shape}")
        self.psf = _frozen(_check_kernels(psf, "psf", normalize))
        self.kernel_size = self.psf.shape[0]
        self.dtype = self.psf.dtype

    @property
    def image_shape(self):
        return None

    def kernel_at(self, row, col):
        return self.psf.copy()

    def kernels_at(self, rows, cols):
        return np.broadcast_to(self.psf, (len(rows),) + self.psf.shape).copy()

    def as_basis(self) -> tuple[np.ndarray, None]:
        """(kernels (1, K, K), mixing None): the basis operator's view of this field."""
        return self.psf[None], None

    def __repr__(self):
        return f"UniformField(kernel_size={self.kernel_size}, dtype={self.dtype})"


class BasisField(KernelField):
    """Per-pixel convex combinations of B basis PSFs (000 eq. 2).

    Parameters
    ----------
    kernels : array_like, shape (B, K, K)
        Basis PSFs in nublur's convention (use ``from_correlation_kernels`` for 000's network).
    mixing : array_like, shape (B, H, W)
        Non-negative mixing coefficients summing to 1 over B at every pixel.
    normalize : bool
        Rescale kernels and mixing to unit sums instead of rejecting them.
    """

    def __init__(self, kernels, mixing, *, normalize: bool = False):
        kernels = as_float_array(kernels, "kernels", image=False)
        if kernels.ndim != 3:
            raise ValueError(f"kernels must have shape (B, K, K), got {kernels.shape}")
        kernels = _check_kernels(kernels, "kernels", normalize)
        checked = _check_mixing(mixing, "mixing", kernels.shape[0], normalize)
        dtype = np.result_type(kernels.dtype, checked.dtype)
        self.kernels = _frozen(kernels.astype(dtype, copy=False))
        # with normalize=True the check already made a private copy of a large mixing array
        self.mixing = _frozen(checked.astype(dtype, copy=False), source=mixing)
        self.kernel_size = kernels.shape[-1]
        self.num_basis = kernels.shape[0]
        self.dtype = np.dtype(dtype)

    @property
    def image_shape(self):
        return self.mixing.shape[1:]

    def kernel_at(self, row, col):
        _check_pixel(self, row, col)
        return np.tensordot(self.mixing[:, row, col], self.kernels, axes=1)

    def kernels_at(self, rows, cols):
        return np.einsum("bn,bkl->nkl", self.mixing[:, rows, cols], self.kernels)

    def as_basis(self):
        return self.kernels, self.mixing

    def mixing_window(self, i0: int, j0: int, rows: int, cols: int):
        """The basis kernels whose maps are non-zero on image rows i0:i0+rows, cols
        j0:j0+cols, and those maps there: (indices (n,), maps (n, rows', cols')), clipped
        to the image. Operators transform only these kernels for that window (compact
        support: segment masks, patch grids)."""
        return nonzero_maps(self.mixing, i0, j0, rows, cols)

    def mixing_breaks(self):
        """Rows and columns where the set of non-zero maps may change, or None if unknown.

        Returns None here (any map may start anywhere); a field whose maps are constant in
        support on the rectangles between some grid lines (``GridField``) returns those
        lines, ``(row_breaks, col_breaks)``, so that windows can be cut along them.
        """
        return None

    @classmethod
    def from_correlation_kernels(cls, kernels, mixing, *, normalize: bool = False):
        """Field from correlation kernels, as predicted by 000's network.

        000's forward model is ``v = sum_b m_b (k_b correlate u)`` (REFERENCE_NOTES.md);
        correlation with k equals convolution with k rotated by 180 degrees.
        """
        kernels = as_float_array(kernels, "kernels", image=False)
        if kernels.ndim != 3:
            raise ValueError(f"kernels must have shape (B, K, K), got {kernels.shape}")
        return cls(kernels[:, ::-1, ::-1], mixing, normalize=normalize)

    @classmethod
    def from_field(cls, field: KernelField, rank: int, *, image_shape=None, num_samples=8192,
                   num_iter=200, rng=None):
        """Low-rank compression of any field into ``rank`` basis PSFs.

        The kernels of a pixel sample are factorised as X ~ M Kb with non-negative factors
        (HALS sweeps initialised from the truncated SVD, NNDSVD), each basis kernel
        normalised to sum 1; the mixing of every pixel is then fitted by non-negative least
        squares on that basis (HALS), clipped and renormalised to sum 1.

        Parameters
        ----------
        field : KernelField
        rank : int
            Number of basis kernels B.
        image_shape : (H, W), optional
            Required for a ``UniformField``.
        num_samples : int
            Pixels sampled to fit the basis (all pixels when there are fewer).
        num_iter : int
            HALS sweeps.
        rng : numpy.random.Generator, optional
            Pixel sampling (default seeded with 0, so the result is deterministic).

        Returns
        -------
        field : BasisField
        relative_error : float
            ||X - M Kb||_F / ||X||_F over all pixels' kernels.
        """
        if not isinstance(field, KernelField):
            raise TypeError(f"field must be a KernelField, got {type(field).__name__}")
        rank = check_positive_int(rank, "rank")
        h, w = field._resolve_shape(image_shape)
        rng = np.random.default_rng(0) if rng is None else rng
        n = h * w
        picked = np.arange(n) if n <= num_samples else np.sort(
            rng.choice(n, size=num_samples, replace=False))
        rows, cols = np.divmod(picked, w)
        ksz = field.kernel_size
        sample = field.kernels_at(rows, cols).reshape(len(picked), -1).astype(np.float64)
        basis = _nmf_basis(sample, rank, num_iter)
        mixing = np.empty((rank, n))
        err2 = 0.0
        total2 = 0.0
        all_rows, all_cols = np.divmod(np.arange(n), w)
        for start in range(0, n, 16384):
            stop = min(start + 16384, n)
            x = field.kernels_at(all_rows[start:stop], all_cols[start:stop])
            x = x.reshape(stop - start, -1).astype(np.float64)
            m = _nnls_mixing(x, basis, num_iter)
            mixing[:, start:stop] = m.T
            err2 += np.sum((x - m @ basis) ** 2)
            total2 += np.sum(x**2)
        out = cls(basis.reshape(rank, ksz, ksz).astype(field.dtype),
                  mixing.reshape(rank, h, w).astype(field.dtype), normalize=True)
        return out, float(np.sqrt(err2 / total2))

    def __repr__(self):
        return (f"BasisField(B={self.num_basis}, kernel_size={self.kernel_size}, "
                f"image_shape={self.image_shape}, dtype={self.dtype})")


def _nmf_basis(x: np.ndarray, rank: int, num_iter: int) -> np.ndarray:
    """Non-negative basis (rank, K^2) with unit row sums, X ~ M Kb.

    NNDSVD initialisation from the truncated SVD, then HALS (hierarchical alternating least
    squares) sweeps over the rows of Kb and the columns of M.
    """
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    basis = np.empty((rank, x.shape[1]))
    for j in range(rank):
        if j >= len(s) or s[j] <= 0:
            basis[j] = x.mean(axis=0)
            continue
        vp, vn = np.maximum(vt[j], 0), np.maximum(-vt[j], 0)
        up, un = np.maximum(u[:, j], 0), np.maximum(-u[:, j], 0)
        pos = np.linalg.norm(vp) * np.linalg.norm(up)
        neg = np.linalg.norm(vn) * np.linalg.norm(un)
        basis[j] = vp if pos >= neg else vn
    basis += 1e-6 * basis.max()
    basis /= basis.sum(axis=1, keepdims=True)
    mix = _nnls_mixing(x, basis, 20, normalise=False)
    for _ in range(num_iter):
        gram, xtm = mix.T @ mix, mix.T @ x
        for j in range(rank):
            step = (xtm[j] - gram[j] @ basis) / max(gram[j, j], 1e-30)
            basis[j] = np.maximum(basis[j] + step, 0)
        sums = np.maximum(basis.sum(axis=1, keepdims=True), 1e-30)
        basis /= sums
        mix *= sums.T
        mix = _hals_mixing(x @ basis.T, basis @ basis.T, mix, 1)
    return basis


def _hals_mixing(xb, gram, mix, num_iter):
    for _ in range(num_iter):
        for j in range(gram.shape[0]):
            step = (xb[:, j] - mix @ gram[:, j]) / max(gram[j, j], 1e-30)
            mix[:, j] = np.maximum(mix[:, j] + step, 0)
    return mix


def _nnls_mixing(x: np.ndarray, basis: np.ndarray, num_iter: int,
                 normalise: bool = True) -> np.ndarray:
    """Mixing (n, rank) >= 0 fitting x ~ mixing @ basis (HALS), rows renormalised to sum 1."""
    rank = basis.shape[0]
    mix = _hals_mixing(x @ basis.T, basis @ basis.T, np.full((x.shape[0], rank), 1.0 / rank),
                       num_iter)
    if not normalise:
        return mix
    sums = mix.sum(axis=1, keepdims=True)
    return np.where(sums > 0, mix / np.where(sums > 0, sums, 1), 1.0 / rank)


class DenseField(KernelField):
    """An explicit PSF for every pixel.

    Parameters
    ----------
    kernels : array_like, shape (H, W, K, K)
    normalize : bool
        Rescale each kernel to sum 1 instead of rejecting it.
    """

    def __init__(self, kernels, *, normalize: bool = False, _validated: bool = False):
        if not _validated:
            kernels = as_float_array(kernels, "kernels", image=False)
            if kernels.ndim != 4:
                raise ValueError(f"kernels must have shape (H, W, K, K), got {kernels.shape}")
            kernels = _check_kernels(kernels, "kernels", normalize)
            kernels = np.array(kernels, copy=True)
        kernels.setflags(write=False)
        self.kernels = kernels
        self.kernel_size = kernels.shape[-1]
        self.dtype = kernels.dtype

    @property
    def image_shape(self):
        return self.kernels.shape[:2]

    def kernel_at(self, row, col):
        _check_pixel(self, row, col)
        return self.kernels[row, col].copy()

    def kernels_at(self, rows, cols):
        return self.kernels[rows, cols]

    def __repr__(self):
        return f"DenseField(kernel_size={self.kernel_size}, image_shape={self.image_shape})"


class LinearMotionField(KernelField):
    """Per-pixel linear motion: length (px) and angle (degrees) maps.

    Each pixel's PSF is ``linear_kernel(length, angle)`` (MATLAB fspecial('motion')). The
    operators keep no dense kernel array: they read a table of the kernels' nonzero entries
    (the distinct kernels, or one per pixel within a memory budget; see
    ``nublur.operators._gather``) or rasterise each kernel on the fly.

    Parameters
    ----------
    length : array_like, shape (H, W)
        Motion lengths in pixels, >= 0 (below 1 is the delta, as fspecial).
    angle : array_like, shape (H, W)
        Angles in degrees, counter-clockwise from +x with rows pointing down (taken mod 180).
    kernel_size : int, optional
        Odd K holding every pixel's kernel; default the smallest that does.
    """

    def __init__(self, length, angle, kernel_size: int | None = None):
        length = np.asarray(as_float_array(length, "length", image=False), dtype=np.float64)
        angle = np.asarray(as_float_array(angle, "angle", image=False), dtype=np.float64)
        for name, arr in (("length", length), ("angle", angle)):
            if arr.ndim != 2:
                raise ValueError(f"{name} must be a 2-D (H, W) map, got shape {arr.shape}")
            check_finite(arr, name)
        if length.shape != angle.shape:
            raise ValueError(f"length and angle must have the same shape, got {length.shape} "
                             f"and {angle.shape}")
        if length.min(initial=0.0) < 0:
            raise ValueError(f"length must be >= 0, min is {length.min():.3g}")
        self.length = _frozen(length)
        self.angle = _frozen(np.mod(angle, 180.0))
        needed = _max_motion_size(self.length, self.angle)
        if kernel_size is None:
            kernel_size = needed
        elif isinstance(kernel_size, bool) or not isinstance(kernel_size, numbers.Integral) \
                or kernel_size % 2 == 0 or kernel_size < needed:
            raise ValueError(f"kernel_size must be an odd integer >= {needed} (the largest "
                             f"motion in the field), got {kernel_size!r}")
        self.kernel_size = int(kernel_size)
        self.dtype = np.dtype(np.float64)

    @classmethod
    def from_flow(cls, u, v, kernel_size: int | None = None):
        """Field from a motion flow (u, v) in pixels.

        u points right (+x) and v up (towards row 0), so that (u, v) = l (cos theta, sin theta)
        in the angle convention of this class. The flow is first folded to u >= 0 (002 eq. 5);
        (u, v) and (-u, -v) give the same linear kernel.
        """
        u = np.asarray(as_float_array(u, "u", image=False), dtype=np.float64)
        v = np.asarray(as_float_array(v, "v", image=False), dtype=np.float64)
        if u.shape != v.shape or u.ndim != 2:
            raise ValueError(f"u and v must be 2-D maps of the same shape, got {u.shape} and "
                             f"{v.shape}")
        check_finite(u, "u")
        check_finite(v, "v")
        u, v = fold_flow(u, v)
        length = np.hypot(u, v)
        angle = np.mod(np.degrees(np.arctan2(v, u)), 180.0)
        return cls(length, angle, kernel_size=kernel_size)

    @property
    def image_shape(self):
        return self.length.shape

    def kernel_at(self, row, col):
        _check_pixel(self, row, col)
        return linear_kernel(self.length[row, col], self.angle[row, col], size=self.kernel_size)

    def kernels_at(self, rows, cols):
        out = np.empty((len(rows), self.kernel_size, self.kernel_size))
        motion_kernels_batch(self.length[rows, cols], self.angle[rows, cols], self.kernel_size,
                             out)
        return out

    def __repr__(self):
        return (f"LinearMotionField(kernel_size={self.kernel_size}, "
                f"image_shape={self.image_shape})")


def fold_flow(u: np.ndarray, v: np.ndarray):
    """002 eq. 5: (u, v) -> (-u, -v) where u < 0, so that u >= 0."""
    flip = u < 0
    return np.where(flip, -u, u), np.where(flip, -v, v)


def _max_motion_size(length: np.ndarray, angle: np.ndarray) -> int:
    return int(max_motion_size(length.ravel(), angle.ravel()))


from .grid import GridField  # noqa: E402  (a BasisField: defined after it)
from .reduced import ReducedBasisField  # noqa: E402
from .latent import LatentField  # noqa: E402
