"""The flow kernel prior inside the kernel update (003's prior used as in FKP, section 3.1).

After each pixel-space kernel step, the kernel is moved towards the prior: encoded to its
latent code z, the code shrunk to ``temperature`` z (towards the prior's mode, where the
density of a normal latent rises), and decoded. This is a latent-space proximal step, not an
optimisation of the data term over z: the prior's ONNX decoder has no gradient here.
"""

from __future__ import annotations

import numpy as np

from ._kernel import centre_kernel, pad_kernel


def latent_projection(k: np.ndarray, prior, temperature: float) -> np.ndarray:
    """``k`` moved towards the prior (module docstring); kernels larger than the prior's
    window are returned unchanged."""
    size = prior.kernel_size
    if k.shape[0] > size:
        return k
    codes, _ = prior.encode(pad_kernel(k / k.sum(), size)[None])
    back = pad_kernel(prior.decode(codes * np.float32(temperature))[0].astype(float),
                      k.shape[0])
    total = back.sum()
    return k if total <= 0 else centre_kernel(back / total)
