"""Tiled operators and Richardson-Lucy on Dask arrays (``pip install "nublur[dask]"``).

Every function takes an image as a numpy or Dask array, (H, W) or (H, W, C) with the colour
axis last, and returns a lazy Dask array with the image's chunks; nothing runs until
``.compute()`` (or ``dask.array.to_zarr``, ...), on whatever scheduler is active (a
``distributed.Client`` once one exists, else Dask's threads).

How a tile is computed (REFERENCE_NOTES.md "Scale-out facts"):

* the field travels with the tiles: its per-pixel data (basis mixing maps, dense kernels,
  length and angle maps, or for a ``GridField`` only the pixel coordinates, its kernels and
  1-D hat weights being shared) is a Dask array chunked like the image; each task rebuilds
  the field of its window;
* each tile is extended by a halo taken from its neighbours (``dask.array.overlap``); at true
  image edges no halo is added (``boundary="none"``) and nublur's own boundary rule acts
  there, so the rule applies only at true edges. A periodic image takes its halo from the
  opposite side instead;
* ``blur`` and ``blur_adjoint`` use a halo of K // 2 + 1 and are exact: a pixel at least
  K // 2 from a tile's inner edges reads only true pixels, and the adjoint's boundary fold at
  an inner edge lands within K // 2 + 1 pixels ("mirror" skips the edge pixel), in the halo,
  which is cropped;
* ``richardson_lucy`` and ``admm_irc`` (uniform PSF) run the whole solve on each extended
  tile. Each RL iteration widens the dependency by 2 (K // 2), and ADMM's x-update inverts
  the blur, so a fixed halo is not exact; the error falls fast with the halo (``rl_halo``
  and ``admm_halo`` give the rules measured in ``benchmarks/bench_dask.py``);
* a network's field of a large image is a ``ReducedBasisField`` (``estimate``): its mixing
  maps stay at the reduced size and each tile upsamples its own; the reduced maps (tens of
  MB) travel with the task graph.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._validation import check_boundary, check_positive_int
from .fields import (BasisField, DenseField, GridField, KernelField, LinearMotionField,
                     ReducedBasisField, UniformField)
from .operators import blur as _blur
from .operators import blur_adjoint as _blur_adjoint
from .operators.blur import as_field as _as_field
from .solvers import admm_irc as _admm_irc
from .solvers import richardson_lucy as _richardson_lucy
from ._tiled_io import read_lazy, write_lazy

try:
    import dask.array as da
    from dask.array.overlap import ensure_minimum_chunksize, overlap
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError('nublur.dask needs dask: pip install "nublur[dask]"') from error

__all__ = ["blur", "blur_adjoint", "richardson_lucy", "admm_irc", "rl_halo", "admm_halo",
           "rl_tiles", "local_client", "estimate", "EstimateInfo", "read_image", "write_image",
           "DEFAULT_CHUNK", "TILE_BYTES"]

read_image = read_lazy
write_image = write_lazy

DEFAULT_CHUNK = 1024
TILE_BYTES = 1.2e9
"""Memory a tiled solve may hold per tile by default (``rl_tiles``): with the process's
libraries, the input and one row of results, a 50 MP photo stays under 4 GB."""
_RL_BYTES = 112.5  # RL per RGB pixel, float32 (measured with ru_maxrss)
_RL_HALO_FACTOR = 3.5
_ADMM_HALO_FACTOR = 16.0


def rl_halo(psf, num_iter: int, tv_weight: float = 0.0) -> int:
    """Halo of tiled Richardson-Lucy for a seam error below about 1e-4 on [0, 1] images.

    ``ceil(3.5 sqrt(num_iter) s)``, 1.25 times that with TV, and at least K // 2 + 1, where
    s is the largest RMS distance of a kernel's mass from its centre pixel,
    sqrt(sum_q k(q) |q|^2), over the field's kernels. Measured in
    ``benchmarks/bench_dask.py`` (15 px linear and 45 px shake, 10 to 50 iterations,
    natural images): the error falls by 10-100x per extra sqrt(num_iter) s of halo and
    follows the kernels' spread, not their window size K. TV (000 eq. 13) amplifies small
    differences where the image is flat: with TV 4e-3 the error at the plain rule reached
    3e-4, at 1.25 times the rule 3e-6.

    Parameters
    ----------
    psf : KernelField or ndarray (K, K)
    num_iter : int
    tv_weight : float
        RL's TV weight (any value above 0 widens the halo by 1.25).
    """
    field = _tile_field(psf, "psf")
    num_iter = check_positive_int(num_iter, "num_iter")
    spread = _kernel_spread(field)
    factor = _RL_HALO_FACTOR * (1.25 if tv_weight and tv_weight > 0 else 1.0)
    return max(int(math.ceil(factor * math.sqrt(num_iter) * spread)),
               field.kernel_size // 2 + 1)


def admm_halo(psf, num_admm: int = 10) -> int:
    """Halo of tiled ADMM-IRC for a seam error below about 1e-4 on [0, 1] images.

    ``ceil(16 s^1.5 max(1, num_admm / 10)^0.3)`` and at least K // 2 + 1, with s the PSF's
    RMS spread as in ``rl_halo``. Measured in ``benchmarks/bench_dask.py`` (``admm_table``;
    natural images, noise 0.01, ``lam`` 0.003 and ``num_irc`` 2, 10 and 20 ADMM iterations;
    ``lam`` 1e-3 and 1e-2 and ``num_irc`` 4 checked on a 15 px motion, all within the
    rule): ADMM's x-update inverts the blur (001 eq. 5), whose inverse rings along a motion
    direction far beyond the kernel, so the halo grows faster than the spread: 64 px for a
    9 px linear motion, 256-320 px for 25 px, over 384 px for 35 px; camera shakes follow
    their spread (a compact 45 px shake needs no more than K // 2 + 1, a 25 px one that
    travels 256 px).

    Parameters
    ----------
    psf : ndarray (K, K)
    num_admm : int
        As in ``nublur.admm_irc``.
    """
    field = _tile_field(psf, "psf")
    num_admm = check_positive_int(num_admm, "num_admm")
    spread = _kernel_spread(field)
    growth = max(1.0, num_admm / 10) ** 0.3
    return max(int(math.ceil(_ADMM_HALO_FACTOR * spread ** 1.5 * growth)),
               field.kernel_size // 2 + 1)


def rl_tiles(shape, halo: int, max_pixels: float | None = None, *, field=None):
    """Tiles of tiled RL: the balanced split with the least work whose tiles fit in memory.

    Among the splits into ``ny x nx`` tiles of near-equal size, the one whose extended tiles
    (the tile and its halo) have the smallest total area, (H + 2 halo (ny - 1)) (W + 2 halo
    (nx - 1)), such that the largest extended tile has at most ``max_pixels`` pixels and
    every tile at least ``halo`` rows and columns (a halo comes from one neighbour). An
    image that fits in ``max_pixels`` is one tile.

    Parameters
    ----------
    shape : tuple
        The image's (H, W[, C]).
    halo : int
    max_pixels : float, optional
        Memory bound in pixels per extended tile. Default: ``TILE_BYTES`` (1.2 GB) over
        the bytes a pixel needs: RL holds about 110 bytes per RGB pixel (measured, float32),
        plus 8 per basis map of a ``BasisField`` or ``ReducedBasisField`` (the tile's maps
        and their normalised copy) and 4 K^2 for a ``DenseField``: 10.7e6 pixels for a grid,
        uniform or linear-motion field, 3.9e6 for 25 basis maps.
    field : KernelField, optional
        The field being solved, for the default bound.

    Returns
    -------
    tuple of two tuples, the tile heights and widths (Dask ``chunks``).
    """
    h, w = (check_positive_int(n, "shape") for n in tuple(shape)[:2])
    halo = check_positive_int(halo, "halo", minimum=0)
    if max_pixels is None:
        max_pixels = TILE_BYTES / _bytes_per_pixel(None if field is None else _tile_field(field))
    if max_pixels <= 0:
        raise ValueError(f"max_pixels must be > 0, got {max_pixels}")
    best = None
    for ny in range(1, max(1, h // max(halo, 1)) + 1):
        if best is not None and (h + 2 * halo * (ny - 1)) * w >= best[0]:
            break  # more rows only add work
        nx = _fewest(w, halo, max_pixels / _extended(h, ny, halo))
        if nx is not None:
            work = (h + 2 * halo * (ny - 1)) * (w + 2 * halo * (nx - 1))
            if best is None or work < best[0]:
                best = (work, ny, nx)
    if best is None:
        raise ValueError(f"no tiling of {h} x {w} with a halo of {halo} fits in "
                         f"{max_pixels:.3g} pixels per tile: raise max_pixels")
    _, ny, nx = best
    return _balanced(h, ny), _balanced(w, nx)


def _tile_field(field, name: str = "field") -> KernelField:
    """``as_field``, keeping a ``ReducedBasisField`` reduced (tiles upsample their maps)."""
    return field if isinstance(field, ReducedBasisField) else _as_field(field, name)


def _bytes_per_pixel(field) -> float:
    """Bytes a tiled solve holds per RGB pixel of an extended tile (see ``rl_tiles``)."""
    if isinstance(field, (BasisField, ReducedBasisField)) and not isinstance(field, GridField):
        return _RL_BYTES + 8 * field.num_basis
    if isinstance(field, DenseField):
        return _RL_BYTES + 4 * field.kernel_size ** 2
    return _RL_BYTES


def _extended(n: int, parts: int, halo: int) -> int:
    """The longest extended tile along an axis of n pixels in ``parts`` balanced tiles."""
    sizes = _balanced(n, parts)
    return max(size + halo * ((i > 0) + (i < parts - 1)) for i, size in enumerate(sizes))


def _fewest(n: int, halo: int, length: float):
    """The fewest balanced tiles along an axis of n pixels whose extended tiles are at most
    ``length`` long and whose tiles are at least ``halo`` long (None if there are none)."""
    for parts in (1, 2):
        if parts > 1 and n // parts < max(halo, 1):
            return None
        if _extended(n, parts, halo) <= length:
            return parts
    # from 3 tiles on the longest extended tile is at least n / parts - 1 + 2 halo
    parts = max(3, int(n // (length - 2 * halo + 1)) if length > 2 * halo - 1 else n + 1)
    while n // parts >= max(halo, 1):
        if _extended(n, parts, halo) <= length:
            return parts
        parts += 1
    return None


def _balanced(n: int, parts: int) -> tuple:
    size, extra = divmod(n, parts)
    return tuple(size + 1 if i < extra else size for i in range(parts))


def _kernel_spread(field: KernelField) -> float:
    """Largest sqrt(sum_q k(q) |q|^2) over the field's kernels (q from the centre pixel)."""
    if isinstance(field, LinearMotionField):
        return float(field.length.max()) / math.sqrt(12.0) + 1.0
    if isinstance(field, UniformField):
        kernels = field.psf[None]
    elif isinstance(field, DenseField):
        kernels = field.kernels.reshape((-1,) + field.kernels.shape[-2:])
    elif isinstance(field, (BasisField, ReducedBasisField)):
        kernels = field.kernels
    else:
        raise TypeError(f"nublur.dask does not know how to tile a {type(field).__name__}")
    c = kernels.shape[-1] // 2
    r, q = np.indices(kernels.shape[-2:])
    distance = ((r - c) ** 2 + (q - c) ** 2).astype(np.float64)
    moments = np.tensordot(kernels, distance, axes=([-2, -1], [0, 1]))
    return float(np.sqrt(np.max(moments) / np.max(kernels.sum(axis=(-2, -1)))))


def local_client(workers: int | None = None, *, threads_per_worker: int = 1,
                 scheduler: str | None = None, **cluster_options):
    """A ``distributed.Client``: on a running scheduler by address, else on a new
    ``distributed.LocalCluster`` of worker processes sized so cores are not oversubscribed.

    Each worker process gets ``threads_per_worker`` Dask threads and ``NUBLUR_NUM_THREADS``,
    ``NUMBA_NUM_THREADS``, ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and
    ``MKL_NUM_THREADS`` = cores // workers // threads_per_worker (at least 1), set before it
    starts: Dask sets BLAS to 1 thread and leaves numba's alone, so nublur's FFT tiles would
    otherwise start a thread per core in every worker. Dask's ``MALLOC_TRIM_THRESHOLD_`` is
    left out: with it every large numpy temporary is a fresh mmap, and a photo's estimate
    and RL took 1.7x as long (workers you start yourself for ``scheduler=`` keep Dask's
    settings: unset it there too).

    Parameters
    ----------
    workers : int, optional
        Worker processes (default: one per core, or a single worker for one core).
    threads_per_worker : int
    scheduler : str, optional
        Address of a running scheduler ("tcp://host:8786"); no cluster is started.
    **cluster_options
        Passed to ``distributed.LocalCluster``.

    Returns
    -------
    distributed.Client (close it, or use it as a context manager; closing a client made here
    also closes its cluster).
    """
    import os

    from distributed import Client, LocalCluster

    if scheduler is not None:
        if not isinstance(scheduler, str):
            raise TypeError(f"scheduler must be an address string, got {scheduler!r}")
        return Client(scheduler)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = check_positive_int(workers, "workers") if workers is not None else max(1, cores)
    threads_per_worker = check_positive_int(threads_per_worker, "threads_per_worker")
    inner = str(max(1, cores // workers // threads_per_worker))
    env = {name: inner for name in ("NUBLUR_NUM_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
                                    "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    cluster_options.setdefault("dashboard_address", None)
    import dask

    # set before the worker starts (BLAS reads its variable once; Dask's defaults are 1), and
    # without Dask's MALLOC_TRIM_THRESHOLD_, which makes every large numpy temporary a fresh
    # mmap: nublur's estimator and RL ran 1.7x slower under it (measured)
    environ = {name: value for name, value in
               dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
               if name != "MALLOC_TRIM_THRESHOLD_"}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ | env}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker,
                               processes=True, **cluster_options)
    client = Client(cluster)
    original_close = client.close

    def close(*args, **kwargs):
        result = original_close(*args, **kwargs)
        cluster.close()
        return result

    client.close = close
    return client


def estimate(estimator, image, *, max_side: int = 1200):
    """Estimate the kernel field of a large (Dask) image without holding it in memory.

    The image is reduced by block means of an integer factor f (long side at most
    ``max_side``, and at most a network's own ``max_side``), the estimator runs on that small
    image, and its field is magnified back to full resolution: a grid field's nodes and
    kernels scaled by f (as the classical estimators do internally for large photos), a
    uniform PSF magnified by f, and a network's basis field (000 eq. 2) becomes a
    ``ReducedBasisField``: kernels magnified by f, mixing maps kept at the reduced size and
    upsampled tile by tile, so no full-resolution map is ever held (25 maps at 50 MP would be
    5 GB). The noise level is measured at full resolution, chunk by chunk (Immerkaer's
    estimator on each chunk's interior, pooled), on the linearised luminance (the
    estimator's ``gamma``, 2.2 for a network).

    Parameters
    ----------
    estimator : an estimator of ``load_estimator``
        ``"classical"``, ``"uniform"`` (with their diagnostics), ``"kpn"`` or an ONNX model
        (no diagnostics), each optionally ``+refine`` (the refinement runs on the reduced
        image).
    image : numpy or Dask array, (H, W) or (H, W, 3), display values in [0, 1]
    max_side : int

    Returns
    -------
    (field, info): the full-resolution field and the estimator's diagnostics: a classical
    estimator's ``FieldEstimate`` with its ``noise`` at full resolution and its
    ``blur_radius`` at the reduced scale, else ``EstimateInfo(noise=...)`` with
    ``confidence`` and ``blur_radius`` None (a network reports neither).
    """
    max_side = check_positive_int(max_side, "max_side", minimum=64)
    x = _as_dask(image, None)
    h, w = x.shape[:2]
    side = min(max_side, _network_side(estimator) or max_side)
    factor = max(1, math.ceil(max(h, w) / side))
    axes = {0: factor, 1: factor} | ({2: 1} if x.ndim == 3 else {})
    small = x if factor == 1 else da.coarsen(np.mean, x, axes, trim_excess=True)
    small = np.asarray(small.compute(), dtype=np.float32)
    axis = -1 if x.ndim == 3 else None
    if _reports_diagnostics(estimator):
        field, info = estimator.estimate(small, channel_axis=axis, return_info=True)
    else:
        field, info = estimator.estimate(small, channel_axis=axis), None
    field = _magnified_field(field, factor, (h, w), small.shape[:2])
    noise = _chunked_noise(x, getattr(estimator, "gamma", 1.0))
    if info is None:
        return field, EstimateInfo(noise=noise)
    return field, dataclasses.replace(info, noise=noise)


@dataclasses.dataclass(frozen=True)
class EstimateInfo:
    """What ``estimate`` knows of an estimator without diagnostics: the full-resolution
    noise level; ``confidence`` and ``blur_radius`` are None (``nublur.deblur_plan`` then
    trusts the field)."""

    noise: float
    confidence: float | None = None
    blur_radius: float | None = None


def _network_side(estimator):
    """The ``max_side`` of a network estimator (or of the one a refinement wraps)."""
    from .estimators.onnx import OnnxKernelEstimator

    while not isinstance(estimator, OnnxKernelEstimator) and hasattr(estimator, "base"):
        estimator = estimator.base
    return estimator.max_side if isinstance(estimator, OnnxKernelEstimator) else None


def _reports_diagnostics(estimator) -> bool:
    from .estimators.classical import ClassicalEstimator

    return isinstance(estimator, ClassicalEstimator)


def _magnified_field(field, factor, full_shape, small_shape):
    """The full-resolution version of a field estimated on a block-mean reduction."""
    from .estimators.classical.patches import _full_resolution, _magnified

    if factor == 1:
        return field
    if isinstance(field, GridField):
        return _full_resolution(field, full_shape, small_shape)
    if isinstance(field, UniformField):
        return UniformField(_magnified(field.psf[None], 1.0 / factor)[0], normalize=True)
    if isinstance(field, BasisField):
        return ReducedBasisField(_magnified(field.kernels, 1.0 / factor), field.mixing,
                                 full_shape, normalize=True)
    raise TypeError(f"nublur.dask.estimate magnifies grid, uniform and basis fields, the "
                    f"estimator returned a {type(field).__name__}")


def _chunked_noise(x, gamma: float) -> float:
    """Immerkaer's noise level of the linearised luminance, pooled over chunk interiors."""
    from .estimators.classical.psf import luminance, noise_level

    def chunk_noise(block):
        y = luminance(block, -1 if block.ndim == 3 else None, gamma)
        count = max(y.shape[0] - 2, 0) * max(y.shape[1] - 2, 0)
        value = noise_level(y) if count else 0.0
        return np.array([[[value * count, count]]], dtype=np.float64)

    x3 = x if x.ndim == 3 else x[..., None]
    parts = x3.map_blocks(chunk_noise, dtype=np.float64, chunks=(1, 1, 2)).compute()
    total = parts[..., 1].sum()
    return float(parts[..., 0].sum() / total) if total else 0.0


def blur(image, field, *, boundary: str = "reflect", chunks=None):
    """Tiled ``nublur.blur``: equal to the whole-image result to float rounding.

    Parameters
    ----------
    image : numpy or Dask array, (H, W) or (H, W, C)
    field : KernelField or ndarray (K, K)
        Any field; its per-pixel data is chunked like the image.
    boundary : str
        As ``nublur.blur``; applied only at the image's true edges.
    chunks : int or tuple, optional
        Tile size for a numpy input (default 1024); a Dask input keeps its chunks.

    Returns
    -------
    dask.array.Array, the image's shape, dtype and chunks.
    """
    return _tiled(image, field, boundary, chunks, _operator(_blur), None)


def blur_adjoint(residual, field, *, boundary: str = "reflect", chunks=None):
    """Tiled ``nublur.blur_adjoint`` (exact, see ``blur``)."""
    return _tiled(residual, field, boundary, chunks, _operator(_blur_adjoint), None)


def richardson_lucy(image, psf, num_iter: int = 30, *, halo: int | None = None,
                    boundary: str = "reflect", chunks=None, **options):
    """Tiled ``nublur.richardson_lucy``: each tile is solved with a halo of ``halo`` pixels.

    Parameters
    ----------
    image : numpy or Dask array, (H, W) or (H, W, C)
    psf : KernelField or ndarray (K, K)
    num_iter : int
    halo : int, optional
        Pixels of context around each tile; default ``rl_halo(psf, num_iter, tv_weight)``
        (seam error about 1e-4 or less). Larger is closer to the whole-image solve and slower.
    boundary : str
        The blur's boundary at the image's true edges.
    chunks : int or tuple, optional
        Tile size, or Dask chunks: a numpy input is cut into these tiles (default
        ``rl_tiles(image.shape, halo)``: the fewest, least-overlapping tiles within the
        memory bound; one tile if the image fits); a Dask input keeps its chunks unless
        this is given.
    **options
        Passed to ``nublur.richardson_lucy`` (``tv_weight``, ``saturation``, ``gamma``,
        ``init`` as a string, ``clip``, ...). ``stop_tol``, ``callback``, ``return_info`` and
        ``progress`` need the whole image and are refused.

    Returns
    -------
    dask.array.Array, the image's shape and chunks.
    """
    num_iter = check_positive_int(num_iter, "num_iter")
    _refuse_whole_image_options(options, ("stop_tol", "callback", "return_info", "progress",
                                           "channel_axis"), "Richardson-Lucy")
    if not isinstance(options.get("init", "image"), str):
        raise ValueError("init must be 'image' or 'constant' for tiled Richardson-Lucy")
    field = _tile_field(psf, "psf")
    if halo is None:
        halo = rl_halo(field, num_iter, options.get("tv_weight", 0.0))

    def solve(window, window_field, window_boundary):
        axis = -1 if window.ndim == 3 else None
        return _richardson_lucy(window, window_field, num_iter, boundary=window_boundary,
                                channel_axis=axis, **options)

    return _tiled_solve(image, field, boundary, chunks, solve, halo)


def admm_irc(image, psf, *, halo: int | None = None, boundary: str = "reflect", chunks=None,
             **options):
    """Tiled ``nublur.admm_irc`` (001 Algorithm 2.1): each tile is solved with a halo.

    Parameters
    ----------
    image : numpy or Dask array, (H, W) or (H, W, C)
    psf : ndarray (K, K) or UniformField
        A uniform PSF (a ``LinearMotionField`` is refused, see the error).
    halo : int, optional
        Pixels of context around each tile; default ``admm_halo(psf, num_admm)``
        (seam error about 1e-4 or less).
    boundary : str
        The blur's boundary at the image's true edges.
    chunks : int or tuple, optional
        As for ``richardson_lucy`` (default ``rl_tiles(image.shape, halo)``).
    **options
        Passed to ``nublur.admm_irc`` (``lam``, ``prior``, ``num_admm``, ``num_irc``,
        ``rho``, ``support``, ``filter_rho``, ``lookup``); ``callback`` and ``progress``
        are refused. Tiles take 001's fixed IRC steps (``step="fixed"``): the optimal
        steps of the whole-image solver weigh their directions by inner products over the
        image, which no halo makes local; ``step="optimal"`` is refused.

    Returns
    -------
    dask.array.Array, the image's shape and chunks.
    """
    _refuse_whole_image_options(options, ("callback", "progress", "channel_axis"), "ADMM-IRC")
    if options.setdefault("step", "fixed") != "fixed":
        raise ValueError(f"step must be 'fixed' for tiled ADMM-IRC (the optimal steps "
                         f"couple the whole image), got {options['step']!r}")
    field = _tile_field(psf, "psf")
    if not isinstance(field, UniformField):
        raise TypeError(f"tiled admm_irc takes a uniform PSF, got {type(field).__name__}: a "
                        f"linear-motion field's IRC step is fitted to each tile's own motions, "
                        f"so tiles differ from the whole image by ~3e-3 however wide the halo "
                        f"(measured); solve it whole with nublur.admm_irc")
    if halo is None:
        halo = admm_halo(field, options.get("num_admm", 10))

    def solve(window, window_field, window_boundary):
        axis = -1 if window.ndim == 3 else None
        return _admm_irc(window, window_field, boundary=window_boundary, channel_axis=axis,
                         **options)

    return _tiled_solve(image, field, boundary, chunks, solve, halo)


def _refuse_whole_image_options(options, names, solver):
    for name in names:
        value = options.pop(name, None)
        if value is not None and value is not False:
            raise ValueError(f"{name} is not available for tiled {solver} (each tile is "
                             f"solved on its own)")


def _tiled_solve(image, field, boundary, chunks, solve, halo):
    halo = check_positive_int(halo, "halo", minimum=0)
    if isinstance(image, da.Array) and chunks is not None:
        image = image.rechunk(_spatial_chunks(chunks, image.ndim))
    elif chunks is None and not isinstance(image, da.Array):
        chunks = rl_tiles(np.shape(image), halo, field=field)
    return _tiled(image, field, boundary, chunks, solve, halo)


def _operator(function):
    def apply(window, window_field, window_boundary):
        axis = -1 if window.ndim == 3 else None
        return function(window, window_field, boundary=window_boundary, channel_axis=axis)
    return apply


def _tiled(image, field, boundary, chunks, apply, halo):
    boundary = check_boundary(boundary)
    field = _tile_field(field)
    x = _as_dask(image, chunks)
    if field.image_shape is not None and tuple(field.image_shape) != x.shape[:2]:
        raise ValueError(f"image shape {x.shape[:2]} does not match the field's "
                         f"{tuple(field.image_shape)}")
    # K // 2 + 1: the "mirror" fold of the last padded sample lands K // 2 + 1 rows in
    depth = field.kernel_size // 2 + 1 if halo is None else halo
    gray = x.ndim == 2
    x3 = x[..., None] if gray else x
    x3 = _ensure_chunks(x3, depth)
    static, data = _field_parts(field, x3.chunks[:2])
    periodic = boundary == "periodic"
    # a periodic image wraps its halo around; otherwise true edges get none (nublur's rule)
    edge = "periodic" if periodic else "none"
    # inside a periodic halo any rule will do for the operators (the fold lands in the
    # halo); RL's tile edges are not periodic, so there it reflects
    inner = ("constant" if halo is None else "reflect") if periodic else boundary
    # no deeper than the image; none along an axis that is one tile (it has no neighbour)
    depths = tuple(0 if len(c) == 1 and not periodic else min(depth, n)
                   for c, n in zip(x3.chunks[:2], x3.shape[:2]))
    spec = {0: depths[0], 1: depths[1], 2: 0}
    arrays = [overlap(x3, depth=spec, boundary={0: edge, 1: edge, 2: "none"})]
    if data is not None:
        arrays.append(overlap(data, depth=spec, boundary={0: edge, 1: edge, 2: "none"}))

    def block(window, *window_data, block_info=None):
        info = block_info[0]
        local = _window_field(static, window_data[0] if window_data else None)
        result = apply(window[..., 0] if gray else window, local, inner)
        result = result[..., None] if gray else result
        return _crop(result, depths, info, periodic)

    out = da.map_blocks(block, *arrays, chunks=x3.chunks, dtype=x3.dtype,
                        meta=np.empty((0, 0, 0), dtype=x3.dtype))
    return out[..., 0] if gray else out


def _as_dask(image, chunks):
    if isinstance(image, da.Array):
        x = image
    else:
        x = np.asarray(image)
        if x.dtype.kind not in "fiu":
            raise TypeError(f"image must be a numeric array, got dtype {x.dtype}")
        x = da.from_array(x, chunks=_spatial_chunks(DEFAULT_CHUNK if chunks is None else chunks,
                                                    x.ndim))
    if x.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {x.shape}")
    if x.dtype.kind in "iu":
        x = x.astype(np.float32) / np.float32(np.iinfo(x.dtype).max)
    elif x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    return x.rechunk({2: -1}) if x.ndim == 3 else x


def _spatial_chunks(chunks, ndim):
    spatial = (chunks, chunks) if np.isscalar(chunks) else tuple(chunks)[:2]
    return spatial + (-1,) * (ndim - 2)


def _ensure_chunks(x, depth):
    """Chunks at least ``depth`` along both image axes (a halo comes from one neighbour)."""
    if depth == 0:
        return x
    wanted = tuple(ensure_minimum_chunksize(min(depth, n), c)
                   for n, c in zip(x.shape[:2], x.chunks[:2]))
    return x if wanted == x.chunks[:2] else x.rechunk(wanted + (x.chunks[2],))


def _crop(result, depths, info, periodic):
    """The tile's own pixels: the halo (``depths`` per axis) removed on every side that has
    one."""
    index = []
    for axis, depth in enumerate(depths):
        loc, num = info["chunk-location"][axis], info["num-chunks"][axis]
        start = depth if periodic or loc > 0 else 0
        stop = result.shape[axis] - (depth if periodic or loc < num - 1 else 0)
        index.append(slice(start, stop))
    return result[tuple(index)]


def _field_parts(field: KernelField, spatial_chunks):
    """(static, data): what every tile shares, and the per-pixel data as an (H, W, F) Dask
    array chunked like the image (None for a uniform PSF)."""
    if isinstance(field, UniformField):
        return ("uniform", field.psf), None
    h, w = field.image_shape
    chunks = spatial_chunks + (-1,)
    if isinstance(field, (GridField, ReducedBasisField)):
        rows = da.broadcast_to(da.arange(h, dtype=np.int32, chunks=spatial_chunks[0])[:, None],
                               (h, w), chunks=spatial_chunks)
        cols = da.broadcast_to(da.arange(w, dtype=np.int32, chunks=spatial_chunks[1])[None],
                               (h, w), chunks=spatial_chunks)
        coords = da.stack([rows, cols], axis=-1).rechunk(chunks)
        if isinstance(field, ReducedBasisField):
            return ("reduced", field), coords
        return ("grid", field.kernels, field.row_weights, field.col_weights,
                field.grid_shape, field.row_nodes, field.col_nodes), coords
    if isinstance(field, BasisField):
        mixing = field.mixing
        data = (da.moveaxis(mixing, 0, -1) if isinstance(mixing, da.Array)
                else da.from_array(np.moveaxis(mixing, 0, -1), chunks=chunks))
        return ("basis", field.kernels), data.rechunk(chunks)
    if isinstance(field, DenseField):
        k = field.kernel_size
        data = da.from_array(field.kernels.reshape(h, w, k * k), chunks=chunks)
        return ("dense", k), data
    if isinstance(field, LinearMotionField):
        data = da.from_array(np.stack([field.length, field.angle], axis=-1), chunks=chunks)
        return ("linear", field.kernel_size), data
    raise TypeError(f"nublur.dask does not know how to tile a {type(field).__name__}; "
                    f"convert it with BasisField.from_field or to_dense first")


def _window_field(static, data):
    """The field of one extended tile, from the shared part and the tile's data."""
    kind = static[0]
    if kind == "uniform":
        return static[1]
    if kind == "basis":
        return BasisField(static[1], np.moveaxis(data, -1, 0))
    if kind == "dense":
        k = static[1]
        return DenseField(np.ascontiguousarray(data).reshape(data.shape[:2] + (k, k)))
    if kind == "linear":
        return LinearMotionField(data[..., 0], data[..., 1], kernel_size=static[1])
    if kind == "reduced":  # this window's maps, upsampled from the reduced ones
        return static[1].window(data[:, 0, 0], data[0, :, 1])
    kernels, row_weights, col_weights, grid, row_nodes, col_nodes = static[1:]
    rows, cols = data[:, 0, 0], data[0, :, 1]
    if np.all(np.diff(rows) == 1) and np.all(np.diff(cols) == 1):
        # a contiguous window: the same grid with its nodes moved (no dense maps)
        return GridField(kernels.reshape(grid + kernels.shape[-2:]), (len(rows), len(cols)),
                         row_nodes=row_nodes - rows[0], col_nodes=col_nodes - cols[0])
    gx = grid[1]  # a window wrapped around a periodic image: its few maps, explicitly
    wr = row_weights[:, rows]
    wc = col_weights[:, cols]
    ra, ca = np.flatnonzero(wr.any(axis=1)), np.flatnonzero(wc.any(axis=1))
    maps = wr[ra][:, None, :, None] * wc[ca][None, :, None, :]
    index = (ra[:, None] * gx + ca[None, :]).ravel()
    return BasisField(kernels[index], maps.reshape((len(index),) + maps.shape[2:]))
