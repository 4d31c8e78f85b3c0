"""Camera-rotation model of a patch field (Whyte et al. 2012, "Non-uniform deblurring for
shaken images"; REFERENCE_NOTES.md "Blind kernel estimation").

A hand-held camera that rotates during the exposure blurs every pixel with the projection of
one trajectory: with intrinsics K (focal length f, principal point at the image centre) and a
weight w_j on each rotation R_j of a grid of small rotations, the PSF at output pixel p puts
mass w_j at the tap p - H_j^-1 p, H_j = K R_j K^-1 (bilinear splat; Whyte eq. 3 in nublur's
gather convention, DESIGN.md section 1). The field is linear in w, so it has a few hundred
unknowns where a grid of G patch kernels has G K^2, and every patch informs the same w.

The patch estimator's kernels are centred (a blind estimate cannot know the mean
translation), so each patch carries a whole-pixel shift: its model kernel is re-centred on its
rounded centroid, and the shifts are updated between solves.

Two steps, both non-negative least squares by FISTA:

1. ``fit_rotation``: the w whose kernels are closest to the patch kernels, on a half-pixel
   rotation grid pruned to rotations whose taps fall on the patch kernels' support;
2. ``refine_rotation``: the kernel step of blind estimation (Cho and Lee's least squares on
   selected latent gradients, ``_kernel``) over all patches at once with k_i = A_i w, which
   pools the evidence of every patch into the one trajectory.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.sparse

from ..._validation import check_positive_float, check_positive_int
from ._kernel import _correlations, centre_kernel, clean_kernel

__all__ = ["RotationModel", "rotation_offsets", "fit_rotation", "refine_rotation",
           "patch_normal_equations"]

_MAX_STEPS = 49  # rotation grid points per in-plane axis
_MAX_ROLLS = 41


def _rotation_matrix(omega):
    angle = float(np.linalg.norm(omega))
    if angle < 1e-15:
        return np.eye(3)
    axis = omega / angle
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross


def _intrinsics(shape, focal):
    h, w = shape
    return np.array([[focal, 0, (w - 1) / 2], [0, focal, (h - 1) / 2], [0, 0, 1.0]])


def rotation_offsets(omegas, points, shape, focal) -> np.ndarray:
    """PSF taps p - H^-1 p, (P, N, 2) as (row, col), of rotations ``omegas`` (N, 3: radians
    about the x (right), y (down) and z (optical) axes) at pixels ``points`` (P, 2)."""
    k = _intrinsics(shape, focal)
    k_inv = np.linalg.inv(k)
    inverses = np.stack([k @ _rotation_matrix(o).T @ k_inv for o in omegas])
    pts = np.stack([points[:, 1], points[:, 0], np.ones(len(points))])
    src = np.einsum("nij,jp->pni", inverses, pts)
    rows = src[..., 1] / src[..., 2]
    cols = src[..., 0] / src[..., 2]
    return np.stack([points[:, None, 0] - rows, points[:, None, 1] - cols], -1)


def _splat_matrix(offsets, size: int, shifts) -> scipy.sparse.csr_matrix:
    """Sparse (P K^2, N) map from rotation weights to the P patch kernels (K x K, bilinear
    taps of ``offsets`` minus each patch's whole-pixel ``shifts``)."""
    count, n, _ = offsets.shape
    r = size // 2
    qy = offsets[..., 0] - shifts[:, None, 0] + r
    qx = offsets[..., 1] - shifts[:, None, 1] + r
    y0, x0 = np.floor(qy).astype(np.int64), np.floor(qx).astype(np.int64)
    fy, fx = qy - y0, qx - x0
    patch = np.broadcast_to(np.arange(count)[:, None], (count, n))
    column = np.broadcast_to(np.arange(n)[None], (count, n))
    rows, cols, vals = [], [], []
    for dy in (0, 1):
        for dx in (0, 1):
            weight = (fy if dy else 1 - fy) * (fx if dx else 1 - fx)
            yy, xx = y0 + dy, x0 + dx
            ok = (yy >= 0) & (yy < size) & (xx >= 0) & (xx < size) & (weight > 0)
            rows.append((patch[ok] * size + yy[ok]) * size + xx[ok])
            cols.append(column[ok])
            vals.append(weight[ok])
    return scipy.sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(count * size * size, n))


def _centroid_shifts(offsets, weights) -> np.ndarray:
    """Whole-pixel centroids (P, 2) of the unshifted model kernels."""
    total = max(float(weights.sum()), 1e-12)
    mean = np.einsum("pnc,n->pc", offsets, weights) / total
    return np.round(mean)


def _fista(gradient, x, lipschitz: float, iters: int):
    """Projected (x >= 0) accelerated gradient descent."""
    y, t = x.copy(), 1.0
    for _ in range(iters):
        x_new = np.maximum(y - gradient(y) / lipschitz, 0.0)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        y = x_new + (t - 1) / t_new * (x_new - x)
        x, t = x_new, t_new
    return x


def _lipschitz(hessian, n: int) -> float:
    v = np.random.default_rng(0).random(n)
    for _ in range(20):
        v = hessian(v)
        v /= max(np.linalg.norm(v), 1e-30)
    return 1.05 * max(float(np.linalg.norm(hessian(v))), 1e-30)


@dataclasses.dataclass
class RotationModel:
    """A camera trajectory: weights on a grid of rotations (Whyte et al. 2012 eq. 3).

    Attributes
    ----------
    omegas : ndarray (N, 3)
        Rotations (radians about x, y and the optical axis).
    weights : ndarray (N,)
        Non-negative exposure weights.
    shape : (int, int)
        Image the model belongs to.
    focal : float
        Focal length in pixels.
    residual : float
        Median relative L2 distance of the model's kernels to the kernels it was fitted to.
    """

    omegas: np.ndarray
    weights: np.ndarray
    shape: tuple
    focal: float
    residual: float = float("nan")

    def kernels_at(self, points, size: int) -> np.ndarray:
        """Centred, cleaned K x K PSFs (P, K, K) at pixels ``points`` (P, 2)."""
        points = np.asarray(points, dtype=np.float64)
        offsets = rotation_offsets(self.omegas, points, self.shape, self.focal)
        shifts = _centroid_shifts(offsets, self.weights)
        kernels = (_splat_matrix(offsets, size, shifts) @ self.weights).reshape(-1, size, size)
        return np.stack([centre_kernel(clean_kernel(k)) for k in kernels])


def _rotation_grid(r: int, shape, focal: float):
    """Rotations of up to ``r`` pixels of in-plane motion at the centre and as much roll at
    the image corner, half a pixel apart (coarser for large kernels)."""
    corner = 0.5 * float(np.hypot(*shape))
    step = max(0.5, 2 * r / (_MAX_STEPS - 1))
    tilt = np.arange(-r, r + 1e-9, step) / focal
    roll = np.arange(-r, r + 1e-9, max(step, 2 * r / (_MAX_ROLLS - 1))) / corner
    wx, wy, wz = np.meshgrid(tilt, tilt, roll, indexing="ij")
    return np.stack([wx.ravel(), wy.ravel(), wz.ravel()], 1)


def _reach(supports) -> int:
    """Half the largest extent of the patch kernels' supports, plus 2 pixels: the rotations
    needed, wherever the kernel window is larger than the blur."""
    size = supports.shape[-1]
    extent = 1
    for support in supports:
        rows, cols = np.nonzero(support)
        if len(rows):
            extent = max(extent, rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
    return int(min(size // 2, np.ceil(extent / 2) + 2))


def _on_support(offsets, shifts, supports, weights) -> np.ndarray:
    """Weighted fraction of patches on whose kernel support each rotation's nearest tap
    lands."""
    count, size = supports.shape[:2]
    r = size // 2
    qy = np.rint(offsets[..., 0] - shifts[:, None, 0] + r).astype(np.int64)
    qx = np.rint(offsets[..., 1] - shifts[:, None, 1] + r).astype(np.int64)
    inside = (qy >= 0) & (qy < size) & (qx >= 0) & (qx < size)
    hits = np.zeros(qy.shape)
    for i in range(count):
        hits[i, inside[i]] = supports[i][qy[i, inside[i]], qx[i, inside[i]]]
    return (weights[:, None] * hits).sum(axis=0) / weights.sum()


def fit_rotation(kernels, points, shape, *, weights=None, focal=None, keep: float = 0.25,
                 rounds: int = 3, iters: int = 400) -> RotationModel:
    """The camera trajectory whose PSFs best match centred patch kernels (least squares,
    w >= 0; see the module docstring).

    Parameters
    ----------
    kernels : ndarray (P, K, K)
        Patch PSFs (any scale; each is normalised).
    points : ndarray (P, 2)
        Their pixels (row, col).
    shape : (int, int)
        Image shape.
    weights : ndarray (P,), optional
        Trust in each patch (0 leaves it out).
    focal : float, optional
        Focal length in pixels; default the long side (a 36 mm-equivalent lens, as in Lai et
        al.'s data).
    keep : float
        Rotations are kept when their taps land on the (dilated) support of at least this
        weighted fraction of the patches.
    """
    kernels = np.asarray(kernels, dtype=np.float64)
    if kernels.ndim != 3 or kernels.shape[1] != kernels.shape[2] or kernels.shape[1] % 2 == 0:
        raise ValueError(f"kernels must be (P, K, K) with K odd, got shape {kernels.shape}")
    count, size = kernels.shape[:2]
    points = np.asarray(points, dtype=np.float64)
    if points.shape != (count, 2):
        raise ValueError(f"points must be ({count}, 2) pixels, got shape {points.shape}")
    rounds = check_positive_int(rounds, "rounds")
    focal = check_positive_float(float(max(shape)) if focal is None else focal, "focal")
    weights = np.ones(count) if weights is None else np.asarray(weights, dtype=np.float64)
    if weights.shape != (count,) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"weights must be {count} non-negative numbers, not all zero")
    data = kernels / kernels.sum(axis=(1, 2), keepdims=True)
    supports = np.stack([scipy.ndimage.binary_dilation(k > 0.02 * k.max()) for k in data])
    omegas = _rotation_grid(_reach(supports[weights > 0]), shape, focal)
    offsets = rotation_offsets(omegas, points, shape, focal)
    row_weights = np.repeat(np.sqrt(weights), size * size)
    target = row_weights * data.ravel()
    shifts = np.zeros((count, 2))
    for _ in range(rounds):
        active = _on_support(offsets, shifts, supports, weights) >= keep
        if not active.any():
            active[:] = True
        a = scipy.sparse.diags(row_weights) @ _splat_matrix(offsets[:, active], size, shifts)
        w = _fista(lambda x: a.T @ (a @ x - target), np.zeros(int(active.sum())),
                   _lipschitz(lambda v: a.T @ (a @ v), int(active.sum())), iters)
        shifts = _centroid_shifts(offsets[:, active], w)
    model = (_splat_matrix(offsets[:, active], size, shifts) @ w).reshape(data.shape)
    residual = np.linalg.norm((model - data).reshape(count, -1), axis=1)
    residual /= np.linalg.norm(data.reshape(count, -1), axis=1)
    return RotationModel(omegas[active], w, tuple(shape), focal,
                         float(np.median(residual[weights > 0])))


def refine_rotation(model: RotationModel, normal_equations, points, size: int, *,
                    weight: float = 2.0, iters: int = 200) -> RotationModel:
    """One joint kernel step: min_w sum_i ||A_i w conv D x_i - D y_i||^2 + weight ||A_i w||^2,
    w >= 0, over the patches' normal equations (Cho and Lee's kernel least squares, as in
    ``_kernel``, with the kernels tied to one camera trajectory).

    ``normal_equations`` holds, per point, the (autocorrelation, cross-correlation) pair of
    the patch's selected latent gradients and its blurred gradients
    (``_kernel._correlations``).
    """
    points = np.asarray(points, dtype=np.float64)
    offsets = rotation_offsets(model.omegas, points, model.shape, model.focal)
    shifts = _centroid_shifts(offsets, model.weights)
    a = _splat_matrix(offsets, size, shifts)
    n = scipy.fft.next_fast_len(3 * size - 2, real=True)
    spectra = [scipy.fft.rfft2(auto, s=(n, n)) for auto, _ in normal_equations]
    rhs = np.concatenate([c.ravel() for _, c in normal_equations])
    valid = slice(size - 1, 2 * size - 1)

    def normal(w):
        kernels = (a @ w).reshape(-1, size, size)
        out = [scipy.fft.irfft2(f * scipy.fft.rfft2(k, s=(n, n)), s=(n, n))[valid, valid]
               + weight * k for f, k in zip(spectra, kernels)]
        return a.T @ np.concatenate([o.ravel() for o in out])

    projected_rhs = a.T @ rhs
    w = _fista(lambda x: normal(x) - projected_rhs, model.weights.copy(),
               _lipschitz(normal, len(model.weights)), iters)
    return dataclasses.replace(model, weights=w)


def patch_normal_equations(latent, blurred, saturated, spans, size: int, select,
                           masked) -> list:
    """Per patch ``(row span, col span)``: the kernel step's correlations from the latent
    image's selected gradients (``select(latent, K) -> (gx, gy)``) and the blurred image's
    gradients masked off saturated pixels (``masked(blurred, saturated, K) -> (gx, gy,
    keep)``)."""
    out = []
    for (r0, r1), (c0, c1) in spans:
        gx, gy, keep = masked(blurred[r0:r1, c0:c1], saturated[r0:r1, c0:c1], size)
        lx, ly = select(latent[r0:r1, c0:c1], size)
        out.append(_correlations((lx * keep, ly * keep), (gx, gy), size))
    return out
