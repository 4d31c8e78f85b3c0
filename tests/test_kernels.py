"""Kernel makers: fspecial compatibility (external CPCR table) and camera shake."""

import numpy as np
import pytest
import scipy.linalg
import scipy.signal

import nublur
from conftest import shared_data


def tikhonov_inverse_filter(kernel, support, rho):
    """argmin_f ||k conv_full f - delta||^2 + rho ||f||^2 on a support x support grid.

    Normal equations (T + rho I) f = M^T e, where T is the autocorrelation of k (full
    convolution has no truncation) and M^T e is k flipped around the delta at the centre.
    """
    k = kernel.shape[0]
    auto = scipy.signal.correlate(kernel, kernel, mode="full")
    c = k - 1
    d = np.arange(support)[:, None] - np.arange(support)[None, :]
    dy, dx = d[:, None, :, None], d[None, :, None, :]
    valid = (np.abs(dy) <= c) & (np.abs(dx) <= c)
    gram = np.where(valid, auto[np.clip(c + dy, 0, 2 * c), np.clip(c + dx, 0, 2 * c)], 0.0)
    gram = gram.reshape(support**2, support**2)
    n = support + k - 1
    rhs = np.zeros((support, support))
    for y in range(support):
        for x in range(support):
            a, b = n // 2 - y, n // 2 - x
            if 0 <= a < k and 0 <= b < k:
                rhs[y, x] = kernel[a, b]
    sol = scipy.linalg.solve(gram + rho * np.eye(support**2), rhs.ravel(), assume_a="pos")
    return sol.reshape(support, support)


def cpcr_label(label):
    if label == 0:
        return 1, 0
    q, m = divmod(label - 1, 12)
    return 2 * (m + 1) + 1, 6 * q


@pytest.mark.slow
def test_linear_kernels_reproduce_cpcr_inverse_filters():
    table = np.load(shared_data("cpcr_lut", "cpcr_inverse_filters_361x31x31.npy"))
    assert table.shape == (361, 31, 31)
    worst = 0.0
    for label in range(361):
        length, angle = cpcr_label(label)
        inv = tikhonov_inverse_filter(nublur.linear_kernel(length, angle), 31, 1e-2)
        worst = max(worst, np.abs(inv - table[label]).max())
    assert worst < 1e-5, worst


def test_linear_kernel_matches_known_fspecial_values():
    # fspecial('motion', 3, 0) and ('motion', 4, 90): exact closed forms
    np.testing.assert_allclose(nublur.linear_kernel(3, 0)[1], [1 / 3, 1 / 3, 1 / 3])
    k = nublur.linear_kernel(4, 90)
    np.testing.assert_allclose(k[:, 2], [0.125, 0.25, 0.25, 0.25, 0.125])
    assert k.sum() == pytest.approx(1.0)
    # 45 and 135 degrees mirror each other left-right; rows point down, angles CCW
    np.testing.assert_allclose(nublur.linear_kernel(7, 45), nublur.linear_kernel(7, 135)[:, ::-1])
    k45 = nublur.linear_kernel(9, 45)
    assert k45[0, -1] > 0 and k45[0, 0] == 0  # upper-right corner lit (counter-clockwise)


@pytest.mark.parametrize("length,angle", [(1, 0), (0.3, 10), (2.5, 17), (35, 174), (10, -30)])
def test_linear_kernel_properties(length, angle):
    k = nublur.linear_kernel(length, angle)
    assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert k.min() >= 0 and k.sum() == pytest.approx(1.0, abs=1e-12)
    c = k.shape[0] // 2
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-15)  # centro-symmetric
    y, x = np.indices(k.shape)
    assert (k * y).sum() == pytest.approx(c) and (k * x).sum() == pytest.approx(c)
    if length <= 1:
        assert k.shape == (1, 1)
    np.testing.assert_allclose(nublur.linear_kernel(length, angle + 180), k)


def test_linear_kernel_size_and_bad_input():
    assert nublur.linear_kernel(35, 0).shape == (35, 35)
    assert nublur.linear_kernel(5, 0, size=9).shape == (9, 9)
    with pytest.raises(ValueError, match="size"):
        nublur.linear_kernel(9, 0, size=5)
    with pytest.raises(ValueError, match="size"):
        nublur.linear_kernel(3, 0, size=8)
    with pytest.raises(ValueError, match="length"):
        nublur.linear_kernel(-1, 0)
    with pytest.raises(ValueError, match="angle"):
        nublur.linear_kernel(3, np.nan)


def test_camera_shake_kernel_properties():
    rng = np.random.default_rng(7)
    for size in (9, 21, 33):
        for exposure in (0.1, 0.5, 1.0):
            k = nublur.camera_shake_kernel(size, rng, exposure=exposure)
            assert k.shape == (size, size)
            assert k.min() >= 0 and k.sum() == pytest.approx(1.0, abs=1e-12)
            y, x = np.indices(k.shape)
            assert (k * y).sum() == pytest.approx(size // 2, abs=1e-9)
            assert (k * x).sum() == pytest.approx(size // 2, abs=1e-9)


def test_camera_shake_is_seeded_and_varied():
    a = nublur.camera_shake_kernel(33, np.random.default_rng(3))
    b = nublur.camera_shake_kernel(33, np.random.default_rng(3))
    c = nublur.camera_shake_kernel(33, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3
    kernels = [nublur.camera_shake_kernel(33, np.random.default_rng(s)) for s in range(20)]
    support = [np.count_nonzero(k > 1e-3 * k.max()) for k in kernels]
    assert min(support) >= 3  # blur, not a delta
    assert len(set(support)) > 5


def test_camera_shake_trajectory_length():
    path = nublur.camera_shake_trajectory(np.random.default_rng(0), max_length=60.0)
    assert path.shape == (2000,)
    assert np.abs(np.diff(path)).sum() == pytest.approx(60.0, rel=1e-9)


def test_camera_shake_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="size"):
        nublur.camera_shake_kernel(32, rng)
    with pytest.raises(ValueError, match="exposure"):
        nublur.camera_shake_kernel(33, rng, exposure=0)
    with pytest.raises(TypeError, match="rng"):
        nublur.camera_shake_kernel(33, 5)


def test_linear_kernel_equals_a_whole_array_fspecial_transcription(rng):
    """The band-limited rasteriser against MATLAB's formula evaluated on the whole box."""
    from reference import ref_fspecial_motion

    lengths = np.concatenate([rng.uniform(0, 40, 400), np.arange(0.5, 40, 0.5)])
    special = [0, 6, 30, 45, 60, 89.9999, 90, 90.0001, 135, 174, 179.99, 180, -30, 400]
    angles = np.concatenate([rng.uniform(-200, 400, 400), rng.choice(special, 79)])
    for length, angle in zip(lengths, angles):
        k = nublur.linear_kernel(length, angle)
        ref = ref_fspecial_motion(length, angle)
        pad = (k.shape[0] - ref.shape[0]) // 2, (k.shape[1] - ref.shape[1]) // 2
        assert min(pad) >= 0, (length, angle)
        inner = k[pad[0]:k.shape[0] - pad[0], pad[1]:k.shape[1] - pad[1]]
        np.testing.assert_allclose(inner, ref, rtol=0, atol=1e-15, err_msg=f"{length}, {angle}")
        # same support, including the eps-sized weights at distance 1 from the line
        np.testing.assert_array_equal(inner > 0, ref > 0, err_msg=f"{length}, {angle}")
        assert k.sum() == pytest.approx(inner.sum(), abs=1e-15)
