"""Spatially varying blind estimation from overlapping patches (efficient filter flow).

The model (Hirsch et al.'s efficient filter flow, REFERENCE_NOTES.md "Blind kernel
estimation"): the image is covered by a gy x gx grid of overlapping patches; each patch has
its own PSF, and the field interpolates the PSFs bilinearly between the patch centres (a
``GridField``: every pixel touches at most 4 kernels, so solvers pay about 4 kernels' work).

Estimation:

1. a global PSF on a central crop (``estimate_psf`` with automatic size) sets the kernel window
   and starts every patch;
2. each patch's PSF is estimated from the global one, coarse to fine over the upper half of
   the pyramid (``estimate_psf`` machinery);
3. unreliable patches are detected: too few strong edges (flat), too many saturated pixels,
   or a kernel inconsistent with its neighbours (normalised cross-correlation after
   alignment with the median of the neighbours' kernels below ``consistency``); they are
   filled with the mean of their reliable neighbours (the global PSF where none is);
4. the field is assembled (optionally refined jointly, ``refine_field``);
5. optionally (``camera="rotation"``), the patch kernels are replaced by the PSFs of one
   camera-rotation trajectory (``camera``: Whyte et al. 2012): fitted to the reliable patch
   kernels, then re-estimated by one joint kernel step on every usable patch against the
   natural latent image of the patch field, and sampled on a grid about 64 px apart.

Parameters are those of ``ClassicalEstimator``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.signal import correlate
from skimage.transform import resize

from ..._validation import as_image, check_positive_float, check_positive_int
from ...fields import GridField, UniformField
from ...fields.grid import cell_centres
from ...policy import blur_radius
from ._kernel import centre_kernel, pad_kernel, resize_kernel
from . import camera
from .psf import (_REFIT_PER_SIZE, Settings, _checked_prior, _estimate, _masked_gradients,
                  _natural_latent, _window_size, automatic_size, default_window, luminance,
                  noise_level, saturation_mask, select_gradients)

__all__ = ["ClassicalEstimator", "FieldEstimate"]

_CROP = 512
_NODE_SPACING = 64  # pixels between the nodes of a camera-rotation field
_MAX_NODES = 16


@dataclasses.dataclass
class FieldEstimate:
    """Diagnostics of ``ClassicalEstimator.estimate(..., return_info=True)``.

    Attributes
    ----------
    global_psf : ndarray
        The PSF of the central crop.
    reliable : ndarray (gy, gx) of bool
        Patches whose own estimate was kept.
    consistency : ndarray (gy, gx)
        Each patch kernel's aligned NCC with the median of its neighbours.
    confidence : float
        In [0, 1]: the global estimate's cross-scale agreement times the mean agreement of
        the usable patches' kernels with their neighbours (0.5 when no patch is usable:
        the field is then the global PSF); 0 when the global PSF is truncated by its window
        (``border_mass``). A heuristic; below 0.5 do not trust it.
    global_confidence : float
        The global PSF's cross-scale agreement.
    blur_radius : float
        Median radius of gyration of the field's kernels (``nublur.policy.blur_radius``), in
        pixels of the image the estimate was made on (reduced for photos above
        ``max_side``): how far the blur is from "too small to remove safely".
    noise : float
        Noise standard deviation of the linearised image (``noise_level``), at full
        resolution.
    camera_residual : float
        With ``camera="rotation"``: median relative L2 distance between the reliable patch
        kernels and the fitted trajectory's PSFs (large when the blur is not a camera
        rotation); NaN otherwise.
    border_mass : float
        ``PsfEstimate.border_mass`` of the global PSF: from ``psf.TRUNCATED_MASS`` on, its
        kernel reached the border of its window.
    """

    global_psf: np.ndarray
    reliable: np.ndarray
    consistency: np.ndarray
    confidence: float
    global_confidence: float
    blur_radius: float = float("nan")
    noise: float = float("nan")
    camera_residual: float = float("nan")
    border_mass: float = 0.0


class ClassicalEstimator:
    """Blind, training-free kernel-field estimator (``load_estimator("classical")``).

    Parameters
    ----------
    grid : (gy, gx), optional
        Patch grid; default from the image and kernel size (patches at least 4 kernel widths
        and 160 px, 50 % overlap, at most ``max_grid``). (1, 1) gives a uniform field.
    kernel_size : int, optional
        Odd kernel window; default automatic (see ``estimate_psf``).
    gamma : float
        Linearisation of the input (2.2 for camera photos).
    max_grid : (int, int)
        Largest grid (rows, cols), Whyte's makeEFF default 6 x 8.
    min_edges : float
        Fraction of a patch's pixels that must carry strong gradients for it to count.
    consistency : float
        Least aligned NCC with the neighbours' median kernel for a patch to count.
    refine : bool
        Refine the assembled field on the whole image (``refine_field``).
    max_side : int
        Photos whose long side is larger are estimated at reduced scale (long side
        ``max_side``) and the kernels magnified back (a 12 MP photo: 1200 x 900, its kernels
        about 3.3 times larger); the field covers the full resolution.
    progress : bool
        Show a progress bar over the patches.
    kernel_prior : KernelPrior, optional
        Learned kernel prior used inside every kernel update (see ``estimate_psf``).
    camera : None or "rotation"
        "rotation" ties the patch kernels to one camera-rotation trajectory (module
        docstring, step 5); for hand-held shake of a distant scene. None keeps the
        independent patch kernels.
    focal : float, optional
        Focal length in pixels of the full-resolution photo for ``camera="rotation"``;
        default its long side (a 36 mm-equivalent lens).
    """

    def __init__(self, *, grid=None, kernel_size: int | None = None, gamma: float = 2.2,
                 max_grid=(6, 8), min_edges: float = 0.02, consistency: float = 0.5,
                 refine: bool = False, saturation_level: float = 0.98, max_side: int = 1200,
                 progress: bool = False, kernel_prior=None, camera: str | None = None,
                 focal: float | None = None):
        if grid is not None:
            grid = tuple(check_positive_int(g, "grid") for g in grid)
            if len(grid) != 2:
                raise ValueError(f"grid must be (rows, cols), got {grid!r}")
        self.grid = grid
        self.kernel_size = kernel_size
        self.gamma = check_positive_float(gamma, "gamma")
        self.max_grid = tuple(check_positive_int(g, "max_grid") for g in max_grid)
        self.min_edges = check_positive_float(min_edges, "min_edges")
        self.consistency = float(consistency)
        self.refine = bool(refine)
        self.saturation_level = check_positive_float(saturation_level, "saturation_level")
        self.max_side = check_positive_int(max_side, "max_side", minimum=64)
        self.progress = bool(progress)
        # estimate_psf's 10 finest-scale alternations, here for the whole image and every
        # patch, measured +0.1 dB / -0.07 dB for the deblur plan on gyro / held-out BSD68
        # (bench_blind.py) and 47 % more time on a 1200 x 900 photo; 10 for the whole image
        # alone measured worse on both (26.90 / 29.01 dB against 27.15 / 29.46)
        self.settings = Settings(prior=_checked_prior(kernel_prior), fine_iterations=5)
        if camera not in (None, "rotation"):
            raise ValueError(f"camera must be None or 'rotation', got {camera!r}")
        self.camera = camera
        self.focal = None if focal is None else check_positive_float(focal, "focal")

    def estimate(self, image, *, channel_axis=-1, return_info: bool = False):
        """Kernel field of ``image`` (display values in [0, 1]; gray or colour).

        Returns a ``GridField`` (a ``UniformField`` for a 1 x 1 grid), and a
        ``FieldEstimate`` with ``return_info``.
        """
        if channel_axis is not None and np.ndim(image) == 2:
            channel_axis = None
        img, axis = as_image(image, "image", channel_axis)
        if min(img.shape[:2]) < 32:
            raise ValueError(f"image must be at least 32 x 32 pixels, got {img.shape[:2]}")
        _window_size(img.shape[:2], self.kernel_size, None)
        y = luminance(img, axis, self.gamma)
        saturated = saturation_mask(img, axis, self.saturation_level)
        full_shape = y.shape
        noise = noise_level(y)
        scale = min(1.0, self.max_side / max(full_shape))
        if scale < 1.0:  # estimate at reduced scale; kernels are magnified back below
            small = tuple(max(32, int(round(n * scale))) for n in full_shape)
            y = resize(y, small, order=1, anti_aliasing=True)
            saturated = resize(saturated.astype(float), small, order=1) > 0
        psf, info = self._global(y, saturated)
        grid = self.grid or self._default_grid(y.shape, psf.shape[0])
        if grid == (1, 1):
            field = UniformField(_magnified(psf[None], scale)[0])
            out = FieldEstimate(psf, np.ones((1, 1), bool), np.ones((1, 1)), info.confidence,
                                info.confidence)
        else:
            focal = None if self.focal is None else self.focal * scale
            field, out = self._patch_field(y, saturated, psf, info, grid, focal)
            if scale < 1.0:
                field = _full_resolution(field, full_shape, y.shape)
        if self.refine:
            from .refine import refine_field

            field = refine_field(image, field, channel_axis=channel_axis, gamma=self.gamma)
        kernels = field.psf if isinstance(field, UniformField) else field.kernels
        out = dataclasses.replace(out, blur_radius=blur_radius(kernels) * scale,
                                  noise=noise, border_mass=info.border_mass)
        return (field, out) if return_info else field

    def _global(self, y, saturated):
        h, w = y.shape
        top, left = max(0, (h - _CROP) // 2), max(0, (w - _CROP) // 2)
        crop = (slice(top, top + _CROP), slice(left, left + _CROP))
        window = _window_size(y[crop].shape, self.kernel_size, default_window(y.shape))
        settings = self.settings
        if self.kernel_size is None:
            window = automatic_size(y[crop], saturated[crop], window, settings)
        return _estimate(y[crop], saturated[crop], window, settings, return_info=True)

    def _default_grid(self, shape, kernel_size):
        patch = max(160, 4 * kernel_size)
        counts = [int(np.clip(round(2 * n / patch) - 1, 1, m))
                  for n, m in zip(shape, self.max_grid)]
        return tuple(counts)

    def _patch_field(self, y, saturated, psf, info, grid, focal=None):
        h, w = y.shape
        window = max(psf.shape[0], 5) + 2 * max(2, psf.shape[0] // 4)
        window = min(window | 1, _window_size(y.shape, None, None))
        (rows, row_nodes), (cols, col_nodes) = (_patch_spans(n, g) for n, g in zip((h, w), grid))
        kernels = np.zeros(grid + (window, window))
        own = np.zeros(grid, dtype=bool)
        from tqdm.auto import tqdm

        bar = tqdm(total=grid[0] * grid[1], desc="patch kernels", disable=not self.progress,
                   leave=False)
        try:
            for a, (r0, r1) in enumerate(rows):
                for b, (c0, c1) in enumerate(cols):
                    patch, sat = y[r0:r1, c0:c1], saturated[r0:r1, c0:c1]
                    own[a, b] = self._usable(patch, sat)
                    if own[a, b]:
                        k = _estimate(patch, sat, window,
                                      dataclasses.replace(self.settings, lam=2e-3),
                                      initial=psf)
                    else:
                        k = psf
                    kernels[a, b] = pad_kernel(k, window)
                    bar.update(1)
        finally:
            bar.close()
        consistency = _neighbour_consistency(kernels)
        reliable = own & (consistency >= self.consistency)
        kernels = _fill_unreliable(kernels, reliable, pad_kernel(psf, window))
        kernels = kernels / kernels.sum(axis=(2, 3), keepdims=True)
        field = GridField(kernels, (h, w), row_nodes=row_nodes, col_nodes=col_nodes)
        agreement = float(np.mean(consistency[own])) if own.any() else 0.5
        confidence = float(info.confidence * agreement)
        residual = float("nan")
        if self.camera == "rotation" and own.any():
            spans = [(r, c) for r in rows for c in cols]
            field, residual = _rotation_field(y, saturated, field, reliable, own, spans, focal)
        return field, FieldEstimate(psf, reliable, consistency, confidence, info.confidence,
                                    camera_residual=residual)

    def _usable(self, patch, sat) -> bool:
        if sat.mean() > 0.2:
            return False
        gx = np.abs(np.diff(patch, axis=1))
        gy = np.abs(np.diff(patch, axis=0))
        strong = max(0.05 * float(patch.max() - patch.min()), 1e-3)
        edges = 0.5 * ((gx > strong).mean() + (gy > strong).mean())
        return edges >= self.min_edges


def _rotation_field(y, saturated, field, reliable, own, spans, focal):
    """(the GridField of one camera-rotation trajectory, its fit residual) from a patch
    field (module docstring, step 5)."""
    gy, gx = field.grid_shape
    size = field.kernel_size
    nodes = np.stack(np.meshgrid(field.row_nodes, field.col_nodes, indexing="ij"), -1)
    weights = (reliable if reliable.any() else own).astype(float).ravel()
    model = camera.fit_rotation(field.kernels, nodes.reshape(-1, 2), y.shape, weights=weights,
                                focal=focal)
    latent = _natural_latent(y, field)
    usable = own.ravel()
    equations = camera.patch_normal_equations(
        latent, y, saturated, [s for s, u in zip(spans, usable) if u], size,
        select=lambda x, k: select_gradients(x, k, per_size=_REFIT_PER_SIZE)[:2],
        masked=_masked_gradients)
    model = camera.refine_rotation(model, equations, nodes.reshape(-1, 2)[usable], size)
    h, w = y.shape
    counts = [int(np.clip(np.ceil(n / _NODE_SPACING), g, _MAX_NODES)) for n, g in
              zip((h, w), (gy, gx))]
    rows, cols = cell_centres(h, counts[0]), cell_centres(w, counts[1])
    points = np.stack(np.meshgrid(rows, cols, indexing="ij"), -1).reshape(-1, 2)
    kernels = model.kernels_at(points, size).reshape(counts[0], counts[1], size, size)
    return GridField(kernels, (h, w), row_nodes=rows, col_nodes=cols), model.residual


def _magnified(kernels, scale):
    """(n, K, K) kernels estimated at ``scale`` < 1, magnified to full resolution."""
    if scale >= 1.0:
        return kernels
    size = int(np.ceil(kernels.shape[-1] / scale)) | 1
    return np.stack([resize_kernel(k, size) for k in kernels])


def _full_resolution(field, full_shape, small_shape):
    """The grid field of a reduced-scale estimate at full resolution: nodes and kernels
    magnified by the scale."""
    gy, gx = field.grid_shape
    factor = [f / s for f, s in zip(full_shape, small_shape)]
    kernels = _magnified(field.kernels, 1.0 / max(factor))
    rows = (field.row_nodes + 0.5) * factor[0] - 0.5
    cols = (field.col_nodes + 0.5) * factor[1] - 0.5
    return GridField(kernels.reshape(gy, gx, *kernels.shape[1:]), full_shape, row_nodes=rows,
                     col_nodes=cols, normalize=True)


def _patch_spans(size: int, count: int):
    """``count`` patches of equal length with 50 % overlap covering ``size`` pixels, and their
    centres."""
    if count == 1:
        return [(0, size)], np.array([(size - 1) / 2])
    length = int(np.ceil(2 * size / (count + 1)))
    starts = np.round(np.linspace(0, size - length, count)).astype(int)
    spans = [(int(s), int(s) + length) for s in starts]
    return spans, starts + (length - 1) / 2


def _aligned_ncc(a, b) -> float:
    """Largest normalised cross-correlation of two kernels over all shifts."""
    c = correlate(a, b, mode="full")
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(c.max() / denom) if denom > 0 else 0.0


def _neighbours(a, b, shape):
    """The grid cells 8-connected to cell (a, b)."""
    return [(i, j) for i in range(max(0, a - 1), min(shape[0], a + 2))
            for j in range(max(0, b - 1), min(shape[1], b + 2)) if (i, j) != (a, b)]


def _neighbour_consistency(kernels):
    gy, gx = kernels.shape[:2]
    out = np.ones((gy, gx))
    if gy * gx == 1:
        return out
    for a in range(gy):
        for b in range(gx):
            nbrs = [kernels[i, j] for i, j in _neighbours(a, b, (gy, gx))]
            median = centre_kernel(np.median(np.stack(nbrs), axis=0) + 1e-12)
            out[a, b] = _aligned_ncc(kernels[a, b], median)
    return out


def _fill_unreliable(kernels, reliable, fallback):
    """Unreliable patches take the mean of their reliable 8-neighbours, repeatedly outward;
    patches no reliable kernel reaches take ``fallback``."""
    kernels = kernels.copy()
    known = reliable.copy()
    while not known.all():
        grown = known.copy()
        for a, b in zip(*np.nonzero(~known)):
            nbrs = [(i, j) for i, j in _neighbours(a, b, known.shape) if known[i, j]]
            if nbrs:
                kernels[a, b] = centre_kernel(np.mean([kernels[i, j] for i, j in nbrs], axis=0))
                grown[a, b] = True
        if grown.sum() == known.sum():
            kernels[~grown] = fallback
            break
        known = grown
    return kernels
