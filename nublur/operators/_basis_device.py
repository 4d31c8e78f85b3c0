"""DFT basis blur (000 eq. 10) written against an array module, for the GPU (cupy.fft).

The device twin of ``_basis_fft``: no tiles (a GPU wants one big batched transform), one
real FFT of the whole padded image, the products with the B cached kernel spectra, B inverse
FFTs and the per-pixel mix ``sum_b m_b * (k_b conv u)`` (forward); the adjoint correlates
``m_b * r`` with the kernels, summed in the Fourier domain, then folds the padding back.
Padding and its adjoint go through the index maps of ``boundaries.padding_indices``.

Every step is an array-module call, so with ``xp = numpy`` the same code runs on the CPU,
which is how the tests check it without a GPU. ``batch`` bounds how many basis spectra are
in flight at once (memory: batch x (H + K - 1) x (W + K - 1) complex values).
"""

from __future__ import annotations

import numpy as np

from .boundaries import padding_indices


class DeviceBasisPlan:
    """H and H^T for one basis field, image shape, dtype and boundary, on ``xp`` arrays."""

    def __init__(self, xp, kernels, mixing, shape, dtype, boundary: str, batch: int = 8):
        self.xp = xp
        self.dtype = np.dtype(dtype)
        self.shape = tuple(shape)
        self.boundary = boundary
        self.batch = int(batch)
        b, k, _ = kernels.shape
        self.r = k // 2
        h, w = self.shape
        self.padded_shape = (h + 2 * self.r, w + 2 * self.r)
        rows = padding_indices(h, self.r, boundary)
        cols = padding_indices(w, self.r, boundary)
        self._rows = xp.asarray(np.maximum(rows, 0))
        self._cols = xp.asarray(np.maximum(cols, 0))
        self._zero = xp.asarray((rows[:, None] < 0) | (cols[None, :] < 0))
        flat = np.where((rows[:, None] >= 0) & (cols[None, :] >= 0),
                        np.maximum(rows, 0)[:, None] * w + np.maximum(cols, 0)[None, :], -1)
        self._fold = xp.asarray(flat.ravel())
        self._valid = xp.asarray(flat.ravel() >= 0)
        if mixing is None:  # a uniform field: one kernel, weight 1 everywhere
            mixing = np.ones((1,) + self.shape)
        self.mixing = xp.asarray(mixing, dtype=self.dtype)
        padded_kernels = np.zeros((b,) + self.padded_shape)
        padded_kernels[:, :k, :k] = kernels
        # a kernel centred at (r, r) acts on the padded image as a shift by r
        self.spectra = xp.fft.rfft2(xp.asarray(padded_kernels), axes=(-2, -1)).astype(
            np.result_type(self.dtype, np.complex64))

    def pad(self, image):
        out = image[self._rows][:, self._cols]
        out[self._zero] = 0
        return out

    def pad_adjoint(self, padded):
        xp = self.xp
        out = xp.zeros(self.shape[0] * self.shape[1], dtype=padded.dtype)
        xp.add.at(out, self._fold[self._valid], padded.ravel()[self._valid])
        return out.reshape(self.shape)

    def forward(self, image):
        xp = self.xp
        h, w = self.shape
        k2 = 2 * self.r
        spectrum = xp.fft.rfft2(self.pad(image))
        out = xp.zeros(self.shape, dtype=self.dtype)
        for start in range(0, len(self.spectra), self.batch):
            stop = start + self.batch
            blurred = xp.fft.irfft2(self.spectra[start:stop] * spectrum, s=self.padded_shape)
            # full convolution on the padded grid: the valid part starts at 2r
            out += (self.mixing[start:stop] * blurred[:, k2:k2 + h, k2:k2 + w]).sum(axis=0)
        return out.astype(self.dtype, copy=False)

    def adjoint(self, residual):
        xp = self.xp
        h, w = self.shape
        k2 = 2 * self.r
        total = None
        for start in range(0, len(self.spectra), self.batch):
            stop = start + self.batch
            weighted = xp.zeros((min(stop, len(self.spectra)) - start,) + self.padded_shape,
                                dtype=self.dtype)
            weighted[:, k2:k2 + h, k2:k2 + w] = self.mixing[start:stop] * residual
            part = (xp.conj(self.spectra[start:stop]) * xp.fft.rfft2(weighted)).sum(axis=0)
            total = part if total is None else total + part
        return self.pad_adjoint(xp.fft.irfft2(total, s=self.padded_shape)).astype(
            self.dtype, copy=False)
