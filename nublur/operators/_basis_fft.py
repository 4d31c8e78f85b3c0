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
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._backend import TileFFT, fast_fft_size, fft_engine, kernel_spectra, num_threads
from . import _basis_numba as nb
from .boundaries import pad_adjoint, padding_indices

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
_WORKSPACES: OrderedDict = OrderedDict()
_WORKSPACE_LIMIT = 16
_CHUNK_BYTES = 400 * 1024
_WHOLE_MAX = 512  # largest single-tile FFT chosen to save samples (larger ones leave the cache)
_PATIENT_PIXELS = 512 * 512  # FFTW_PATIENT (seconds of planning, once) pays off from here


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=num_threads(),
                                       thread_name_prefix="nublur-tiles")
        return _POOL


def tile_fft_size(kernel_size: int, image_shape, engine: str | None = None,
                  num_basis: int = 1) -> int:
    """FFT tile size N: tiles of about 5 (K - 1) and at least 160 (both measured best on 2
    cores: K = 33 at 1024 x 1024; smaller tiles for small K spent 2-3x longer on per-tile
    work), or one tile over the whole image where the busiest thread then transforms fewer
    samples (threads take tile rows, or share the basis of a single tile) and it stays cache-sized
    (N <= 512), each rounded up to a fast size for the engine (``fast_fft_size``)."""
    span = kernel_size - 1
    tiled = fast_fft_size(max(5 * span, 160), engine)
    whole = fast_fft_size(max(image_shape) + span, engine)
    if whole <= tiled:
        return whole
    if whole > _WHOLE_MAX:
        return tiled
    rows, cols = (-(-n // (tiled - span)) for n in image_shape)
    threads = num_threads()
    # transforms per thread: one forward and B inverse per tile (the adjoint mirrors it)
    tiled_cost = (1 + num_basis) * rows * cols * tiled**2 / min(threads, rows)
    whole_cost = (1 + -(-num_basis // threads)) * whole**2
    return whole if whole_cost < tiled_cost else tiled


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


def _worker(size, chunk, dtype, engine, patient, index) -> _Worker:
    key = (size, chunk, np.dtype(dtype).str, engine, patient, index)
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

    Holds the kernel spectra at the tile size and the mixing maps in tile-major order (a
    second copy of the mixing, B x H x W values).
    """

    def __init__(self, kernels: np.ndarray, mixing: np.ndarray | None, image_shape,
                 dtype, boundary: str):
        self.dtype = np.dtype(dtype)
        self.shape = tuple(image_shape)
        self.radius = kernels.shape[-1] // 2
        self.boundary = boundary
        self.engine = fft_engine()
        self.size = tile_fft_size(kernels.shape[-1], self.shape, self.engine,
                                  kernels.shape[0])
        self.tile = self.size - 2 * self.radius
        self.num_basis = kernels.shape[0]
        plane = self.size * self.size * self.dtype.itemsize
        chunks = -(-self.num_basis // max(1, min(self.num_basis, _CHUNK_BYTES // plane)))
        self.grid = (-(-self.shape[0] // self.tile), -(-self.shape[1] // self.tile))
        if self.grid[0] < num_threads():  # threads share the basis (``_split``)
            chunks = max(chunks, min(num_threads(), self.num_basis))
        self.chunk = -(-self.num_basis // chunks)
        self.patient = self.shape[0] * self.shape[1] >= _PATIENT_PIXELS
        self.spectra = kernel_spectra(kernels, self.size, self.dtype)
        self.adjoint_spectra = kernel_spectra(kernels[:, ::-1, ::-1], self.size, self.dtype)
        h, w = self.shape
        self.rows = padding_indices(h, self.radius, boundary)
        self.cols = padding_indices(w, self.radius, boundary)
        if mixing is None:
            ones = np.ones((1, 1, 1, self.tile, self.tile), dtype=self.dtype)
            self.mix_tiles = np.broadcast_to(ones, self.grid + ones.shape[2:])
        else:
            self.mix_tiles = np.empty(self.grid + (self.num_basis, self.tile, self.tile),
                                      dtype=self.dtype)
            nb.tile_major(np.ascontiguousarray(mixing, dtype=self.dtype), self.tile,
                          self.mix_tiles)
        counts = {count for _, count in self._chunks()} | {1}
        workers = len(self._split() or range(min(num_threads(), self.grid[0])))
        for index in range(workers):
            self._workspace(index).fft.prepare(counts)

    def _chunks(self):
        for b0 in range(0, self.num_basis, self.chunk):
            yield b0, min(self.chunk, self.num_basis - b0)

    def _run(self, work, tile_rows):
        workers = min(num_threads(), len(tile_rows))
        if workers <= 1:
            work(0, tile_rows)
            return
        futures = [_pool().submit(work, k, tile_rows[k::workers]) for k in range(workers)]
        for future in futures:
            future.result()

    def _workspace(self, index) -> _Worker:
        return _worker(self.size, self.chunk, self.dtype, self.engine, self.patient, index)

    def _split(self):
        """Workers, each with all tile rows and a share of the basis chunks, when there are
        fewer tile rows than threads (a large filter on a small image: one tile); else None.
        """
        chunks = list(self._chunks())
        workers = min(num_threads(), len(chunks))
        if self.grid[0] >= num_threads() or workers <= 1:
            return None
        return [chunks[k::workers] for k in range(workers)]

    def _run_split(self, work, shares, shape):
        """Runs ``work(index, tile_rows, chunks, out)`` per share; returns the summed outs."""
        rows = list(range(self.grid[0]))
        outs = [np.zeros(shape, dtype=self.dtype) for _ in shares]
        futures = [_pool().submit(work, k, rows, share, outs[k])
                   for k, share in enumerate(shares)]
        for future in futures:
            future.result()
        return sum(outs[1:], outs[0])

    def forward(self, image: np.ndarray) -> np.ndarray:
        image = np.ascontiguousarray(image, dtype=self.dtype)
        offset = 2 * self.radius

        def work(index, tile_rows, chunks, out):
            ws = self._workspace(index)
            fft, acc = ws.fft, ws.accumulator(self.tile)
            for ty in tile_rows:
                for tx in range(self.grid[1]):
                    i0, j0 = ty * self.tile, tx * self.tile
                    block = self.mix_tiles[ty, tx]
                    nb.load_padded_window(image, self.rows, self.cols, i0, j0, fft.real[0])
                    held = fft.forward_held()
                    for n, (b0, count) in enumerate(chunks):
                        nb.spectral_products(held, self.spectra, b0, count, fft.spectrum)
                        blurred = fft.inverse(count)
                        nb.mix_accumulate(blurred, block, b0, count, offset, acc, n == 0)
                    nb.store_tile(acc, out, i0, j0)

        shares = self._split()
        if shares is not None:
            return self._run_split(work, shares, self.shape)
        out = np.empty(self.shape, dtype=self.dtype)
        chunks = list(self._chunks())
        self._run(lambda index, rows: work(index, rows, chunks, out),
                  list(range(self.grid[0])))
        return out

    def adjoint(self, residual: np.ndarray) -> np.ndarray:
        h, w = self.shape
        r2 = 2 * self.radius
        residual = np.ascontiguousarray(residual, dtype=self.dtype)

        def work(index, tile_rows, chunks, padded):
            fft = self._workspace(index).fft
            for ty in tile_rows:
                for tx in range(self.grid[1]):
                    i0, j0 = ty * self.tile, tx * self.tile
                    block = self.mix_tiles[ty, tx]
                    for n, (b0, count) in enumerate(chunks):
                        nb.load_masked_tiles(residual, block, i0, j0, b0, count, fft.real)
                        spectra = fft.forward(count)
                        nb.accumulate_products(spectra, self.adjoint_spectra, b0, count,
                                               fft.held, n == 0)
                    fft.spectrum[0] = fft.held
                    nb.add_window(fft.inverse(1)[0], padded, i0, j0)

        shares = self._split()
        if shares is not None:
            padded = self._run_split(work, shares, (h + r2, w + r2))
            return pad_adjoint(padded, self.shape, self.radius, self.boundary)
        padded = np.zeros((h + r2, w + r2), dtype=self.dtype)
        chunks = list(self._chunks())

        def rows_work(index, rows):
            work(index, rows, chunks, padded)

        rows = list(range(self.grid[0]))
        if self.tile >= r2:
            self._run(rows_work, rows[0::2])  # windows of rows two apart never overlap
            self._run(rows_work, rows[1::2])
        else:
            rows_work(0, rows)
        return pad_adjoint(padded, self.shape, self.radius, self.boundary)
