"""The flow-based motion-kernel prior of 003 (section 3.1, eq. 2), run by ONNX Runtime.

A RealNVP flow trained in ``training_torch`` maps K x K motion PSFs to a standard normal
latent space of dimension L = K^2 (log-kernel coordinates; the model card states them).
``KernelPrior.decode`` turns latent codes into valid PSFs (non-negative, sum 1: 003's are not
renormalised, nublur's are), ``encode`` gives a PSF's code and its negative log-likelihood,
``sample`` draws PSFs from the prior with a seeded ``numpy.random.Generator`` and an optional
temperature. The decoder is what ``nublur.fields.LatentField`` uses to turn codes into a field.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import as_float_array, check_finite, check_positive_int
from .onnx import MODELS_DIR, checked_session

__all__ = ["KernelPrior", "load_kernel_prior", "DEFAULT_PRIOR"]

DEFAULT_PRIOR = MODELS_DIR / "nublur_kernel_prior_k19.onnx"
_BATCH = 4096


class KernelPrior:
    """Decoder and encoder of the flow kernel prior.

    Parameters
    ----------
    path : path-like, optional
        The decoder's .onnx (its card names the encoder beside it); default the shipped
        19 x 19 prior.
    providers : list of str, optional
        ONNX Runtime execution providers.
    """

    def __init__(self, path=DEFAULT_PRIOR, *, providers=None):
        self.path, self.card, self._decoder = checked_session(path, providers)
        if self.card.get("role") != "decoder":
            raise ValueError(f"{self.path.name} is not a kernel-prior decoder (its card has "
                             f"role {self.card.get('role')!r})")
        self._encoder_path = self.path.parent / self.card["encoder"]
        self._providers = providers
        self._encoder = None
        self.kernel_size = int(self.card["kernel_size"])
        self.latent_dim = int(self.card["latent_dim"])

    def decode(self, codes) -> np.ndarray:
        """PSFs of latent codes: (..., L) -> float32 (..., K, K), each non-negative, sum 1."""
        codes = self._codes(codes, "codes")
        flat = codes.reshape(-1, self.latent_dim)
        out = np.empty((len(flat), self.kernel_size, self.kernel_size), np.float32)
        for start in range(0, len(flat), _BATCH):
            chunk = flat[start:start + _BATCH]
            out[start:start + len(chunk)] = self._decoder.run(None, {"latent": chunk})[0]
        return out.reshape(codes.shape[:-1] + out.shape[1:])

    def encode(self, kernels) -> tuple[np.ndarray, np.ndarray]:
        """Latent codes and negative log-likelihoods (nats) of PSFs (..., K, K)."""
        kernels = self._kernels(kernels)
        flat = kernels.reshape(-1, self.kernel_size, self.kernel_size)
        codes = np.empty((len(flat), self.latent_dim), np.float32)
        nll = np.empty(len(flat), np.float32)
        session = self._encoder_session()
        for start in range(0, len(flat), _BATCH):
            chunk = flat[start:start + _BATCH]
            codes[start:start + len(chunk)], nll[start:start + len(chunk)] = session.run(
                None, {"kernels": chunk})
        lead = kernels.shape[:-2]
        return codes.reshape(lead + (self.latent_dim,)), nll.reshape(lead)

    def nll(self, kernels) -> np.ndarray:
        """Negative log-likelihood (nats) of each PSF under the prior (003 eq. 2)."""
        return self.encode(kernels)[1]

    def sample(self, count: int, rng: np.random.Generator, *, temperature: float = 1.0):
        """``count`` PSFs decoded from codes ~ N(0, temperature^2 I) drawn from ``rng``."""
        count = check_positive_int(count, "count")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        if not (isinstance(temperature, numbers.Real) and 0 <= temperature < np.inf):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
        codes = rng.standard_normal((count, self.latent_dim)).astype(np.float32)
        return self.decode(codes * np.float32(temperature))

    def _codes(self, codes, name):
        codes = as_float_array(codes, name, image=False)
        if codes.ndim < 1 or codes.shape[-1] != self.latent_dim:
            raise ValueError(f"{name} must have a last axis of length {self.latent_dim} "
                             f"(the prior's latent dimension), got shape {codes.shape}")
        check_finite(codes, name)
        return np.ascontiguousarray(codes, dtype=np.float32)

    def _kernels(self, kernels):
        kernels = as_float_array(kernels, "kernels", image=False)
        k = self.kernel_size
        if kernels.ndim < 2 or kernels.shape[-2:] != (k, k):
            raise ValueError(f"kernels must have shape (..., {k}, {k}), got {kernels.shape}")
        check_finite(kernels, "kernels")
        if np.any(kernels < 0):
            raise ValueError("kernels must be non-negative")
        sums = kernels.sum(axis=(-2, -1), keepdims=True)
        if np.any(sums <= 0):
            raise ValueError("kernels must each have a positive sum")
        return np.ascontiguousarray(kernels / sums, dtype=np.float32)

    def _encoder_session(self):
        if self._encoder is None:
            _, card, self._encoder = checked_session(self._encoder_path, self._providers)
            if card.get("role") != "encoder" or card.get("decoder") != self.path.name:
                raise ValueError(f"{self._encoder_path.name} is not the encoder of "
                                 f"{self.path.name}")
        return self._encoder

    def __repr__(self):
        return f"KernelPrior({self.path.name}, kernel_size={self.kernel_size})"


def load_kernel_prior(path=None, *, providers=None) -> KernelPrior:
    """The shipped flow kernel prior (or the one at ``path``)."""
    return KernelPrior(DEFAULT_PRIOR if path is None else path, providers=providers)
