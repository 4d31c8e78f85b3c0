"""numba loops of the Boracchi-Foi trajectory model and of bilinear PSF splatting."""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def integrate_trajectory(v0, num_samples, max_length, anxiety, centripetal, gaussian_term,
                         big_shake_freq, uniforms, shake_uniforms, normals):
    """Random walk of the camera's image-plane position (Boracchi & Foi 2012, section 3).

    The velocity gets a centripetal pull, a Gaussian jitter and rare abrupt reversals ("big
    shakes"), and is renormalised to a constant speed so the path length is ``max_length``.
    """
    step = max_length / (num_samples - 1)
    x = np.zeros(num_samples, dtype=np.complex128)
    v = v0 * (anxiety if anxiety > 0 else step)
    for t in range(num_samples - 1):
        if uniforms[t] < big_shake_freq * anxiety:
            nxt = 2.0 * v * np.exp(1j * (np.pi + (shake_uniforms[t] - 0.5)))
        else:
            nxt = 0.0 + 0.0j
        jitter = gaussian_term * (normals[t, 0] + 1j * normals[t, 1])
        dv = nxt + anxiety * (jitter - centripetal * x[t]) * step
        v = v + dv
        speed = abs(v)
        if speed > 0:
            v = v / speed * step
        x[t + 1] = x[t] + v
    return x


@njit(cache=True, nogil=True)
def splat_bilinear(rows, cols, size):
    """Accumulate unit samples at fractional (row, col) positions with bilinear weights."""
    psf = np.zeros((size, size))
    for n in range(rows.shape[0]):
        r0 = int(np.floor(rows[n]))
        c0 = int(np.floor(cols[n]))
        fr = rows[n] - r0
        fc = cols[n] - c0
        for dr in range(2):
            for dc in range(2):
                rr = r0 + dr
                cc = c0 + dc
                w = (fr if dr else 1.0 - fr) * (fc if dc else 1.0 - fc)
                if 0 <= rr < size and 0 <= cc < size:
                    psf[rr, cc] += w
    return psf
