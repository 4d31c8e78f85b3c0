"""Spatially varying filtering as a symmetric sum of windowed filters.

The IRC step operator of a spatially varying ``LinearMotionField`` in
``admm_irc(step="optimal")``:

    S v = sum_t  r_t . (p_t * (r_t . v)),        r_t = sqrt(w_t),

with w_t the bilinear hat windows of a grid of nodes (sum_t w_t = 1 on the image) and p_t the
inverse filter of node t: the 001 eq. 17 blend of the LUT labels bracketing the node's motion.
This is the efficient-filter-flow model (a partition of unity of local filters) in its
symmetric form: each term is symmetric and positive semi-definite when p_t's frequency response
is non-negative, so S is, for any field, and no symmetrising second pass is needed. The
convolutions are linear (zero outside the image): S only has to approximate the inverse, the
fixed point of IRC stays the exact solution.

Cost: one forward and one inverse FFT of N = 2 s + w / 2 (rounded up to a fast size) per node
on a grid of spacing s with w-wide filters; at s = 32 and w = 71 that is 100^2 per 32^2 pixels,
a tenth of the FFT work of the per-pixel blend of ``_IRCUpdate`` (32 basis filters on 200^2
tiles, twice). The node spectra are blended from the labels' once and kept (40 kB a node at
N = 100); beyond 128 MB of them (about 13 megapixels) they are blended at each use instead.

It runs in the calling thread: alternated with the numba-parallel gather of the normal
operator, tile threads cost more than they gained on 2 cores (one S and one normal operator at
256^2: 26-30 ms in the calling thread, 34-36 ms with the thread pool; at 1024^2 S is a tenth
of the normal operator's time either way).
"""

from __future__ import annotations

import numpy as np

from .._backend import fast_fft_size, fft_engine, kernel_spectra
from ..operators._basis_fft import _worker
from . import _windowed_numba as nb

__all__ = ["WindowedFilters", "node_centres"]

_BATCH = 8  # node windows per FFT call
_KEPT_BYTES = 128 << 20  # node spectra up to this size are blended once and kept


def node_centres(n: int, spacing: float) -> np.ndarray:
    """Node positions along an axis of n pixels: both ends and a spacing of at most
    ``spacing`` between neighbours (a single node for n = 1)."""
    count = 1 if n == 1 else max(2, int(np.ceil((n - 1) / spacing)) + 1)
    return np.linspace(0.0, n - 1, count)


def _hat_roots(n: int, centres: np.ndarray):
    """(sqrt of the hat windows (T, n) float32, spans (T, 2) of their non-zero pixels)."""
    if len(centres) == 1:
        return np.ones((1, n), np.float32), np.array([[0, n]])
    step = centres[1] - centres[0]
    hats = np.maximum(0.0, 1.0 - np.abs(np.arange(n)[None] - centres[:, None]) / step)
    spans = np.array([[np.flatnonzero(h)[0], np.flatnonzero(h)[-1] + 1] for h in hats])
    return np.sqrt(hats).astype(np.float32), spans


class WindowedFilters:
    """S v = sum_t r_t (p_t * (r_t v)) on (H, W) images, in float32 (see module doc).

    Parameters
    ----------
    label_filters : ndarray (L, w, w)
        Centred filters (w odd) the node filters are blended from.
    node_labels, node_weights : ndarray (Ty, Tx, n)
        Node (a, b)'s filter is sum_k node_weights[a, b, k] label_filters[node_labels[a, b, k]].
    row_centres, col_centres : ndarray (Ty,), (Tx,)
        Node positions (``node_centres``).
    shape : (H, W)
    """

    def __init__(self, label_filters, node_labels, node_weights, row_centres, col_centres,
                 shape):
        self.shape = tuple(shape)
        self.radius = label_filters.shape[-1] // 2
        self.row_roots, self.row_spans = _hat_roots(self.shape[0], row_centres)
        self.col_roots, self.col_spans = _hat_roots(self.shape[1], col_centres)
        widest = max(np.ptp(self.row_spans, axis=1).max(), np.ptp(self.col_spans, axis=1).max())
        # the centred part of a circular convolution of N >= span + w / 2 is wrap-free
        self.size = fast_fft_size(max(int(widest) + self.radius, 2 * self.radius + 1))
        self.engine = fft_engine()
        self.labels = np.ascontiguousarray(node_labels, dtype=np.int64)
        self.weights = np.ascontiguousarray(node_weights, dtype=np.float32)
        self.spectra = kernel_spectra(np.asarray(label_filters, np.float64), self.size,
                                      np.float32)
        self.node_spectra = None
        if self.labels.shape[0] * self.labels.shape[1] * self.spectra[0].nbytes <= _KEPT_BYTES:
            self.node_spectra = sum(self.weights[..., k, None, None]
                                    * self.spectra[self.labels[..., k]]
                                    for k in range(self.labels.shape[-1]))
        self.batch = min(_BATCH, len(col_centres))
        self._workspace().fft.prepare(range(1, self.batch + 1))

    def _workspace(self):
        return _worker(self.size, self.batch, np.float32, self.engine, False)

    def __call__(self, v: np.ndarray) -> np.ndarray:
        v = np.ascontiguousarray(v, dtype=np.float32)
        out = np.zeros(self.shape, np.float32)
        fft = self._workspace().fft
        columns = len(self.col_spans)
        for a, (i0, i1) in enumerate(self.row_spans):
            rows = self.row_roots[a]
            for b0 in range(0, columns, self.batch):
                nodes = range(b0, min(b0 + self.batch, columns))
                for c, b in enumerate(nodes):
                    nb.load_window(v, rows, self.col_roots[b], i0, i1, *self.col_spans[b],
                                   fft.real[c])
                spectra = fft.forward(len(nodes))
                for c, b in enumerate(nodes):
                    self._multiply(spectra[c], a, b)
                filtered = fft.inverse(len(nodes))
                for c, b in enumerate(nodes):
                    nb.add_window(filtered[c], self.radius, rows, self.col_roots[b], i0, i1,
                                  *self.col_spans[b], out)
        return out

    def _multiply(self, spectrum, a, b):
        """spectrum *= node (a, b)'s filter spectrum (kept, or blended from the labels')."""
        if self.node_spectra is not None:
            nb.multiply(spectrum, self.node_spectra[a, b])
        else:
            nb.blend_multiply(spectrum, self.spectra, self.labels[a, b], self.weights[a, b])
