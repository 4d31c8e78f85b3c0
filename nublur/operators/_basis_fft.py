"""DFT basis blur (000 eq. 10), evaluated tile by tile in cache-sized pieces.

The image is cut into T x T tiles and every FFT is N x N with N = T + K - 1, so the working
set of one tile stays in the core's cache:

* forward (overlap-save): one real FFT of the tile's window of the padded image, then, B in
  chunks, the products with the cached kernel spectra, the inverse FFTs and the per-pixel
  mix ``sum_b m_b * (k_b conv u)``; circular convolution is exact on the T x T valid part;
* adjoint (overlap-add): for chunks of b, FFTs of ``m_b * r`` on the tile, summed in the
  Fourier domain with the flipped kernels' spectra (DESIGN.md section 3), one inverse FFT,
  added to the padded domain; the padding's adjoint then folds the border back.

Plans use FFTW_PATIENT for images of 512 x 512 pixels or more, FFTW_MEASURE below; FFTW wisdom
is kept in the user cache directory (``NUBLUR_CACHE_DIR``), so each plan is searched once per
machine. Tile rows are spread over worker threads (each with its own buffers and FFTW plans;
FFTW and the numba kernels run without the GIL). The adjoint's windows overlap by K - 1 rows,
so it runs the even tile rows, then the odd ones. With fewer tile rows than threads (a large
filter on a small image, often a single tile) the threads share out the basis instead, each
summing into its own output.

Compact support: each tile transforms only the kernels whose mixing maps are non-zero on it
(``BasisField.mixing_window``), so a grid of G patch PSFs with hat mixing costs about 4 + 1
transforms per tile, not G + 1, and the tile size is chosen from those counts
(``tile_fft_size``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np

from .._backend import TileFFT, fast_fft_size, fft_engine, kernel_spectra, num_threads
from ..fields import nonzero_maps
from . import _basis_numba as nb
from .boundaries import pad_adjoint, padding_indices

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
_WORKSPACES: OrderedDict = OrderedDict()
_WORKSPACE_LIMIT = 16
_CHUNK_BYTES = 400 * 1024
_WHOLE_MAX = 512  # largest FFT tile (larger ones leave the cache)
_TILE_OVERHEAD = 0.15e6  # per-tile work outside the transforms, in N^2 log2 N units
_SUPPORT_BLOCK = 32  # resolution of the kernel-support map that picks the tile size
_PATIENT_PIXELS = 512 * 512  # FFTW_PATIENT (seconds of planning, once) pays off from here


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=num_threads(),
                                       thread_name_prefix="nublur-tiles")
        return _POOL


def run_rows(work, tile_rows) -> None:
    """``work(rows)`` on the tile rows, interleaved over the worker threads."""
    workers = min(num_threads(), len(tile_rows))
    if workers <= 1:
        work(tile_rows)
        return
    futures = [_pool().submit(work, tile_rows[k::workers]) for k in range(workers)]
    for future in futures:
        future.result()


def tile_fft_size(kernel_size: int, image_shape, support=None, engine: str | None = None,
                  threads: int | None = None) -> int:
    """FFT tile size N that minimises the estimated time of one application.

    Returns N; ``_regular_layout`` returns N and its estimated cost.

    Each tile of T = N - K + 1 output pixels costs one forward transform plus one inverse
    per basis kernel active on it (the adjoint mirrors it), about N^2 log2 N each and
    (N / 160)^0.8 times more per sample above N = 160 (out of cache), plus a fixed per-tile
    overhead (about 0.15 M in those units); both fitted to timings of N = 64 to 288 on 2
    cores at K = 33. Tile rows are spread over threads; with fewer rows
    than threads the threads share each tile's basis. Candidates run from T = 32 to one tile
    over the image, each rounded up to a fast size for the engine (``fast_fft_size``), and
    stay at most 512 so a tile's working set stays in cache.

    ``support`` is a boolean (B, h, w) map of which kernels are active on which
    ``_SUPPORT_BLOCK``-pixel block (None: one kernel everywhere).
    """
    return _regular_layout(kernel_size, image_shape, support, engine, threads)[0]


def _regular_layout(kernel_size, image_shape, support, engine, threads):
    span = kernel_size - 1
    threads = threads or num_threads()
    h, w = image_shape
    candidates = {fast_fft_size(span + t, engine) for t in (32, 64, 96, 128, 192, 256)}
    candidates |= {fast_fft_size(max(h, w) + span, engine)}
    candidates = sorted(n for n in candidates if n <= _WHOLE_MAX) or [min(candidates)]
    best, best_cost = None, np.inf
    for size in candidates:
        tile = size - span
        counts = _tile_counts(support, tile, image_shape)
        rows = counts.shape[0]
        if rows >= threads:
            transforms = (counts + 1).sum() / threads
            tiles = counts.size / threads
        else:
            transforms = (np.ceil(counts / threads) + 1).sum()
            tiles = counts.size
        cache = max(1.0, size / 160) ** 0.8  # larger transforms leave the L2 cache
        cost = transforms * size * size * np.log2(size) * cache + tiles * _TILE_OVERHEAD
        if cost < best_cost:
            best, best_cost = size, cost
    return best, best_cost


def _tile_counts(support, tile, image_shape) -> np.ndarray:
    """(rows, cols) number of kernels active on each tile (a superset, from block support)."""
    rows, cols = (-(-n // tile) for n in image_shape)
    if support is None:
        return np.ones((rows, cols))
    counts = np.empty((rows, cols))
    blk = _SUPPORT_BLOCK
    for ty in range(rows):
        b0, b1 = ty * tile // blk, -(-min((ty + 1) * tile, image_shape[0]) // blk)
        band = support[:, b0:b1].any(axis=1)
        for tx in range(cols):
            c0, c1 = tx * tile // blk, -(-min((tx + 1) * tile, image_shape[1]) // blk)
            counts[ty, tx] = band[:, c0:c1].any(axis=1).sum()
    return counts


def tile_starts(length: int, tile: int, breaks=None) -> np.ndarray:
    """Start of each tile along an axis of ``length`` pixels, then ``length``.

    Without ``breaks``: every ``tile`` pixels. With breaks (the field's ``mixing_breaks``),
    each piece between consecutive breaks is cut into the fewest near-equal tiles of at most
    ``tile`` pixels, so that no tile straddles a break.
    """
    if breaks is None:
        return np.r_[np.arange(0, length, tile), length].astype(np.int64)
    edges = np.unique(np.r_[0, np.asarray(breaks, dtype=np.int64), length])
    starts = []
    for a, b in zip(edges[:-1], edges[1:]):
        pieces = -(-(b - a) // tile)
        starts.extend(a + (np.arange(pieces) * (b - a)) // pieces)
    return np.r_[starts, length].astype(np.int64)


def aligned_tile_size(kernel_size: int, image_shape, breaks, piece_counts,
                      engine: str | None = None, threads: int | None = None):
    """``tile_fft_size`` for tiles cut along the field's breaks (``tile_starts``).

    ``piece_counts[a, b]`` is the number of kernels active between row breaks a, a + 1 and
    column breaks b, b + 1; a tile inside that piece transforms exactly those. Same cost
    model as ``tile_fft_size``, over every fast size up to 512. Returns N and its estimated
    cost (comparable with ``_regular_layout``'s).
    """
    span = kernel_size - 1
    threads = threads or num_threads()
    h, w = image_shape
    candidates = sorted({fast_fft_size(span + t, engine) for t in range(16, _WHOLE_MAX, 8)})
    candidates = [n for n in candidates if n <= _WHOLE_MAX] or [candidates[0]]
    edges = [np.unique(np.r_[0, np.asarray(b, dtype=np.int64), n])
             for b, n in zip(breaks, (h, w))]
    best, best_cost = None, np.inf
    for size in candidates:
        tile = size - span
        pieces = [-(-np.diff(e) // tile) for e in edges]  # tiles per piece, each axis
        tiles = np.outer(*pieces)
        transforms = (tiles * (piece_counts + 1)).sum()
        rows = pieces[0].sum()
        if rows >= threads:
            transforms, count = transforms / threads, tiles.sum() / threads
        else:
            count = tiles.sum()
        cache = max(1.0, size / 160) ** 0.8
        cost = transforms * size * size * np.log2(size) * cache + count * _TILE_OVERHEAD
        if cost < best_cost:
            best, best_cost = size, cost
    return best, best_cost


def block_support(window, num_basis: int, image_shape) -> np.ndarray:
    """(B, h, w) booleans: kernel b is active somewhere on ``_SUPPORT_BLOCK``-pixel block."""
    blk = _SUPPORT_BLOCK
    rows, cols = (-(-n // blk) for n in image_shape)
    support = np.zeros((num_basis, rows, cols), dtype=bool)
    for by in range(rows):
        for bx in range(cols):
            support[window(by * blk, bx * blk, blk, blk)[0], by, bx] = True
    return support


class _Worker:
    """One thread's FFT buffers and tile accumulators (shared by all plans of its FFT size)."""

    def __init__(self, size, chunk, dtype, engine, patient):
        self.fft = TileFFT(size, chunk, dtype, engine, patient)
        self._accumulators: dict[int, np.ndarray] = {}

    def accumulator(self, tile: int) -> np.ndarray:
        acc = self._accumulators.get(tile)
        if acc is None:
            acc = self._accumulators[tile] = np.empty((tile, tile), dtype=self.fft.dtype)
        return acc


def _worker(size, chunk, dtype, engine, patient) -> _Worker:
    """The calling thread's workspace: buffers are never shared between threads, so the
    operators may run from several threads at once (a Dask worker's, a user's pool)."""
    key = (size, chunk, np.dtype(dtype).str, engine, patient, threading.get_ident())
    with _POOL_LOCK:
        ws = _WORKSPACES.get(key)
        if ws is not None:
            _WORKSPACES.move_to_end(key)
            return ws
    ws = _Worker(size, chunk, dtype, engine, patient)
    with _POOL_LOCK:
        _WORKSPACES[key] = ws
        while len(_WORKSPACES) > _WORKSPACE_LIMIT * num_threads():
            _WORKSPACES.popitem(last=False)
    return ws


class BasisPlan:
    """Everything the basis operator reuses for one field, image shape, dtype and boundary.

    Holds the kernel spectra at the tile size and, per tile, the indices of the basis kernels
    whose mixing maps are non-zero there with those maps (tile-major, zero beyond the image).
    Only those kernels are transformed on that tile, so a field whose maps have compact
    support (segment masks, grids of patch PSFs) costs what its overlaps cost, not B.

    Parameters
    ----------
    kernels : ndarray (B, K, K)
    mixing : None, ndarray (B, H, W) or callable
        None for a single kernel; a callable ``mixing(i0, j0, rows, cols) -> (indices,
        maps)`` gives the non-zero maps of a window (``BasisField.mixing_window``).
    breaks : (row_breaks, col_breaks), optional
        Lines between which the set of non-zero maps is constant
        (``BasisField.mixing_breaks``). Tiles are then cut along them (``tile_starts``), so
        a tile of a hat grid needs its cell's 4 kernels, never the 6 or 9 of a tile that
        straddles a node.
    """

    def __init__(self, kernels: np.ndarray, mixing, image_shape, dtype, boundary: str,
                 breaks=None):
        self.dtype = np.dtype(dtype)
        self.shape = tuple(image_shape)
        self.radius = kernels.shape[-1] // 2
        self.boundary = boundary
        self.engine = fft_engine()
        self.num_basis = kernels.shape[0]
        window = _window_source(mixing, self.num_basis)
        if self.num_basis == 1:
            breaks = None
        self.size, breaks = self._choose_size(kernels.shape[-1], window, breaks)
        self.tile = self.size - 2 * self.radius
        self.row_starts, self.col_starts = (
            tile_starts(n, self.tile, None if breaks is None else b)
            for n, b in zip(self.shape, breaks or (None, None)))
        self.grid = (len(self.row_starts) - 1, len(self.col_starts) - 1)
        self.active, self.blocks = self._tile_blocks(window)
        most = max(len(a) for row in self.active for a in row)
        plane = self.size * self.size * self.dtype.itemsize
        chunks = -(-most // max(1, min(most, _CHUNK_BYTES // plane)))
        if self.grid[0] < num_threads():  # threads share the basis (``_shares``)
            chunks = max(chunks, min(num_threads(), most))
        self.chunk = -(-most // chunks)
        self.patient = self.shape[0] * self.shape[1] >= _PATIENT_PIXELS
        self.spectra = kernel_spectra(kernels, self.size, self.dtype)
        self.adjoint_spectra = kernel_spectra(kernels[:, ::-1, ::-1], self.size, self.dtype)
        h, w = self.shape
        self.rows = padding_indices(h, self.radius, boundary)
        self.cols = padding_indices(w, self.radius, boundary)
        self.chunks = [[self._tile_chunks(len(index)) for index in row] for row in self.active]
        self.shares = self._shares()
        self._workspace().fft.prepare(self._batch_counts())  # pool threads plan on first use

    def _choose_size(self, kernel_size, window, breaks):
        """(N, breaks or None). With breaks, tiles are cut along every m-th break (m = 1 to
        4: tiles of up to m x m grid cells, so small cells do not make small tiles), m and N
        chosen by the cost model of ``tile_fft_size``. They are always preferred to regular
        tiles: measured on 2 cores in one process (K = 33, float32), a 5 x 5 grid at 1024^2
        ran 8-11% faster aligned, a 12 x 12 grid 20-24% at 1024^2 and 11-15% at 500^2,
        although the model's N^2 log2 N misses how much faster FFTW runs some sizes (144
        against 160) and ranks the 5 x 5 case the other way."""
        if breaks is None:
            support = None if self.num_basis == 1 else block_support(window, self.num_basis,
                                                                     self.shape)
            return tile_fft_size(kernel_size, self.shape, support, self.engine), None
        best = (None, np.inf, None)
        for m in range(1, 5):
            merged = tuple(np.asarray(b, dtype=np.int64)[m - 1::m] for b in breaks)
            size, cost = aligned_tile_size(kernel_size, self.shape, merged,
                                           self._piece_counts(window, merged), self.engine)
            if cost < best[1]:
                best = (size, cost, merged)
            if max(len(b) for b in breaks) < m:
                break
        return best[0], best[2]

    def _piece_counts(self, window, breaks) -> np.ndarray:
        """Number of kernels active on each piece between consecutive breaks."""
        edges = [np.unique(np.r_[0, b, n]) for b, n in zip(breaks, self.shape)]
        return np.array([[len(window(a, b, a1 - a, b1 - b)[0])
                          for b, b1 in zip(edges[1][:-1], edges[1][1:])]
                         for a, a1 in zip(edges[0][:-1], edges[0][1:])])

    def _tile_blocks(self, window):
        active, blocks = [], []
        for i0, i1 in zip(self.row_starts[:-1], self.row_starts[1:]):
            active.append([])
            blocks.append([])
            for j0, j1 in zip(self.col_starts[:-1], self.col_starts[1:]):
                index, maps = window(i0, j0, i1 - i0, j1 - j0)
                active[-1].append(np.ascontiguousarray(index, dtype=np.int64))
                blocks[-1].append(np.ascontiguousarray(maps, dtype=self.dtype))
        return active, blocks

    def _tile_chunks(self, count):
        """(start, count) pieces of a tile's ``count`` active kernels: full chunks, then the
        rest in powers of two, so that FFTW plans exist for few batch counts
        (``_batch_counts``)."""
        pieces = [(c0, self.chunk) for c0 in range(0, count - self.chunk + 1, self.chunk)]
        c0 = len(pieces) * self.chunk
        while c0 < count:
            step = 1 << ((count - c0).bit_length() - 1)
            pieces.append((c0, step))
            c0 += step
        return pieces

    def _batch_counts(self):
        return {self.chunk} | {1 << p for p in range(self.chunk.bit_length())
                               if 1 << p < self.chunk}

    def _workspace(self) -> _Worker:
        return _worker(self.size, self.chunk, self.dtype, self.engine, self.patient)

    def _shares(self):
        """(worker, workers) shares of every tile's basis chunks when there are fewer tile
        rows than threads (a large filter on a small image: one tile); else None."""
        workers = min(num_threads(), max(len(chunks) for row in self.chunks for chunks in row))
        if self.grid[0] >= num_threads() or workers <= 1:
            return None
        return [(k, workers) for k in range(workers)]

    def _run_split(self, work, shares, shape):
        """Runs ``work(tile_rows, share, out)`` per share; returns the summed outs."""
        rows = list(range(self.grid[0]))
        outs = [np.zeros(shape, dtype=self.dtype) for _ in shares]
        futures = [_pool().submit(work, rows, share, out) for share, out in zip(shares, outs)]
        for future in futures:
            future.result()
        return sum(outs[1:], outs[0])

    def _chunks_of(self, ty, tx, share):
        chunks = self.chunks[ty][tx]
        return chunks if share is None else chunks[share[0]::share[1]]

    def forward(self, image: np.ndarray) -> np.ndarray:
        image = np.ascontiguousarray(image, dtype=self.dtype)
        offset = 2 * self.radius

        def work(tile_rows, share, out):
            ws = self._workspace()
            fft, acc = ws.fft, ws.accumulator(self.tile)
            for ty in tile_rows:
                for tx in range(self.grid[1]):
                    chunks = self._chunks_of(ty, tx, share)
                    if not chunks:
                        continue
                    i0, j0 = self.row_starts[ty], self.col_starts[tx]
                    block, basis = self.blocks[ty][tx], self.active[ty][tx]
                    tile = acc[:block.shape[1], :block.shape[2]]
                    nb.load_padded_window(image, self.rows, self.cols, i0, j0, fft.real[0])
                    held = fft.forward_held()
                    for n, (c0, count) in enumerate(chunks):
                        nb.spectral_products(held, self.spectra, basis, c0, count, fft.spectrum)
                        blurred = fft.inverse(count)
                        nb.mix_accumulate(blurred, block, c0, count, offset, tile, n == 0)
                    nb.store_tile(tile, out, i0, j0)

        shares = self.shares
        if shares is not None:
            return self._run_split(work, shares, self.shape)
        out = np.zeros(self.shape, dtype=self.dtype)
        run_rows(lambda rows: work(rows, None, out), list(range(self.grid[0])))
        return out

    def adjoint(self, residual: np.ndarray) -> np.ndarray:
        h, w = self.shape
        r2 = 2 * self.radius
        residual = np.ascontiguousarray(residual, dtype=self.dtype)

        def work(tile_rows, share, padded):
            fft = self._workspace().fft
            for ty in tile_rows:
                for tx in range(self.grid[1]):
                    chunks = self._chunks_of(ty, tx, share)
                    if not chunks:
                        continue
                    i0, j0 = self.row_starts[ty], self.col_starts[tx]
                    block, basis = self.blocks[ty][tx], self.active[ty][tx]
                    for n, (c0, count) in enumerate(chunks):
                        nb.load_masked_tiles(residual, block, i0, j0, c0, count, fft.real)
                        spectra = fft.forward(count)
                        nb.accumulate_products(spectra, self.adjoint_spectra, basis, c0, count,
                                               fft.held, n == 0)
                    fft.spectrum[0] = fft.held
                    nb.add_window(fft.inverse(1)[0], padded, i0, j0, block.shape[1] + r2,
                                  block.shape[2] + r2)

        shares = self.shares
        if shares is not None:
            padded = self._run_split(work, shares, (h + r2, w + r2))
            return pad_adjoint(padded, self.shape, self.radius, self.boundary)
        padded = np.zeros((h + r2, w + r2), dtype=self.dtype)

        def rows_work(rows):
            work(rows, None, padded)

        rows = list(range(self.grid[0]))
        if np.diff(self.row_starts)[1:-1].min(initial=r2) >= r2:
            run_rows(rows_work, rows[0::2])  # windows of rows two apart never overlap
            run_rows(rows_work, rows[1::2])
        else:
            rows_work(rows)
        return pad_adjoint(padded, self.shape, self.radius, self.boundary)


def _window_source(mixing, num_basis):
    """``mixing(i0, j0, rows, cols) -> (indices, maps)`` for any accepted ``mixing``."""
    if callable(mixing):
        return mixing
    if mixing is None:
        def single(i0, j0, rows, cols):
            return np.zeros(1, dtype=np.int64), np.ones((1, rows, cols))
        return single
    if mixing.shape[0] != num_basis:
        raise ValueError(f"mixing has {mixing.shape[0]} maps for {num_basis} kernels")
    return partial(nonzero_maps, mixing)
