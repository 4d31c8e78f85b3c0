"""003's kernel-estimation network run by ONNX Runtime: a blurry photo -> ``LatentField``.

The network (``training_torch.ufpnet``, trained with 003's reblur loss eq. 4 through the
frozen flow prior) predicts, for every 32 x 32 cell of the (padded) gray image, a latent code
of the flow kernel prior and its standard deviation (003 eq. 5). ``UfpEstimator.estimate``
returns them as a ``LatentField`` whose nodes are the cell centres; its kernels are the
decoded codes (the mean: 003 samples at random at test time, nublur only when asked, with
``LatentField.sample(rng)``), and ``uncertainty()`` maps how much the sigmas let them vary.
The model card names the prior decoder it was trained with (name and sha256); another prior is
refused. Photos larger than ``max_side`` run at reduced scale with the kernels magnified back.
"""

from __future__ import annotations

import numpy as np
from skimage.transform import resize

from .._validation import as_image, check_positive_int
from ..fields import GridField, LatentField
from ..fields.grid import cell_centres
from .onnx import MODELS_DIR, _magnify, checked_session
from .prior import KernelPrior, load_kernel_prior

__all__ = ["UfpEstimator", "load_ufp_estimator", "UFP_MODEL"]

UFP_MODEL = MODELS_DIR / "nublur_ufp_w16.onnx"


class UfpEstimator:
    """Latent-code field of one blurry photo (003 section 3.2).

    Parameters
    ----------
    path : path-like
        The network's .onnx with its card (``training_torch.train_ufp --export``); none is
        shipped yet (see ``load_ufp_estimator``).
    prior : KernelPrior, optional
        Default the prior the card names (the shipped one).
    providers : list of str, optional
    max_side : int
        Longer photos are estimated on a copy with this long side.
    """

    def __init__(self, path, *, prior=None, providers=None, max_side: int = 1024):
        self.path, self.card, self.session = checked_session(path, providers)
        if self.card.get("role") != "ufp":
            raise ValueError(f"{self.path.name} is not a latent-code network (card role "
                             f"{self.card.get('role')!r})")
        self.prior = load_kernel_prior(providers=providers) if prior is None else prior
        if not isinstance(self.prior, KernelPrior):
            raise TypeError(f"prior must be a KernelPrior, got {type(self.prior).__name__}")
        if self.prior.card["sha256"] != self.card["prior"]["sha256"]:
            raise ValueError(f"{self.path.name} was trained with the prior "
                             f"{self.card['prior']['decoder']}, not {self.prior.path.name}")
        self.cell = int(self.card["output"]["cell"])
        self.max_side = check_positive_int(max_side, "max_side", minimum=64)

    def estimate(self, image, *, channel_axis=-1):
        """``LatentField`` of ``image`` (values in [0, 1], gray or RGB; linear, gamma 1).

        A photo whose long side exceeds ``max_side`` is estimated on a reduced copy and the
        result is a ``GridField`` of the decoded kernels magnified back (the prior's kernels
        are 19 x 19 at the reduced scale)."""
        img, axis = as_image(image, "image", channel_axis)
        gray = img if axis is None else img @ np.array([0.2125, 0.7154, 0.0721])
        h, w = gray.shape
        scale = min(1.0, self.max_side / max(h, w))
        small = gray if scale == 1 else resize(gray, (max(32, round(h * scale)),
                                                      max(32, round(w * scale))),
                                               anti_aliasing=True)
        codes, sigma = self._run(small.astype(np.float32))
        field = self._field(codes, sigma, small.shape)
        if scale == 1:
            return field
        kernels = _magnify(field.node_kernels().reshape((-1, 19, 19)), h / small.shape[0])
        return GridField(kernels.reshape(codes.shape[:2] + kernels.shape[1:]), (h, w),
                         row_nodes=field.row_nodes * h / small.shape[0],
                         col_nodes=field.col_nodes * w / small.shape[1], normalize=True)

    def _run(self, gray):
        h, w = gray.shape
        c = self.cell
        padded = np.pad(gray, ((0, -h % c), (0, -w % c)), mode="reflect")
        x = (np.clip(padded, 0, 1) - 0.5).astype(np.float32)[None, None]
        codes, sigma = self.session.run(None, {"input": x})
        return codes[0].transpose(1, 2, 0), sigma[0].transpose(1, 2, 0)

    def _field(self, codes, sigma, shape):
        gy, gx = codes.shape[:2]
        nodes = [cell_centres(n * self.cell, n) for n in (gy, gx)]
        return LatentField(codes, self.prior, shape, sigma=np.minimum(sigma, 0.99),
                           row_nodes=nodes[0], col_nodes=nodes[1])


def load_ufp_estimator(path=None, **options) -> UfpEstimator:
    """The latent-code network at ``path`` (default the shipped one, when there is one)."""
    if path is None and not UFP_MODEL.is_file():
        raise ValueError("no trained ufp model is shipped: the one trained so far made RL "
                         "worse than the blurry input on every kernel family (README, "
                         "'The flow kernel prior'); train and export one with "
                         "training_torch.train_ufp and pass the path of its .onnx")
    return UfpEstimator(UFP_MODEL if path is None else path, **options)
