"""Blind estimation of a uniform PSF from one blurry image, coarse to fine.

The pipeline of the best classical methods (REFERENCE_NOTES.md "Blind kernel estimation": Pan
et al.'s structure with Cho and Lee's gradient selection), in nublur's PSF convention:

* a pyramid with scale ratio sqrt(1/2), coarsest kernel about 5 px, started from a 2-pixel
  segment; at each scale the previous kernel is magnified;
* 5 alternations per scale (10 at the finest scale of the full pass) of (a) an L0-gradient
  latent image (``_latent.l0_restore``) on the image extended to be periodic, and (b) a
  least-squares kernel on the latent gradients that Cho and Lee's rule selects (at least
  20 K pixels in each of 4 orientation bins, ``select_gradients``) against the blurred
  gradients, with a small sum |k|^(1/2) penalty (reweighted least squares) that keeps thin
  paths thin, then cleaned (threshold 0.05 max, 8-connected pieces under 0.1 of the mass
  dropped, clipped, normalised, re-centred);
* the weights lambda decay by 1/1.1 per alternation (floor 1e-4);
* at the finest scale the kernel is fitted twice more on its support, with three times as
  many selected gradients: against the L0 latent, then against a natural latent (RL with
  TV at the noise level, ``_natural_latent``), which removes most of the widening the L0
  latent's flattened edges cause;
* the final kernel is thresholded at max / 20 and trimmed to its support.

``kernel_size=None`` chooses the window in two passes (``automatic_size``): a first pass in a
window of a quarter of the short side (15 to 101 px), trimmed to the support found scale by
scale, stops at half resolution; its support, magnified, plus a fifth and 3 px each side,
is the window of the full pass. Saturated pixels and a kernel-sized neighbourhood are left
out of the kernel's data term. The non-blind restoration is a separate step (RL, Whyte,
ADMM).

Measured on Levin et al. 2009 (``benchmarks/bench_blind.py``; the parameters were chosen
there among a dozen variants, so that set is not held out).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.ndimage
from skimage.transform import resize

from ...policy import blur_radius
from ...solvers.richardson_lucy import richardson_lucy
from ..._validation import (as_image, check_nonnegative_float, check_positive_float,
                           check_positive_int)
from ._kernel import (centre_kernel, clean_kernel, delta_segment, kernel_least_squares,
                      pad_kernel, resize_kernel, trim_kernel)
from ._latent import l0_restore, periodic_extension
from ._prior import latent_projection

__all__ = ["estimate_psf", "PsfEstimate", "Settings", "luminance", "automatic_size",
           "default_window", "forward_differences"]

_RATIO = math.sqrt(0.5)
_COARSEST = 5
_MAX_AUTO = 101
_LUMA = np.array([0.299, 0.587, 0.114])
_FLOOR_GAIN, _WEIGHT_GAIN = 0.5, 200.0
_REFIT_PER_SIZE = 60
TRUNCATED_MASS = 0.01
_FINAL_THRESHOLD = 1 / 20  # of the kernel's max: the final clean-up and support


@dataclasses.dataclass
class PsfEstimate:
    """Diagnostics of ``estimate_psf(..., return_info=True)``.

    Attributes
    ----------
    psf : ndarray (K, K)
    kernels : list of ndarray
        The kernel at the end of each scale, coarse to fine.
    reblur_error : float
        RMS of ``psf conv latent - image`` on the unsaturated interior (linear intensities),
        with the final L0 latent image.
    noise : float
        Estimated noise standard deviation of the linearised image (``noise_level``).
    confidence : float
        In [0, 1]; see ``kernel_confidence``, and 0 when the kernel is truncated
        (``border_mass``). Below 0.5 the estimate should not be trusted.
    saturated_fraction : float
        Fraction of pixels left out as saturated.
    sizes : list of int
        The kernel window at each scale.
    blur_radius : float
        Radius of gyration of ``psf`` in px (``nublur.policy.blur_radius``).
    border_mass : float
        Share of the finest-scale kernel's mass (entries at least 1/20 of its max) on the
        outermost ring of its window (``border_mass``). From ``TRUNCATED_MASS`` on the kernel
        is cut by its window, so the alternation did not settle on a PSF that fits: the
        confidence is then 0.
    """

    psf: np.ndarray
    kernels: list
    reblur_error: float
    noise: float
    confidence: float
    saturated_fraction: float
    sizes: list = dataclasses.field(default_factory=list)
    blur_radius: float = float("nan")
    border_mass: float = 0.0


@dataclasses.dataclass(frozen=True)
class Settings:
    """Weights of the alternation (see ``estimate_psf``)."""

    lam: float = 4e-3
    iterations: int = 5
    fine_iterations: int = 10
    weight: float = 2.0
    sparsity: float = 0.01
    lam_floor: float = 1e-4
    prior: object = None
    prior_temperature: float = 0.8


def luminance(image: np.ndarray, axis, gamma: float) -> np.ndarray:
    """Linearised luminance: (channels ** gamma) weighted by Rec. 601 (gray: image ** gamma)."""
    lin = np.maximum(image, 0).astype(np.float64) ** gamma
    if axis is None:
        return lin
    if lin.shape[-1] == 3:
        return lin @ _LUMA
    return lin.mean(axis=-1)


def saturation_mask(image: np.ndarray, axis, level: float) -> np.ndarray:
    """Pixels where any channel is at or above ``level`` (display values)."""
    return (image.max(axis=-1) if axis is not None else image) >= level


def estimate_psf(image, *, kernel_size: int | None = None, channel_axis=None,
                 gamma: float = 1.0, saturation_level: float = 0.98, lam: float = 4e-3,
                 iterations: int = 5, fine_iterations: int = 10, weight: float = 2.0,
                 sparsity=0.01, max_kernel_size: int | None = None, kernel_prior=None,
                 prior_temperature: float = 0.8, return_info: bool = False, progress=None):
    """Estimate a uniform motion PSF from one blurry image (no training).

    Parameters
    ----------
    image : ndarray
        Blurry image, display values in [0, 1]; gray (H, W) or colour with ``channel_axis``.
    kernel_size : int, optional
        Odd size of the kernel window. None (default) chooses it: the window starts at about a
        quarter of the short side (``max_kernel_size``) and is trimmed to the support found,
        scale by scale.
    channel_axis : int, optional
        Colour axis; estimation runs on the linearised luminance.
    gamma : float
        The image is linearised as image ** gamma (2.2 for camera JPEGs, 1 for linear data).
    saturation_level : float
        Display value from which a pixel counts as saturated; it and a kernel-sized
        neighbourhood are left out of the kernel update.
    lam : float
        Initial weight of the L0 gradient prior (decays by 1/1.1 per alternation).
    iterations : int
        Alternations (latent, kernel) per scale.
    fine_iterations : int
        Alternations at the finest scale (the kernel keeps thinning there: on Levin 2009,
        10 instead of 5 gives error ratio <= 1.5 / 2 on 81 / 91 % of the images against 75
        / 88 %, median 1.14 against 1.21, and the same loss on the Kodak families of
        ``benchmarks/bench_blind_families.py``). The automatic-size pass, which stops at
        half resolution, uses ``iterations``. ``ClassicalEstimator`` keeps 5 (measured
        there: see ``patches.py``).
    weight : float
        Tikhonov weight of the kernel least squares.
    sparsity : float or sequence of float
        Weight of a sum |k|^(1/2) penalty on the kernel (two reweighted least-squares passes
        per kernel step), which keeps thin motion paths thin; 0 disables it. A sequence runs
        the estimation once per weight (in the same window, chosen with the middle entry)
        and keeps the kernel whose L0 latent reblurs closest to the image (lowest
        ``reblur_error``); it costs about one estimation per weight. On Levin 2009, (0.005,
        0.01, 0.02) gives error ratio <= 1.5 / 2 on 88 / 91 % of the images against 81 /
        91 % for 0.01 alone, in 3 times the time (``benchmarks/bench_blind.py --sparsity
        0.005 0.01 0.02``; Levin is where the default was tuned, so not a held-out set).
    max_kernel_size : int, optional
        Largest window considered with ``kernel_size=None`` (default: a quarter of the short
        side, odd, at most 101 and at least 15).
    kernel_prior : KernelPrior, optional
        A learned kernel prior (``nublur.load_kernel_prior()``, 003 section 3.1): after each
        kernel step at the scales where the kernel fits the prior's window, the kernel is
        encoded, its code shrunk by ``prior_temperature`` and decoded (latent projection).
        Off by default: on Levin 2009 it measured worse than pixel space (error ratio <= 2 on
        59 % of the images at temperature 0.8 and 78 % at 0.95, against 88 %;
        ``benchmarks/bench_prior.py --estimation``).
    prior_temperature : float in (0, 1]
        Shrinkage of the latent code (1: the prior only re-encodes the kernel).
    return_info : bool
        Also return a ``PsfEstimate`` with the per-scale kernels, reblur error and confidence.
    progress : callable, optional
        ``progress(done, total)`` after each scale.

    Returns
    -------
    psf : ndarray (K, K), float64, non-negative, summing to 1
    info : PsfEstimate, only with ``return_info``
    """
    img, axis = as_image(image, "image", channel_axis)
    if min(img.shape[:2]) < 16:
        raise ValueError(f"image must be at least 16 x 16 pixels, got {img.shape[:2]}")
    gamma = check_positive_float(gamma, "gamma")
    weights = _sparsity_weights(sparsity)
    settings = Settings(lam=check_positive_float(lam, "lam"),
                        iterations=check_positive_int(iterations, "iterations"),
                        fine_iterations=check_positive_int(fine_iterations,
                                                           "fine_iterations"),
                        weight=check_positive_float(weight, "weight"),
                        sparsity=weights[0],
                        prior=_checked_prior(kernel_prior),
                        prior_temperature=_checked_temperature(prior_temperature))
    saturation_level = check_positive_float(saturation_level, "saturation_level")
    window = _window_size(img.shape[:2], kernel_size, max_kernel_size)
    y = luminance(img, axis, gamma)
    saturated = saturation_mask(img, axis, saturation_level)
    settings = noise_adapted(settings, noise_level(y))
    candidates = [dataclasses.replace(settings, sparsity=w) for w in weights]
    if kernel_size is None:
        window = automatic_size(y, saturated, window, candidates[len(candidates) // 2])
    if len(candidates) == 1:
        return _estimate(y, saturated, window, candidates[0], return_info=return_info,
                         progress=progress)
    return _best_candidate(y, saturated, window, candidates, return_info, progress)


def _sparsity_weights(value) -> list:
    if np.ndim(value) > 0:
        if len(value) == 0:
            raise ValueError("sparsity must be a number >= 0 or a non-empty sequence of them, "
                             "got an empty sequence")
        return [check_nonnegative_float(v, "sparsity") for v in value]
    return [check_nonnegative_float(value, "sparsity")]


def _best_candidate(y, saturated, window, candidates, return_info, progress):
    """One estimation per setting; the one with the lowest reblur error is kept."""
    best = None
    for c, settings in enumerate(candidates):
        step = None if progress is None else _offset_progress(progress, c, len(candidates))
        psf, info = _estimate(y, saturated, window, settings, return_info=True,
                              progress=step)
        if best is None or info.reblur_error < best[1].reblur_error:
            best = (psf, info)
    return best if return_info else best[0]


def _offset_progress(progress, index, count):
    def step(done, total):
        progress(index * total + done, count * total)
    return step


def _checked_prior(prior):
    if prior is not None and not all(hasattr(prior, a) for a in ("encode", "decode",
                                                                 "kernel_size")):
        raise TypeError(f"kernel_prior must be a KernelPrior (nublur.load_kernel_prior()), "
                        f"got {type(prior).__name__}")
    return prior


def _checked_temperature(value) -> float:
    value = check_positive_float(value, "prior_temperature")
    if value > 1:
        raise ValueError(f"prior_temperature must be in (0, 1], got {value!r}")
    return value


def noise_level(y: np.ndarray) -> float:
    """Standard deviation of white noise in ``y`` (Immerkaer's estimator: mean absolute
    response to the difference of two Laplacians, times sqrt(pi / 2) / 6)."""
    from scipy.signal import fftconvolve

    mask = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
    response = fftconvolve(y, mask, mode="valid")
    return float(np.sqrt(np.pi / 2) * np.mean(np.abs(response)) / 6)


def noise_adapted(settings: Settings, sigma: float) -> Settings:
    """Floors for noisy inputs (IPOL's high-noise L0 estimator): the L0 weight never decays
    below ``_FLOOR_GAIN`` sigma, the kernel weight is at least 200 sigma."""
    return dataclasses.replace(settings, lam_floor=max(settings.lam_floor, _FLOOR_GAIN * sigma),
                               weight=max(settings.weight, _WEIGHT_GAIN * sigma))


def automatic_size(y, saturated, window, settings: Settings) -> int:
    """Kernel window from a first coarse-to-fine pass in ``window`` that stops at half
    resolution: the support found there, magnified to full resolution, plus a fifth and
    3 pixels each side (odd, between 7 and ``window``)."""
    sizes, factors = _scale_sizes(window)
    stop = max(i for i, f in enumerate(factors) if f <= 0.5 + 1e-9) if factors[0] <= 0.5 else 0
    h, w = y.shape
    f = factors[stop]
    shape = (max(8, int(round(h * f))), max(8, int(round(w * f))))
    small = resize(y, shape, order=1, anti_aliasing=True)
    sat = resize(saturated.astype(float), shape, order=1) > 0
    k = _estimate(small, sat, sizes[stop],
                  dataclasses.replace(settings, fine_iterations=settings.iterations), trim=True)
    support = trim_kernel(k, margin=0).shape[0] / f
    return int(np.clip(2 * int(math.ceil(support * 0.6 + 3)) + 1, 7, window)) | 1


def _window_size(shape, kernel_size, max_kernel_size) -> int:
    short = min(shape)
    if kernel_size is not None:
        size = check_positive_int(kernel_size, "kernel_size", minimum=3)
        if size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (centre at K // 2), got {size}")
        if size > short:
            raise ValueError(f"kernel_size {size} is larger than the image's short side "
                             f"{short}")
        return size
    if max_kernel_size is not None:
        size = check_positive_int(max_kernel_size, "max_kernel_size", minimum=3)
    else:
        size = default_window(shape)
    size = min(size, short - (1 - short % 2))
    return size | 1


def default_window(shape) -> int:
    """The automatic search window of an image: a quarter of its short side, within
    [15, 101] px."""
    return int(np.clip(min(shape) // 4, 15, _MAX_AUTO))


def _scale_sizes(window: int):
    """Kernel sizes and image factors of the pyramid, coarse to fine."""
    levels = max(1, int(math.ceil(math.log(_COARSEST / window) / math.log(_RATIO))) + 1)
    factors = [_RATIO ** (levels - 1 - s) for s in range(levels)]
    sizes = [max(3, int(round(window * f)) | 1) for f in factors]
    sizes[-1] = window
    return sizes, factors


def _estimate(y, saturated, window, settings: Settings, *, trim=False, initial=None,
              return_info=False, progress=None):
    """Coarse to fine over the pyramid of ``window``; with ``trim``, each scale's window is
    trimmed to the support found so far; with an ``initial`` kernel, start at the scale where
    the window is about half its final size, from that kernel."""
    sizes, factors = _scale_sizes(window)
    if initial is not None:
        first = next(i for i, size in enumerate(sizes) if size >= window // 2)
        sizes, factors = sizes[first:], factors[first:]
        k = resize_kernel(initial, _magnified_size(initial, factors[0]))
    else:
        k = delta_segment(sizes[0], 2)
    h, w = y.shape
    per_scale, used_sizes = [], []
    lam_now = settings.lam
    for s, (size, factor) in enumerate(zip(sizes, factors)):
        if trim and used_sizes:
            size = min(size, _grown_size(k, factor / factors[s - 1], window))
        shape = (max(8, int(round(h * factor))), max(8, int(round(w * factor))))
        ys = y if shape == (h, w) else resize(y, shape, order=1, anti_aliasing=True)
        sat = saturated if shape == (h, w) else resize(
            saturated.astype(float), shape, order=1, anti_aliasing=False) > 0
        k = resize_kernel(k, _magnified_size(k, factor / factors[s - 1])) if s else k
        k = pad_kernel(k, size) if k.shape[0] != size else k
        k = centre_kernel(k / k.sum())
        finest = s == len(sizes) - 1
        count = settings.fine_iterations if finest else settings.iterations
        k, lam_now, latent = _scale(ys, sat, k, lam_now, settings, count, refit=finest)
        per_scale.append(k.copy())
        used_sizes.append(size)
        if progress is not None:
            progress(s + 1, len(sizes))
    psf = _finish(k)
    if not return_info:
        return psf
    return psf, _diagnostics(psf, y, saturated, latent, per_scale, used_sizes)


def _magnified_size(k, ratio):
    return max(3, int(round(k.shape[0] * ratio)) | 1)


def _grown_size(k, ratio, window):
    """Window for the next scale from the support found: the support's reach magnified by
    ``ratio``, plus a quarter and 2 pixels of margin each side (odd, at most ``window``)."""
    support = trim_kernel(np.where(k > 0.02 * k.max(), k, 0), margin=0).shape[0]
    reach = (support // 2) * ratio
    return min(window, max(5, 2 * int(math.ceil(reach * 1.25 + 2)) + 1))


def _scale(ys, sat, k, lam, settings: Settings, count: int, refit: bool = False):
    """``count`` alternations at one scale; with ``refit``, the last kernel step is done again
    on the support found (``_refit``), first with the L0 latent, then with a natural one
    (``_natural_latent``)."""
    pad = k.shape[0]
    h, w = ys.shape
    periodic = periodic_extension(ys, pad)
    blurred_grads = _masked_gradients(ys, sat, k.shape[0])
    threshold = None
    latent = ys
    for _ in range(count):
        latent = np.clip(l0_restore(periodic, k, lam), 0, None)[:h, :w]
        lx, ly, threshold = select_gradients(latent, k.shape[0], threshold)
        keep = blurred_grads[2]
        k_new = kernel_least_squares((lx * keep, ly * keep), blurred_grads[:2], k.shape[0],
                                     settings.weight, init=k, sparsity=settings.sparsity)
        k = centre_kernel(clean_kernel(k_new))
        if settings.prior is not None:
            k = latent_projection(k, settings.prior, settings.prior_temperature)
        lam = max(lam / 1.1, settings.lam_floor)
    if refit:
        k = _refit(latent, blurred_grads, k, settings)
        k = _refit(_natural_latent(ys, k), blurred_grads, k, settings)
    return k, lam, latent


def _refit(latent, blurred_grads, k, settings: Settings):
    """The last kernel step again on the support found (entries at least
    ``_FINAL_THRESHOLD`` of the max, grown by one pixel), which drops the speckle noise
    around the motion path. With the support fixed, three times as many latent gradients
    are selected as in the alternations (``_REFIT_PER_SIZE``): one kernel step from the true
    kernel's RL latent image with 60 K gradients per orientation is closer to the truth than
    with 20 K (Levin, RL error ratio 1.03 against 1.14), while 40 K in the alternations too
    measured worse (1.30 against 1.16)."""
    strong = k >= k.max() * _FINAL_THRESHOLD
    support = scipy.ndimage.binary_dilation(strong, np.ones((3, 3), dtype=bool))
    lx, ly, _ = select_gradients(latent, k.shape[0], per_size=_REFIT_PER_SIZE)
    gx, gy, keep = blurred_grads
    k_new = kernel_least_squares((lx * keep, ly * keep), (gx, gy), k.shape[0], settings.weight,
                                 init=k * support, sparsity=settings.sparsity, support=support)
    return centre_kernel(clean_kernel(k_new))


def _natural_latent(ys, k, num_iter: int = 30):
    """Richardson-Lucy latent image of ``ys`` with kernel ``k`` and a TV weight of the noise
    level (000 eq. 14): unlike the L0 latent it keeps texture and the width of edges, so a
    kernel fitted to it is not widened by the edge profiles the L0 latent flattens, and the
    TV term keeps the noise RL amplifies out of the selected gradients."""
    return richardson_lucy(np.maximum(ys, 1e-4), k, num_iter, tv_weight=noise_level(ys))


def forward_differences(x):
    """(d/dcol, d/drow) forward differences, zero in the last column / row."""
    gx = np.zeros_like(x)
    gy = np.zeros_like(x)
    gx[:, :-1] = x[:, 1:] - x[:, :-1]
    gy[:-1] = x[1:] - x[:-1]
    return gx, gy


def _masked_gradients(ys, sat, size):
    """Blurred gradients (d/dcol, d/drow), zero on saturated neighbourhoods and the border,
    with the mask of kept pixels."""
    gx, gy = forward_differences(ys)
    keep = np.ones(ys.shape, dtype=bool)
    if sat.any():
        keep &= ~scipy.ndimage.binary_dilation(sat, np.ones((size, size), dtype=bool))
    r = size // 2 + 1
    keep[:r], keep[-r:], keep[:, :r], keep[:, -r:] = False, False, False, False
    keep = keep.astype(ys.dtype)
    return gx * keep, gy * keep, keep


def select_gradients(latent, size, threshold=None, *, per_size: int = 20):
    """Cho and Lee's gradient selection: keep latent gradients above a magnitude threshold
    chosen so that each of 4 orientation bins holds at least max(``per_size`` x K, 10)
    pixels; later calls lower the given threshold by 1/1.1 (Pan et al.'s threshold_pxpy).

    Returns (gx, gy, threshold) with the unselected gradients zeroed.
    """
    gx, gy = forward_differences(latent)
    mag = np.hypot(gx, gy)
    if threshold is None:
        angle = np.mod(np.arctan2(gy, gx), np.pi)
        bins = np.minimum((angle / (np.pi / 4)).astype(int), 3)
        need = max(per_size * size, 10)
        cuts = []
        for b in range(4):
            values = np.sort(mag[(bins == b) & (mag > 0)])[::-1]
            if len(values):
                cuts.append(values[min(need, len(values)) - 1])
        threshold = min(cuts) if cuts else 0.0
    else:
        threshold = threshold / 1.1
    small = mag < threshold
    gx[small] = 0
    gy[small] = 0
    return gx, gy, threshold


def _finish(k):
    k = clean_kernel(k, threshold=_FINAL_THRESHOLD)
    k = centre_kernel(k)
    return trim_kernel(k, margin=1)


def _diagnostics(psf, y, saturated, latent, per_scale, sizes) -> PsfEstimate:
    from scipy.signal import fftconvolve

    r = psf.shape[0] // 2 + 1
    reblurred = fftconvolve(latent, psf, mode="same")
    keep = ~scipy.ndimage.binary_dilation(saturated, np.ones((2 * r + 1,) * 2, dtype=bool))
    keep[:r], keep[-r:], keep[:, :r], keep[:, -r:] = False, False, False, False
    if not keep.any():
        keep[:] = True
    residual = (reblurred - y)[keep]
    err = float(np.sqrt(np.mean(residual**2)))
    noise = noise_level(y)
    rim = border_mass(per_scale[-1])
    conf = kernel_confidence(per_scale, psf) if rim < TRUNCATED_MASS else 0.0
    return PsfEstimate(psf=psf, kernels=per_scale, reblur_error=err, noise=noise,
                       confidence=conf, saturated_fraction=float(saturated.mean()), sizes=sizes,
                       blur_radius=blur_radius(psf), border_mass=rim)


def border_mass(kernel) -> float:
    """Share of a kernel's mass on the outermost ring of its window, counting the entries
    at least ``_FINAL_THRESHOLD`` of its max, as in ``_finish``).

    The automatic window holds the support found plus a fifth and 3 px each side, and the
    kernel is re-centred at every step, so a kernel that still reaches the border is cut by
    its window. Measured: 0 on all 32 Levin 2009 images and on the central-crop kernels of
    the 8 gyro crops and 17 of the 18 held-out BSD68 images of ``benchmarks/bench_blind.py``;
    0.06 on the 18th (a 9 px shake estimated as a 15 px cross of faint lines along the
    image axes, with which RL lost 14.5 dB).
    """
    k = np.where(kernel >= kernel.max() * _FINAL_THRESHOLD, kernel, 0.0)
    total = k.sum()
    if total <= 0 or k.shape[0] < 3:
        return 0.0
    return float(1.0 - k[1:-1, 1:-1].sum() / total)


def kernel_confidence(per_scale, psf) -> float:
    """Agreement of the last two scales' kernels (normalised cross-correlation after the
    coarser one is magnified to the finer size), clipped to [0, 1]."""
    if len(per_scale) < 2:
        return 0.5
    fine = per_scale[-1]
    coarse = resize_kernel(per_scale[-2], fine.shape[0])
    return float(np.clip(_ncc(coarse, fine), 0.0, 1.0))


def _ncc(a, b) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float((a * b).sum() / denom) if denom > 0 else 0.0

