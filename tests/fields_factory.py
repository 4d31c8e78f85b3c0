"""Small random fields of every type for the tests."""

import numpy as np
from scipy.ndimage import gaussian_filter

import nublur


def random_kernels(rng, count, size):
    k = rng.random((count, size, size)) ** 3
    return k / k.sum(axis=(1, 2), keepdims=True)


def smooth_mixing(rng, count, shape, sigma=3.0):
    logits = np.stack([gaussian_filter(rng.standard_normal(shape), sigma) for _ in range(count)])
    m = np.exp(4 * logits)
    return m / m.sum(axis=0)


def make_field(kind, rng, shape=(13, 11), size=5, count=3):
    if kind == "uniform":
        return nublur.UniformField(random_kernels(rng, 1, size)[0])
    if kind == "basis":
        return nublur.BasisField(random_kernels(rng, count, size), smooth_mixing(rng, count, shape))
    if kind == "grid":
        kernels = random_kernels(rng, 6, size).reshape(3, 2, size, size)
        return nublur.GridField(kernels, shape)
    if kind == "segments":  # compact-support masks: each map zero outside its region
        return nublur.BasisField(random_kernels(rng, count, size), segment_mixing(rng, count, shape))
    if kind == "dense":
        k = rng.random(shape + (size, size))
        return nublur.DenseField(k, normalize=True)
    if kind == "linear":
        length = rng.uniform(1, size, shape)
        angle = rng.uniform(0, 180, shape)
        return nublur.LinearMotionField(length, angle, kernel_size=size)
    if kind == "linear_discrete":  # few distinct motions: applied from a kernel table
        length = rng.choice([1.0, 2.0, size - 1.0], shape)
        angle = rng.choice([0.0, 45.0 if size > 3 else 90.0], shape)
        return nublur.LinearMotionField(length, angle, kernel_size=size)
    raise ValueError(kind)


def segment_mixing(rng, count, shape):
    """Hard masks of ``count`` vertical bands, halves blended where two bands meet."""
    band = np.floor(np.linspace(0, count, shape[1], endpoint=False)).astype(int)
    masks = np.zeros((count,) + shape)
    for b in range(count):
        masks[b][:, band == b] = 1.0
    edges = np.flatnonzero(np.diff(band)) + 1
    masks[:, :, edges] = 0.5 * (masks[:, :, edges] + masks[:, :, edges - 1])
    return masks / masks.sum(axis=0)


FIELD_KINDS = ("uniform", "basis", "grid", "segments", "dense", "linear", "linear_discrete")
