"""Training samples for the motion-flow network (002 section 4.2).

A sample: a sharp gray scene (``scene``: varied dead leaves, or a crop of a photo folder) in
linear units, scaled by U[0.5, 1.5] so highlights clip; a motion field from a mixture of
families (``random_flow``): a 002 camera-motion flow (``nublur.synth.flow_components``, preset
"severe" or "mild") drawn on a virtual image 1-3 times the crop and cut to the crop, so crops
see the local, mostly smooth variation of a whole photo, and with probability
``scale_probability`` multiplied by U[0, 1.4] (sharp and near-sharp crops, and long blur up to
the 36 px limit); or one linear motion for the crop; or smooth cosine length and angle maps;
rounded to integers, clipped to 36, folded (002 eq. 5) and blurred by nublur's gather
(replicate boundary); Gaussian noise with sigma U[0, ``max_noise``], the camera response,
8-bit quantisation.

The 8 flips and transposes of a sample are also samples: ``augment`` transforms the image and
the integer flow together (tested against nublur's blur in tests/test_flow_training.py).
"""

from __future__ import annotations

import numpy as np

import nublur
from nublur.fields import fold_flow
from nublur.operators.camera import camera_response
from nublur.synth.flow import MAX_COMPONENT, PRESETS, flow_components

from .flownet import STRIDE
from .train_ircnet import scene, smooth_linear_field


FAMILIES = ("flow", "uniform", "cosine")


def random_flow(rng, crop: int, scale_probability: float = 0.3, mixture=(1.0, 0.0, 0.0)):
    """Integer folded (u, v) maps, (crop, crop) each (x right, y up), from the family drawn
    with the weights ``mixture`` over ``FAMILIES``: 002 flows (``camera_flow``), one linear
    motion (length U[0, 40], angle U[0, 180)), or smooth cosine length and angle maps
    (``train_ircnet.smooth_linear_field``, lengths 0-40)."""
    weights = np.asarray(mixture, dtype=float)
    family = "flow" if not weights[1:].any() else \
        FAMILIES[int(rng.choice(3, p=weights / weights.sum()))]
    if family == "flow":
        u, v = camera_flow(rng, crop, scale_probability)
    else:
        if family == "uniform":
            length = np.full((crop, crop), rng.uniform(0, 40))
            angle = np.full((crop, crop), rng.uniform(0, 180))
        else:
            field = smooth_linear_field(rng, (crop, crop), 0.0, 40.0)
            length, angle = field.length, field.angle
        a = np.radians(angle)
        u, v = length * np.cos(a), length * np.sin(a)
    u = np.round(np.clip(u, -MAX_COMPONENT, MAX_COMPONENT))
    v = np.round(np.clip(v, -MAX_COMPONENT, MAX_COMPONENT))
    return canonical(u, v)


def camera_flow(rng, crop: int, scale_probability: float):
    """(u, v) of a 002 flow drawn on a virtual image 1-3 times the crop, cut to the crop."""
    canvas = int(rng.integers(crop, 3 * crop + 1))
    preset = PRESETS["severe" if rng.random() < 0.6 else "mild"]
    u, v = flow_components((canvas, canvas), rng, preset)
    top, left = rng.integers(0, canvas - crop + 1, size=2)
    u, v = u[top:top + crop, left:left + crop], v[top:top + crop, left:left + crop]
    if rng.random() < scale_probability:
        factor = rng.uniform(0.0, 1.4)
        u, v = u * factor, v * factor
    return u, v


def canonical(u, v):
    """002 eq. 5 fold, and v >= 0 where u = 0 ((0, v) and (0, -v) are the same blur)."""
    u, v = fold_flow(u, v)
    v = np.where(u == 0, np.abs(v), v)
    return u.astype(np.int8), v.astype(np.int8)


def make_sample(rng, crop: int, photos=None, *, max_noise: float = 0.02, gamma: float = 2.2,
                scale_probability: float = 0.3, mixture=(1.0, 0.0, 0.0)):
    """(blurry display gray uint8 (crop, crop), u int8, v int8)."""
    if photos is not None and rng.random() < 0.5:
        photo = photos[int(rng.integers(len(photos)))]
        top = int(rng.integers(0, photo.shape[0] - crop + 1))
        left = int(rng.integers(0, photo.shape[1] - crop + 1))
        sharp = photo[top:top + crop, left:left + crop].astype(np.float64) ** gamma
    else:
        sharp = scene(rng, (crop, crop))
    sharp = sharp * rng.uniform(0.5, 1.5)
    u, v = random_flow(rng, crop, scale_probability, mixture)
    field = nublur.LinearMotionField.from_flow(u.astype(float), v.astype(float))
    blurred = nublur.blur(sharp, field, boundary="replicate")
    noisy = blurred + rng.uniform(0, max_noise) * rng.standard_normal(blurred.shape)
    display = camera_response(noisy, gamma)
    return np.round(np.clip(display, 0, 1) * 255).astype(np.uint8), u, v


def augment(image, u, v, k: int):
    """Dihedral transform k (0-7) of an image and its flow: transpose if k >= 4, then k % 4
    quarter turns (numpy.rot90, anticlockwise)."""
    u, v = u.astype(np.int16), v.astype(np.int16)
    if k >= 4:  # rows <-> cols: (x, y) -> (-y, -x), so (u, v) -> (-v, -u)
        image, u, v = image.T, -v.T, -u.T
    for _ in range(k % 4):  # anticlockwise quarter turn: (u, v) -> (-v, u)
        image, u, v = np.rot90(image), -np.rot90(v), np.rot90(u)
    u, v = canonical(u, v)
    return np.ascontiguousarray(image), u, v


def targets(u, v):
    """Labels at the network's 1/4 resolution: u class, v class (block centres) and the
    doubled-angle motion and length (l cos 2a, l sin 2a, l) / 36 (block means)."""
    c = STRIDE // 2
    u_cls = u[c::STRIDE, c::STRIDE].astype(np.int64)
    v_cls = v[c::STRIDE, c::STRIDE].astype(np.int64) + MAX_COMPONENT
    u, v = u.astype(np.float64), v.astype(np.float64)
    reg = np.concatenate([doubled_angle(u, v), np.hypot(u, v)[None] / MAX_COMPONENT])
    h, w = u.shape[0] // STRIDE, u.shape[1] // STRIDE
    reg = reg[:, :h * STRIDE, :w * STRIDE].reshape(3, h, STRIDE, w, STRIDE).mean(axis=(2, 4))
    return u_cls, v_cls, reg.astype(np.float32)


def doubled_angle(u, v):
    """(l cos 2a, l sin 2a) / 36 of a flow: (u^2 - v^2, 2 u v) / (36 l); sign-free in (u, v)."""
    length = np.maximum(np.hypot(u, v), 1e-9)
    return np.stack([(u * u - v * v) / length, 2 * u * v / length]) / MAX_COMPONENT
