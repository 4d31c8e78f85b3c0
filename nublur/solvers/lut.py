"""The table of 511 linear motion kernels and their inverse filters (001 section 2.2).

Lengths 1, 3, ..., 35 px and angles 0, 6, ..., 174 degrees (length 1 counted once): label 0 is
the delta, and for m = (l - 1) / 2 in 1..17, q = theta / 6 in 0..29, label = 17 q + m
(CPCR's numbering with 17 lengths instead of 12).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from .._backend import cache_dir
from .._validation import check_positive_float, check_positive_int
from ..io import atomic_write
from ..kernels.linear import linear_kernel
from .inverse_filters import (InverseFilters, preconditioner_filters, solve_inverse_filters,
                              summarize)

__all__ = ["LinearKernelLUT"]

LENGTHS = np.arange(3, 36, 2)
ANGLES = np.arange(0, 180, 6)
KERNEL_SIZE = 35
_CHUNK = 64


def label_of(length_index: int, angle_index: int) -> int:
    """Label of (LENGTHS[length_index], ANGLES[angle_index]); length_index -1 is the delta."""
    return 0 if length_index < 0 else len(LENGTHS) * angle_index + length_index + 1


class LinearKernelLUT:
    """Linear kernels (fspecial) and inverse filters for all 511 labels.

    Parameters
    ----------
    support : int
        Odd inverse-filter width (71 covers 35 px motions; 31 reproduces CPCR's table).
    rho : float
        Tikhonov weight of the filters (001 eq. 13).
    companions : array_like (m, k, k), optional
        Extra kernels solved jointly with every linear kernel (ADMM's scaled prior filters):
        each label then has m + 1 filters, d_0 for the blur and d_1 .. d_m for these.
    cache : bool
        Keep the table in the user cache directory (``NUBLUR_CACHE_DIR``), keyed by the
        parameters, and reuse it.
    lazy : bool
        Solve a label's filters only when ``filters_for`` first asks for it (solvers use
        this); otherwise the whole table is built now.
    form : "inverse" or "factored"
        "inverse": the eq. 10-14 filters d_0 .. d_m of each label. "factored": the single
        shared filter p of ``preconditioner_filter`` (d_i = p * k_i^T, what ``admm_irc``
        applies), stored as (511, 1, w, w), with the extremes of its response e(w) in
        ``response_range``.
    """

    def __init__(self, support: int = 71, rho: float = 1e-2, companions=None, *,
                 cache: bool = True, lazy: bool = False, form: str = "inverse"):
        if form not in ("inverse", "factored"):
            raise ValueError(f"form must be 'inverse' or 'factored', got {form!r}")
        self.form = form
        self.support = check_positive_int(support, "support", minimum=1)
        if self.support % 2 == 0:
            raise ValueError(f"support must be odd, got {support}")
        self.rho = check_positive_float(rho, "rho")
        comp = np.zeros((0, 1, 1)) if companions is None else np.asarray(companions, float)
        if comp.ndim != 3 or comp.shape[1] != comp.shape[2] or comp.shape[1] % 2 == 0 \
                or comp.shape[1] > KERNEL_SIZE:
            raise ValueError(f"companions must be (m, k, k) with odd k <= {KERNEL_SIZE}, got "
                             f"{comp.shape}")
        self.companions = comp
        self.kernels = np.stack([self.kernel_of(label) for label in range(self.size)])
        self._cache = cache
        per_label = 1 if form == "factored" else 1 + len(comp)
        self._filters = np.zeros((self.size, per_label, self.support, self.support))
        self._range = np.zeros((self.size, 2))
        self._done = np.zeros(self.size, dtype=bool)
        self._load()
        if not lazy:
            self.filters_for(np.arange(self.size))

    @property
    def filters(self) -> np.ndarray:
        """(511, m + 1, w, w) inverse filters of every label (solved now if missing)."""
        return self.filters_for(np.arange(self.size))

    size = 1 + len(LENGTHS) * len(ANGLES)

    @staticmethod
    def motion_of(label: int) -> tuple[float, float]:
        """(length, angle) of a label."""
        if label == 0:
            return 1.0, 0.0
        q, m = divmod(label - 1, len(LENGTHS))
        return float(LENGTHS[m]), float(ANGLES[q])

    def kernel_of(self, label: int) -> np.ndarray:
        return linear_kernel(*self.motion_of(label), size=KERNEL_SIZE)

    def kernel_set(self, label: int) -> np.ndarray:
        """(m + 1, 35, 35): the linear kernel and the companions, zero-padded."""
        out = np.zeros((1 + len(self.companions), KERNEL_SIZE, KERNEL_SIZE))
        out[0] = self.kernel_of(label)
        c, r = KERNEL_SIZE // 2, self.companions.shape[-1] // 2
        out[1:, c - r:c + r + 1, c - r:c + r + 1] = self.companions
        return out

    def _key(self) -> str:
        h = hashlib.sha256()
        form = "" if self.form == "inverse" else f"{self.form}|"
        h.update(f"lut-v1|{form}{self.support}|{self.rho!r}|".encode())
        h.update(np.ascontiguousarray(self.companions).tobytes())
        return h.hexdigest()[:16]

    def _path(self) -> str:
        return os.path.join(cache_dir(), f"lut_{self._key()}.npz")

    def _load(self) -> None:
        if not self._cache or not os.path.exists(self._path()):
            return
        try:
            with np.load(self._path()) as data:
                if data["filters"].shape == self._filters.shape:
                    self._filters[...] = data["filters"]
                    self._done[...] = data["done"]
                    self._range[...] = data["range"]
        except (OSError, ValueError, KeyError):
            pass

    def _save(self) -> None:
        def write(tmp):
            with open(tmp, "wb") as f:
                np.savez(f, filters=self._filters, done=self._done, range=self._range)

        try:
            os.makedirs(cache_dir(), exist_ok=True)
            atomic_write(Path(self._path()), write)
        except OSError:
            pass

    def filters_for(self, labels) -> np.ndarray:
        """Inverse filters (len(labels), m + 1, w, w), solving (batched CG) those missing."""
        labels = np.asarray(labels, dtype=int).ravel()
        missing = np.unique(labels[~self._done[labels]])
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start:start + _CHUNK]
            sets = np.stack([self.kernel_set(label) for label in chunk])
            if self.form == "factored":
                filters, responses = preconditioner_filters(sets, self.support, self.rho)
                self._filters[chunk, 0] = filters
                self._range[chunk] = np.stack([responses.min(axis=(1, 2)),
                                               responses.max(axis=(1, 2))], axis=1)
            else:
                self._filters[chunk] = solve_inverse_filters(sets, self.support, self.rho)
            self._done[chunk] = True
        if len(missing) and self._cache:
            self._save()
        return self._filters[labels]

    def response_range(self, labels) -> np.ndarray:
        """(len(labels), 2): min and max of e(w) of "factored" filters (solved if missing)."""
        if self.form != "factored":
            raise ValueError("response_range is defined for form='factored' tables")
        self.filters_for(labels)
        return self._range[np.asarray(labels, dtype=int).ravel()]

    def check(self, label: int) -> InverseFilters:
        """Eq. 10 residual and spectral check of one label's filters."""
        return summarize(self.kernel_set(label), self.filters_for([label])[0])

    def nearest(self, length, angle) -> np.ndarray:
        """Nearest labels (CPCR's rule: round((l - 1) / 2) and round(theta / 6), half to even)."""
        length = np.asarray(length, float)
        angle = np.mod(np.asarray(angle, float), 180.0)
        m = np.clip(np.round((length - 1) / 2), 0, len(LENGTHS)).astype(int)
        q = np.mod(np.round(angle / 6), len(ANGLES)).astype(int)
        return np.where(m == 0, 0, len(LENGTHS) * q + m)

    def blend(self, length, angle, temperature: float = 1.0):
        """4-neighbour softmax blending (001 eq. 17).

        The neighbours (l-, theta-), (l-, theta+), (l+, theta-), (l+, theta+) on the grid
        bracket (l, theta) (angles wrap at 180; below length 3 the lower neighbour is the
        delta). Weights are softmax(-d^2 / temperature) of the squared distances measured in
        grid steps (2 px in length, 6 degrees in angle), so they sum to 1.

        Returns
        -------
        labels : int ndarray (..., 4)
        weights : float ndarray (..., 4)
        """
        length = np.clip(np.asarray(length, float), 1.0, float(LENGTHS[-1]))
        angle = np.mod(np.asarray(angle, float), 180.0)
        u = (length - 1) / 2  # 0 = delta, 1..17 = LENGTHS
        v = angle / 6
        u0 = np.minimum(np.floor(u), len(LENGTHS) - 1).astype(int)
        v0 = np.floor(v).astype(int)
        labels, dists = [], []
        for du in (0, 1):
            for dv in (0, 1):
                m = u0 + du
                q = np.mod(v0 + dv, len(ANGLES))
                labels.append(np.where(m == 0, 0, len(LENGTHS) * q + m))
                dists.append((u - m) ** 2 + (v - (v0 + dv)) ** 2)
        labels = np.stack(labels, axis=-1)
        logits = -np.stack(dists, axis=-1) / temperature
        weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return labels, weights / weights.sum(axis=-1, keepdims=True)
