"""numba kernels of the windowed IRC step operator (see ``_windowed_step``)."""

from numba import njit


@njit(cache=True, nogil=True, fastmath=True)
def load_window(image, row_weights, col_weights, i0, i1, j0, j1, window):
    """window = 0, then window[:i1 - i0, :j1 - j0] = (w_row w_col image)[i0:i1, j0:j1]."""
    window[:, :] = 0.0
    for i in range(i0, i1):
        a = row_weights[i]
        for j in range(j0, j1):
            window[i - i0, j - j0] = a * col_weights[j] * image[i, j]


@njit(cache=True, nogil=True, fastmath=True)
def blend_multiply(spectrum, label_spectra, labels, weights):
    """spectrum *= sum_k weights[k] label_spectra[labels[k]], in place."""
    for k1 in range(spectrum.shape[0]):
        for k2 in range(spectrum.shape[1]):
            blended = weights[0] * label_spectra[labels[0], k1, k2]
            for k in range(1, labels.shape[0]):
                blended += weights[k] * label_spectra[labels[k], k1, k2]
            spectrum[k1, k2] *= blended


@njit(cache=True, nogil=True, fastmath=True)
def multiply(spectrum, node_spectrum):
    """spectrum *= node_spectrum, in place."""
    for k1 in range(spectrum.shape[0]):
        for k2 in range(spectrum.shape[1]):
            spectrum[k1, k2] *= node_spectrum[k1, k2]


@njit(cache=True, nogil=True, fastmath=True)
def add_window(filtered, offset, row_weights, col_weights, i0, i1, j0, j1, out):
    """out[i0:i1, j0:j1] += w_row w_col filtered[offset:, offset:] (the centred output)."""
    for i in range(i0, i1):
        a = row_weights[i]
        for j in range(j0, j1):
            out[i, j] += a * col_weights[j] * filtered[offset + i - i0, offset + j - j0]
