"""numba kernels of the separable grid operator (see ``_grid_fft``).

Spectra are laid out (N // 2 + 1, N): real transform along rows (axis 0), complex along
columns (axis 1).
"""

from numba import njit


@njit(cache=True, nogil=True, fastmath=True)
def pair_products(held, spectra, nodes, out):
    """out[k] = spectra[nodes[k]] * held for every (row node, column node) pair k."""
    for k in range(nodes.shape[0]):
        g = nodes[k]
        for i in range(held.shape[0]):
            for j in range(held.shape[1]):
                out[k, i, j] = spectra[g, i, j] * held[i, j]


@njit(cache=True, nogil=True, fastmath=True)
def mix_columns(columns, col_weights, offset, rows_out):
    """rows_out[a, :, c] = sum_b col_weights[b, c] * columns[a * nb + b, :, offset + c]
    for the tile's columns c (nb = len(col_weights)); the rest of rows_out is zero."""
    nb, tw = col_weights.shape
    na = rows_out.shape[0]
    for a in range(na):
        for i in range(columns.shape[1]):
            for c in range(tw):
                s = col_weights[0, c] * columns[a * nb, i, offset + c]
                for b in range(1, nb):
                    s += col_weights[b, c] * columns[a * nb + b, i, offset + c]
                rows_out[a, i, c] = s
            for c in range(tw, rows_out.shape[2]):
                rows_out[a, i, c] = 0.0


@njit(cache=True, nogil=True, fastmath=True)
def mix_rows(blurred, row_weights, offset, out, i0, j0, tw):
    """out[i0 + r, j0 + c] = sum_a row_weights[a, r] * blurred[a, offset + r, c]."""
    na, th = row_weights.shape
    for r in range(th):
        for c in range(tw):
            s = row_weights[0, r] * blurred[0, offset + r, c]
            for a in range(1, na):
                s += row_weights[a, r] * blurred[a, offset + r, c]
            out[i0 + r, j0 + c] = s


@njit(cache=True, nogil=True, fastmath=True)
def load_weighted_rows(residual, row_weights, i0, j0, tw, windows):
    """windows[a, r, c] = row_weights[a, r] * residual[i0 + r, j0 + c] on the tile, zero on
    the rest of the (N, T) window."""
    na, th = row_weights.shape
    for a in range(na):
        for r in range(windows.shape[1]):
            for c in range(windows.shape[2]):
                windows[a, r, c] = 0.0
        for r in range(th):
            w = row_weights[a, r]
            for c in range(tw):
                windows[a, r, c] = w * residual[i0 + r, j0 + c]


@njit(cache=True, nogil=True, fastmath=True)
def spread_columns(rows_spectra, col_weights, out):
    """out[a * nb + b, :, c] = col_weights[b, c] * rows_spectra[a, :, c] for the tile's
    columns, zero beyond (out is (count, N // 2 + 1, N))."""
    nb, tw = col_weights.shape
    for a in range(out.shape[0] // nb):
        for b in range(nb):
            k = a * nb + b
            for i in range(out.shape[1]):
                for c in range(tw):
                    out[k, i, c] = col_weights[b, c] * rows_spectra[a, i, c]
                for c in range(tw, out.shape[2]):
                    out[k, i, c] = 0.0


@njit(cache=True, nogil=True, fastmath=True)
def sum_products(spectra, adjoint_spectra, nodes, held):
    """held = sum_k adjoint_spectra[nodes[k]] * spectra[k]."""
    for i in range(held.shape[0]):
        for j in range(held.shape[1]):
            held[i, j] = 0.0
    for k in range(nodes.shape[0]):
        g = nodes[k]
        for i in range(held.shape[0]):
            for j in range(held.shape[1]):
                held[i, j] += adjoint_spectra[g, i, j] * spectra[k, i, j]
