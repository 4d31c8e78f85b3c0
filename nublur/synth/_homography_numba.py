"""numba kernels of homography blur: bilinear warp averages and their exact PSFs."""

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True)
def _source(hinv, row, col):
    x = hinv[0, 0] * col + hinv[0, 1] * row + hinv[0, 2]
    y = hinv[1, 0] * col + hinv[1, 1] * row + hinv[1, 2]
    z = hinv[2, 0] * col + hinv[2, 1] * row + hinv[2, 2]
    return y / z, x / z


@njit(cache=True, parallel=True)
def kernels_at(inverses, rows, cols, size, h, w, out):
    """out[n] = PSF at output pixel (rows[n], cols[n]) of the average of bilinear warps.

    Samples are taken on the replicate-extended image: a tap's source pixel is clamped to the
    image, so ``blur(u, field, boundary="replicate")`` with these PSFs equals the warp average.
    """
    r = size // 2
    count = inverses.shape[0]
    for n in prange(rows.shape[0]):
        for a in range(size):
            for b in range(size):
                out[n, a, b] = 0.0
        for t in range(count):
            sy, sx = _source(inverses[t], rows[n], cols[n])
            y0, x0 = int(np.floor(sy)), int(np.floor(sx))
            fy, fx = sy - y0, sx - x0
            for dy in range(2):
                for dx in range(2):
                    wgt = (fy if dy else 1.0 - fy) * (fx if dx else 1.0 - fx) / count
                    if wgt == 0.0:
                        continue
                    # the PSF tap q = p - c, c the source pixel (before clamping)
                    a = r + rows[n] - (y0 + dy)
                    b = r + cols[n] - (x0 + dx)
                    out[n, a, b] += wgt


@njit(cache=True, parallel=True)
def warp_average(image, inverses, out):
    """out = mean_t image(H_t^-1 p), bilinear, replicate extension, per channel (H, W, C)."""
    h, w, nc = image.shape
    count = inverses.shape[0]
    for i in prange(h):
        for j in range(w):
            for c in range(nc):
                out[i, j, c] = 0.0
            for t in range(count):
                sy, sx = _source(inverses[t], i, j)
                y0, x0 = int(np.floor(sy)), int(np.floor(sx))
                fy, fx = sy - y0, sx - x0
                for dy in range(2):
                    for dx in range(2):
                        wgt = (fy if dy else 1.0 - fy) * (fx if dx else 1.0 - fx) / count
                        yy = min(max(y0 + dy, 0), h - 1)
                        xx = min(max(x0 + dx, 0), w - 1)
                        for c in range(nc):
                            out[i, j, c] += wgt * image[yy, xx, c]
