"""Slow, obviously correct float64 references for the operators (tests only).

They share no code with nublur's operators: padding is numpy's np.pad, the blur is an explicit
sum over kernel taps, and adjoints are transposes of explicitly built matrices.
"""

import numpy as np

NP_MODE = {"reflect": "symmetric", "mirror": "reflect", "replicate": "edge",
           "periodic": "wrap", "constant": "constant"}
BOUNDARIES = tuple(NP_MODE)


def kernel_stack(field, shape):
    """(H, W, K, K) float64 kernels, one per output pixel, via kernel_at."""
    h, w = shape
    return np.array([[field.kernel_at(i, j) for j in range(w)] for i in range(h)],
                    dtype=np.float64)


def ref_blur(image, kernels, boundary):
    """v[i, j] = sum_{a, b} k_ij[a, b] * u_ext[i + r - (a - r), j + r - (b - r)]."""
    image = np.asarray(image, dtype=np.float64)
    h, w = image.shape
    k = kernels.shape[-1]
    r = k // 2
    padded = np.pad(image, r, mode=NP_MODE[boundary])
    out = np.zeros((h, w))
    for a in range(k):
        for b in range(k):
            out += kernels[:, :, a, b] * padded[2 * r - a:2 * r - a + h, 2 * r - b:2 * r - b + w]
    return out


def ref_matrix(kernels, boundary):
    """The blur as an explicit (HW x HW) matrix, column by column."""
    h, w = kernels.shape[:2]
    mat = np.zeros((h * w, h * w))
    for n in range(h * w):
        e = np.zeros(h * w)
        e[n] = 1.0
        mat[:, n] = ref_blur(e.reshape(h, w), kernels, boundary).ravel()
    return mat


def ref_adjoint(residual, kernels, boundary):
    return (ref_matrix(kernels, boundary).T @ np.asarray(residual, np.float64).ravel()).reshape(
        residual.shape)
