"""numba tile kernels of the DFT basis operator (see ``_basis_fft``).

Mixing maps come tile-major, (n, T, T) per tile for the n basis kernels active there
(their indices in ``basis``), so that every inner loop is contiguous.
"""

from numba import njit


@njit(cache=True, nogil=True)
def load_padded_window(image, rows, cols, i0, j0, window):
    """window[n1, n2] = padded image at (i0 + n1, j0 + n2), zero outside the padded domain."""
    size = window.shape[0]
    for n1 in range(size):
        p = i0 + n1
        i = rows[p] if p < rows.shape[0] else -1
        for n2 in range(size):
            q = j0 + n2
            j = cols[q] if q < cols.shape[0] else -1
            window[n1, n2] = image[i, j] if (i >= 0 and j >= 0) else 0.0


@njit(cache=True, nogil=True, fastmath=True)
def spectral_products(held, kernel_spectra, basis, c0, count, spectra):
    """spectra[c] = kernel_spectra[basis[c0 + c]] * held for c < count."""
    for c in range(count):
        b = basis[c0 + c]
        for k1 in range(held.shape[0]):
            for k2 in range(held.shape[1]):
                spectra[c, k1, k2] = kernel_spectra[b, k1, k2] * held[k1, k2]


@njit(cache=True, nogil=True, fastmath=True)
def mix_accumulate(blurred, mix_block, b0, count, offset, acc, first):
    """acc (+)= sum_c mix_block[b0 + c] * blurred[c, offset:offset + T1, offset:offset + T2]
    for an acc of T1 x T2."""
    for c in range(count):
        for t1 in range(acc.shape[0]):
            for t2 in range(acc.shape[1]):
                term = mix_block[b0 + c, t1, t2] * blurred[c, offset + t1, offset + t2]
                if first and c == 0:
                    acc[t1, t2] = term
                else:
                    acc[t1, t2] += term


@njit(cache=True, nogil=True)
def store_tile(acc, out, i0, j0):
    """out[i0:i0 + T, j0:j0 + T] = acc, clipped to out."""
    h, w = out.shape
    for t1 in range(min(acc.shape[0], h - i0)):
        for t2 in range(min(acc.shape[1], w - j0)):
            out[i0 + t1, j0 + t2] = acc[t1, t2]


@njit(cache=True, nogil=True, fastmath=True)
def load_masked_tiles(residual, mix_block, i0, j0, b0, count, windows):
    """windows[c] = mix_block[b0 + c] * residual tile at (i0, j0), zero-padded to N x N
    (the block is the tile's maps, clipped to the image)."""
    n1, n2 = mix_block.shape[1], mix_block.shape[2]
    size1, size2 = windows.shape[1], windows.shape[2]
    for c in range(count):
        for t1 in range(n1):
            row = windows[c, t1]
            mrow = mix_block[b0 + c, t1]
            rrow = residual[i0 + t1]
            for t2 in range(n2):
                row[t2] = mrow[t2] * rrow[j0 + t2]
            for t2 in range(n2, size2):
                row[t2] = 0.0
        for t1 in range(n1, size1):
            for t2 in range(size2):
                windows[c, t1, t2] = 0.0


@njit(cache=True, nogil=True, fastmath=True)
def accumulate_products(spectra, kernel_spectra, basis, c0, count, held, first):
    """held (+)= sum_c kernel_spectra[basis[c0 + c]] * spectra[c]."""
    for c in range(count):
        b = basis[c0 + c]
        for k1 in range(held.shape[0]):
            for k2 in range(held.shape[1]):
                term = kernel_spectra[b, k1, k2] * spectra[c, k1, k2]
                if first and c == 0:
                    held[k1, k2] = term
                else:
                    held[k1, k2] += term


@njit(cache=True, nogil=True)
def add_window(window, out, i0, j0, rows, cols):
    """out[i0:i0 + rows, j0:j0 + cols] += window[:rows, :cols], clipped to out."""
    h, w = out.shape
    for n1 in range(min(rows, h - i0)):
        for n2 in range(min(cols, w - j0)):
            out[i0 + n1, j0 + n2] += window[n1, n2]
