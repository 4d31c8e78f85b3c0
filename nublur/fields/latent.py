"""``LatentField``: latent codes of a learned kernel prior on a grid, decoded on demand.

003 (section 3.2) represents the kernel of every pixel i by a latent code z_i of a
normalizing-flow prior, k_i = f(z_i), and optionally by a standard deviation sigma_i of that
code (003 eqs. 5-6): z^_i = sqrt(1 - sigma_i^2) z_i + n_i, n_i ~ N(0, sigma_i^2). A
``LatentField`` holds codes (and sigmas) at the nodes of a gy x gx grid, decodes them through
the prior into one PSF per node, and interpolates the PSFs bilinearly between the nodes (the
``GridField`` model). Codes at every pixel are the case gy = H, gx = W.

Memory. The field never holds one kernel per pixel: ``kernel_at`` and ``kernels_at`` decode
the nodes they need, ``to_basis`` gives the exact ``GridField`` of the decoded nodes when
there are at most ``max_grid_kernels`` of them, and otherwise a low-rank ``BasisField``
(``BasisField.from_field``, kernels decoded in chunks), so every operator and solver accepts
the field. A 720p per-pixel field would otherwise need 1.3 GB of 19 x 19 kernels.

The prior is any object with ``kernel_size``, ``latent_dim`` and ``decode(codes) -> PSFs``,
e.g. ``nublur.estimators.prior.KernelPrior``; fields do not load models themselves.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, check_finite, check_positive_int
from . import BasisField, KernelField, _check_pixel, _frozen
from .grid import GridField, _check_nodes, hat_weights

__all__ = ["LatentField"]

MAX_GRID_KERNELS = 4096


def _two_nodes(weights: np.ndarray, index: np.ndarray):
    """The (at most) two nodes with non-zero hat weight at each pixel of ``index`` along one
    axis, as [(nodes, weights), (next nodes, weights)]; the second weight is 0 where the
    first node carries it all."""
    w = weights[:, index]
    first = np.argmax(w > 0, axis=0)
    second = np.minimum(first + 1, len(weights) - 1)
    n = np.arange(len(index))
    return [(first, w[first, n]), (second, np.where(second == first, 0, w[second, n]))]


class LatentField(KernelField):
    """Kernel field of latent codes decoded by a learned prior (003 section 3).

    Parameters
    ----------
    codes : array_like, shape (gy, gx, L)
        Latent codes at the grid nodes (L = ``prior.latent_dim``).
    prior : object
        ``kernel_size``, ``latent_dim`` and ``decode(codes (n, L)) -> (n, K, K)`` PSFs.
    image_shape : (H, W), optional
        Default (gy, gx): one code per pixel.
    sigma : array_like, optional
        Standard deviation of every code, shape (gy, gx, L), (gy, gx) or scalar, in [0, 1)
        (003 eq. 5); used by ``sample`` and ``uncertainty``; the field's own kernels are the
        decoded codes (the mean).
    row_nodes, col_nodes : array_like, optional
        Node positions as in ``GridField`` (default: cell centres).
    """

    def __init__(self, codes, prior, image_shape=None, *, sigma=None, row_nodes=None,
                 col_nodes=None):
        for attribute in ("kernel_size", "latent_dim", "decode"):
            if not hasattr(prior, attribute):
                raise TypeError(f"prior must have kernel_size, latent_dim and decode(), got "
                                f"{type(prior).__name__} without {attribute}")
        codes = as_float_array(codes, "codes", image=False)
        if codes.ndim != 3 or codes.shape[-1] != prior.latent_dim:
            raise ValueError(f"codes must have shape (gy, gx, {prior.latent_dim}), got "
                             f"{codes.shape}")
        check_finite(codes, "codes")
        gy, gx = codes.shape[:2]
        if image_shape is None:
            image_shape = (gy, gx)
        if len(image_shape) != 2 or min(image_shape) < 1:
            raise ValueError(f"image_shape must be (H, W) with positive sizes, got "
                             f"{image_shape!r}")
        h, w = int(image_shape[0]), int(image_shape[1])
        self.prior = prior
        self.codes = _frozen(codes.astype(np.float32), source=codes)
        self.sigma = None if sigma is None else _frozen(self._check_sigma(sigma, codes.shape))
        self.grid_shape = (gy, gx)
        self.row_nodes = _frozen(_check_nodes(row_nodes, gy, h, "row_nodes"))
        self.col_nodes = _frozen(_check_nodes(col_nodes, gx, w, "col_nodes"))
        self._row_weights = hat_weights(self.row_nodes, h).astype(np.float32)
        self._col_weights = hat_weights(self.col_nodes, w).astype(np.float32)
        self.kernel_size = int(prior.kernel_size)
        self.dtype = np.dtype(np.float32)
        self._shape = (h, w)
        self._basis = None

    @staticmethod
    def _check_sigma(sigma, shape):
        if not isinstance(sigma, (int, float, np.ndarray)) or isinstance(sigma, bool):
            raise TypeError(f"sigma must be a number or a numpy array, got "
                            f"{type(sigma).__name__}")
        sigma = np.asarray(sigma, np.float32)
        if sigma.ndim == 2:
            sigma = sigma[..., None]
        try:
            sigma = np.broadcast_to(sigma, shape).copy()
        except ValueError:
            raise ValueError(f"sigma must broadcast to the codes' shape {shape}, got "
                             f"{sigma.shape}") from None
        check_finite(sigma, "sigma")
        if np.any(sigma < 0) or np.any(sigma >= 1):
            raise ValueError("sigma must lie in [0, 1) (003 eq. 6)")
        return sigma

    @property
    def image_shape(self):
        return self._shape

    @property
    def num_nodes(self) -> int:
        return self.grid_shape[0] * self.grid_shape[1]

    def node_kernels(self) -> np.ndarray:
        """The decoded PSFs of all nodes, (gy, gx, K, K) (gy gx K^2 values)."""
        return self.prior.decode(self.codes)

    def kernel_at(self, row, col):
        _check_pixel(self, row, col)
        return self.kernels_at(np.array([row]), np.array([col]))[0]

    def kernels_at(self, rows, cols):
        rows, cols = np.asarray(rows, np.intp), np.asarray(cols, np.intp)
        corners = [(ra * self.grid_shape[1] + ca, wa * wb)
                   for ra, wa in _two_nodes(self._row_weights, rows)
                   for ca, wb in _two_nodes(self._col_weights, cols)]
        used = np.concatenate([nodes[weight > 0] for nodes, weight in corners])
        unique = np.unique(used)
        decoded = self.prior.decode(self.codes.reshape(-1, self.codes.shape[-1])[unique])
        out = np.zeros((len(rows), self.kernel_size, self.kernel_size), np.float32)
        for nodes, weight in corners:  # each node decoded once for all four corners
            active = weight > 0
            if np.any(active):
                out[active] += weight[active, None, None] \
                    * decoded[np.searchsorted(unique, nodes[active])]
        return out

    def to_basis(self, rank: int = 25, *, max_grid_kernels: int = MAX_GRID_KERNELS):
        """A ``BasisField`` the operators apply: the exact ``GridField`` of the decoded nodes
        when there are at most ``max_grid_kernels``, else a rank-``rank`` compression
        (``BasisField.from_field``; its relative error is kept in ``conversion_error``).
        Cached for the default arguments."""
        default = rank == 25 and max_grid_kernels == MAX_GRID_KERNELS
        if default and self._basis is not None:
            return self._basis
        if self.num_nodes <= max_grid_kernels:
            basis = GridField(self.node_kernels(), self._shape, row_nodes=self.row_nodes,
                              col_nodes=self.col_nodes, normalize=True)
            self.conversion_error = 0.0
        else:
            basis, self.conversion_error = BasisField.from_field(
                self, check_positive_int(rank, "rank"))
        if default:
            self._basis = basis
        return basis

    def sample(self, rng: np.random.Generator) -> "LatentField":
        """A draw of 003 eq. 6, z^ = sqrt(1 - sigma^2) z + sigma n with n ~ N(0, I) from
        ``rng`` (003 samples at random at test time; nublur only when asked, seeded)."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        if self.sigma is None:
            return self
        noise = rng.standard_normal(self.codes.shape).astype(np.float32)
        codes = np.sqrt(1 - self.sigma**2) * self.codes + self.sigma * noise
        return LatentField(codes, self.prior, self._shape, sigma=self.sigma,
                           row_nodes=self.row_nodes, col_nodes=self.col_nodes)

    def uncertainty(self, *, samples: int = 8, seed: int = 0) -> np.ndarray:
        """(H, W) map of how uncertain each pixel's kernel is: the mean L1 distance between
        the decoded mean code and ``samples`` draws of ``sample`` at the nodes (0 = certain,
        2 = disjoint PSFs), interpolated between nodes like the kernels. Zero without
        ``sigma``."""
        samples = check_positive_int(samples, "samples")
        if self.sigma is None:
            return np.zeros(self._shape, np.float32)
        rng = np.random.default_rng(seed)
        mean = self.node_kernels()
        spread = np.zeros(self.grid_shape, np.float32)
        for _ in range(samples):
            drawn = self.sample(rng).node_kernels()
            spread += np.abs(drawn - mean).sum(axis=(-2, -1)) / samples
        return (self._row_weights.T @ spread @ self._col_weights).astype(np.float32)

    def __repr__(self):
        return (f"LatentField(grid={self.grid_shape}, kernel_size={self.kernel_size}, "
                f"image_shape={self._shape}, sigma={self.sigma is not None})")
