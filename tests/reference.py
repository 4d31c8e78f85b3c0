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


def ref_tv_divergence(x, eps=1e-3):
    """div(grad x / |grad x|), forward differences (0 at the last row/col), explicit loops."""
    h, w = x.shape
    gy = np.zeros((h, w))
    gx = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            dy = x[i + 1, j] - x[i, j] if i + 1 < h else 0.0
            dx = x[i, j + 1] - x[i, j] if j + 1 < w else 0.0
            n = np.sqrt(dy * dy + dx * dx + eps * eps)
            gy[i, j], gx[i, j] = dy / n, dx / n
    div = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            div[i, j] = gy[i, j] - (gy[i - 1, j] if i > 0 else 0.0) \
                + gx[i, j] - (gx[i, j - 1] if j > 0 else 0.0)
    return div


def ref_unsaturated_weight(pixel, threshold=0.99):
    """[x < t], eroded by a 3x3 box (outside counts as reliable), then a 3x3 mean (edge)."""
    h, w = pixel.shape
    ok = pixel < threshold
    eroded = np.ones((h, w))
    for i in range(h):
        for j in range(w):
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    a, b = i + di, j + dj
                    if 0 <= a < h and 0 <= b < w and not ok[a, b]:
                        eroded[i, j] = 0.0
    out = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            vals = [eroded[min(max(i + di, 0), h - 1), min(max(j + dj, 0), w - 1)]
                    for di in (-1, 0, 1) for dj in (-1, 0, 1)]
            out[i, j] = np.mean(vals)
    return out


def ref_richardson_lucy(y_pix, mat, num_iter, *, gamma=1.0, whyte=False, tv_weight=0.0, a=50.0):
    """Matrix-based float64 RL of nublur's documented algorithm (start from the image)."""
    shape = y_pix.shape
    y = np.maximum(y_pix, 0).ravel() ** gamma
    x = y.copy()
    norm = mat.T @ np.ones(mat.shape[0])
    for _ in range(num_iter):
        b = mat @ x
        if whyte:
            r = b - np.logaddexp(0, a * (b - 1)) / a
            dr = 1 / (1 + np.exp(a * (b - 1)))
            wgt = ref_unsaturated_weight((x ** (1 / gamma)).reshape(shape)).ravel()
            rho_u = y * dr * wgt / (r + 1e-6) + 1 - dr * wgt
            rho_s = y * dr / (r + 1e-6) + 1 - dr
            new = wgt * x * (mat.T @ rho_u) / norm + (1 - wgt) * x * (mat.T @ rho_s) / norm
        else:
            new = x * (mat.T @ (y / (b + 1e-12))) / norm
        if tv_weight:
            new = new / np.maximum(1 - tv_weight * ref_tv_divergence(x.reshape(shape)).ravel(),
                                   1e-6)
        x = new
    return np.clip(x ** (1 / gamma), 0, 1).reshape(shape)


def ref_fspecial_motion(length, theta):
    """MATLAB ``fspecial('motion', length, theta)`` transcribed with whole-array numpy."""
    eps = np.finfo(float).eps
    length = max(1.0, float(length))
    half = (length - 1) / 2
    phi = np.mod(theta, 180.0) / 180 * np.pi
    cosphi, sinphi = np.cos(phi), np.sin(phi)
    xsign = np.sign(cosphi)
    sx = np.fix(half * cosphi + xsign - length * eps)
    sy = np.fix(half * sinphi + 1 - length * eps)
    x, y = np.meshgrid(xsign * np.arange(abs(sx) + 1), np.arange(sy + 1))
    dist = y * cosphi - x * sinphi
    rad = np.sqrt(x**2 + y**2)
    last = (rad >= half) & (np.abs(dist) <= 1)
    x2last = half - np.abs((x[last] + dist[last] * sinphi) / cosphi)
    dist[last] = np.sqrt(dist[last] ** 2 + x2last**2)
    dist = 1 + eps - np.abs(dist)
    dist[dist < 0] = 0
    ny, nx = dist.shape
    h = np.zeros((2 * ny - 1, 2 * nx - 1))
    h[:ny, :nx] = np.rot90(dist, 2)
    h[ny - 1:, nx - 1:] = dist
    h /= h.sum() + eps * length * length
    return np.flipud(h) if cosphi > 0 else h
