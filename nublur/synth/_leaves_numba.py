"""numba painter of the dead-leaves model (front to back, stop when covered)."""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def paint_discs(h, w, cy, cx, radius, colours, out):
    """Paint discs in order onto uncovered pixels only; returns how many were used."""
    covered = np.zeros((h, w), dtype=np.bool_)
    left = h * w
    for n in range(cy.shape[0]):
        r = radius[n]
        y0, y1 = max(0, int(cy[n] - r)), min(h, int(cy[n] + r) + 1)
        x0, x1 = max(0, int(cx[n] - r)), min(w, int(cx[n] + r) + 1)
        r2 = r * r
        for i in range(y0, y1):
            for j in range(x0, x1):
                if not covered[i, j] and (i - cy[n]) ** 2 + (j - cx[n]) ** 2 <= r2:
                    covered[i, j] = True
                    for c in range(out.shape[2]):
                        out[i, j, c] = colours[n, c]
                    left -= 1
        if left == 0:
            return n + 1
    return cy.shape[0]
