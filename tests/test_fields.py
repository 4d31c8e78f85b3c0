"""Kernel-field types: construction, kernel_at, to_dense, compression, adapters, validation."""

import numpy as np
import pytest

import nublur
from fields_factory import FIELD_KINDS, make_field, random_kernels, smooth_mixing


@pytest.mark.parametrize("kind", FIELD_KINDS)
def test_common_interface(kind, rng):
    field = make_field(kind, rng, shape=(9, 8), size=5)
    assert field.kernel_size == 5
    k = field.kernel_at(3, 4)
    assert k.shape == (5, 5) and k.min() >= 0 and k.sum() == pytest.approx(1.0)
    dense = field.to_dense((9, 8))
    np.testing.assert_allclose(dense.kernels[3, 4], k)
    if kind != "uniform":
        assert field.image_shape == (9, 8)
        with pytest.raises(IndexError, match="row"):
            field.kernel_at(9, 0)


def test_basis_kernel_at_is_the_mixture(rng):
    field = make_field("basis", rng, shape=(6, 7), size=5, count=3)
    expected = sum(field.mixing[b, 2, 5] * field.kernels[b] for b in range(3))
    np.testing.assert_allclose(field.kernel_at(2, 5), expected)


def test_to_dense_refuses_above_limit(rng):
    field = make_field("basis", rng, shape=(64, 64), size=9)
    with pytest.raises(MemoryError, match="GiB"):
        field.to_dense(max_bytes=1000)
    uniform = nublur.UniformField(np.ones((33, 33)) / 33**2)
    with pytest.raises(MemoryError, match="4000x4000"):
        uniform.to_dense((4000, 4000))
    with pytest.raises(ValueError, match="image_shape"):
        uniform.to_dense()


def test_from_field_exact_when_rank_suffices(rng):
    shape = (30, 26)
    field = nublur.BasisField(random_kernels(rng, 3, 7), smooth_mixing(rng, 3, shape))
    compressed, err = nublur.BasisField.from_field(field.to_dense(), rank=3, num_iter=1000)
    assert err < 1e-3
    x = rng.random(shape)
    np.testing.assert_allclose(nublur.blur(x, compressed), nublur.blur(x, field), atol=5e-3)


def test_from_field_error_falls_with_rank(rng):
    shape = (24, 24)
    rows, cols = np.indices(shape)
    field = nublur.LinearMotionField(3 + 10 * rows / 23, 180 * cols / 24, kernel_size=15)
    errors = [nublur.BasisField.from_field(field, rank=r)[1] for r in (2, 6, 16)]
    assert errors[0] > errors[1] > errors[2]
    compressed, _ = nublur.BasisField.from_field(field, rank=16)
    assert compressed.mixing.min() >= 0
    np.testing.assert_allclose(compressed.mixing.sum(axis=0), 1.0, atol=1e-9)
    np.testing.assert_allclose(compressed.kernels.sum(axis=(1, 2)), 1.0, atol=1e-9)


def test_linear_from_flow_folds_and_matches_angles():
    u = np.array([[3.0, -3.0, 0.0, 4.0]])
    v = np.array([[0.0, 0.0, -5.0, 4.0]])
    field = nublur.LinearMotionField.from_flow(u, v)
    np.testing.assert_allclose(field.length, [[3, 3, 5, np.hypot(4, 4)]])
    np.testing.assert_allclose(field.angle, [[0, 0, 90, 45]])
    np.testing.assert_allclose(field.kernel_at(0, 3),
                               nublur.linear_kernel(np.hypot(4, 4), 45, size=field.kernel_size))


def test_linear_field_kernel_size(rng):
    field = nublur.LinearMotionField(np.full((4, 4), 9.0), np.zeros((4, 4)))
    assert field.kernel_size == 9
    with pytest.raises(ValueError, match="kernel_size"):
        nublur.LinearMotionField(np.full((4, 4), 9.0), np.zeros((4, 4)), kernel_size=7)


def test_fields_copy_and_freeze_inputs(rng):
    kernels = random_kernels(rng, 2, 5)
    mixing = smooth_mixing(rng, 2, (6, 6))
    field = nublur.BasisField(kernels, mixing)
    kernels[0, 0, 0] += 1.0
    assert field.kernels[0, 0, 0] != kernels[0, 0, 0]
    with pytest.raises(ValueError):
        field.mixing[0, 0, 0] = 0.5
    for normalize in (False, True):
        for make in (np.copy, lambda a: a.astype(np.float32), lambda a: a.copy()[:, ::-1]):
            m = make(mixing)
            field = nublur.BasisField(random_kernels(rng, 2, 5), m, normalize=normalize)
            before = field.mixing.copy()
            m[...] = 0.0
            np.testing.assert_array_equal(field.mixing, before)
            assert not field.mixing.flags.writeable


def test_normalize_option(rng):
    k = rng.random((5, 5))
    with pytest.raises(ValueError, match="sum to 1"):
        nublur.UniformField(k)
    np.testing.assert_allclose(nublur.UniformField(k, normalize=True).psf.sum(), 1.0)


@pytest.mark.parametrize("bad,match", [
    (np.ones((4, 4)) / 16, "odd"),
    (np.ones((3, 5)) / 15, "square"),
    (-np.eye(3) + 2 * np.ones((3, 3)) / 9 * 0, "non-negative"),
    (np.full((3, 3), np.nan), "NaN"),
    (np.ones((3, 3, 3)) / 9, "2-D"),
])
def test_uniform_field_rejects(bad, match):
    with pytest.raises(ValueError, match=match):
        nublur.UniformField(bad)


def test_basis_field_rejects(rng):
    kernels = random_kernels(rng, 2, 5)
    with pytest.raises(ValueError, match=r"mixing must have shape \(B=2"):
        nublur.BasisField(kernels, np.ones((3, 4, 4)) / 3)
    with pytest.raises(ValueError, match="sum to 1 over B"):
        nublur.BasisField(kernels, np.ones((2, 4, 4)))
    with pytest.raises(ValueError, match="mixing must be non-negative"):
        nublur.BasisField(kernels, np.stack([np.full((4, 4), 2.0), np.full((4, 4), -1.0)]))
    with pytest.raises(ValueError, match=r"kernels must have shape \(B, K, K\)"):
        nublur.BasisField(kernels[0], np.ones((1, 4, 4)))
    with pytest.raises(TypeError, match="kernels"):
        nublur.BasisField(np.array([["a"]]), np.ones((1, 4, 4)))


def test_linear_field_rejects():
    with pytest.raises(ValueError, match="same shape"):
        nublur.LinearMotionField(np.ones((3, 3)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="length must be >= 0"):
        nublur.LinearMotionField(-np.ones((3, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="angle contains NaN"):
        nublur.LinearMotionField(np.ones((3, 3)), np.full((3, 3), np.nan))


def test_grid_field_interpolates_its_nodes_bilinearly(rng):
    """At a node the PSF is that node's; midway between two nodes it is their mean; beyond
    the outer nodes it is the outer node's; weights are written out here, not by the field."""
    kernels = random_kernels(rng, 6, 5).reshape(2, 3, 5, 5)
    field = nublur.GridField(kernels, (21, 31), row_nodes=[4, 16], col_nodes=[5, 15, 25])
    np.testing.assert_allclose(field.kernel_at(4, 15), kernels[0, 1])
    np.testing.assert_allclose(field.kernel_at(10, 15), 0.5 * (kernels[0, 1] + kernels[1, 1]))
    np.testing.assert_allclose(field.kernel_at(0, 0), kernels[0, 0])
    np.testing.assert_allclose(field.kernel_at(20, 30), kernels[1, 2])
    wr, wc = 1 - 3 / 12, 1 - 7 / 10  # row 7 between rows 4 and 16, col 22 between 15 and 25
    expected = (wr * wc * kernels[0, 1] + wr * (1 - wc) * kernels[0, 2]
                + (1 - wr) * wc * kernels[1, 1] + (1 - wr) * (1 - wc) * kernels[1, 2])
    np.testing.assert_allclose(field.kernel_at(7, 22), expected)
    np.testing.assert_allclose(field.mixing.sum(axis=0), 1.0)
    rows, cols = np.array([7, 0, 20]), np.array([22, 0, 30])
    np.testing.assert_allclose(field.kernels_at(rows, cols),
                               np.stack([field.kernel_at(r, c) for r, c in zip(rows, cols)]))


def test_grid_field_mixing_window_lists_only_its_non_zero_maps(rng):
    field = nublur.GridField(random_kernels(rng, 16, 3).reshape(4, 4, 3, 3), (40, 40))
    index, maps = field.mixing_window(0, 0, 5, 5)
    assert sorted(index.tolist()) == [0]   # rows and cols 0-4: up to the first nodes (4.5)
    index, maps = field.mixing_window(0, 0, 6, 5)
    assert sorted(index.tolist()) == [0, 4]
    index, maps = field.mixing_window(15, 15, 5, 5)  # between nodes 1 and 2 (14.5, 24.5)
    assert sorted(index.tolist()) == [5, 6, 9, 10]
    dense = field.mixing[:, 15:20, 15:20]
    np.testing.assert_allclose(maps, dense[index])
    assert np.all(np.delete(dense, index, axis=0) == 0)


def test_grid_field_refuses_bad_input(rng):
    k = random_kernels(rng, 4, 5).reshape(2, 2, 5, 5)
    with pytest.raises(ValueError, match="kernels"):
        nublur.GridField(k[0], (10, 10))
    with pytest.raises(ValueError, match="row_nodes"):
        nublur.GridField(k, (10, 10), row_nodes=[3, 3])
    with pytest.raises(ValueError, match="col_nodes"):
        nublur.GridField(k, (10, 10), col_nodes=[1, 2, 3])
    with pytest.raises(ValueError, match="image_shape"):
        nublur.GridField(k, (10,))


def test_reduced_basis_field_upsamples_its_maps_bilinearly(rng):
    from scipy.ndimage import map_coordinates

    kernels = random_kernels(rng, 3, 7)
    small = rng.random((3, 6, 9)) + 0.05
    small /= small.sum(axis=0)
    field = nublur.ReducedBasisField(kernels, small, (31, 40))
    rows, cols = np.mgrid[0:31, 0:40]
    coords = [(rows + 0.5) * 6 / 31 - 0.5, (cols + 0.5) * 9 / 40 - 0.5]
    want = np.stack([map_coordinates(m, coords, order=1, mode="nearest") for m in small])
    np.testing.assert_allclose(field.to_basis().mixing, want, atol=1e-12)
    window = field.window(np.arange(5, 12), np.arange(20, 33))
    np.testing.assert_allclose(window.mixing, want[:, 5:12, 20:33], atol=1e-12)
    np.testing.assert_allclose(field.kernel_at(17, 3),
                               np.tensordot(want[:, 17, 3], kernels, axes=1), atol=1e-12)
    with pytest.raises(ValueError, match="smaller than the reduced"):
        nublur.ReducedBasisField(kernels, small, (4, 40))
    with pytest.raises(ValueError, match="mixing"):
        nublur.ReducedBasisField(kernels, small[:2], (31, 40))


def test_every_field_type_survives_a_field_file(rng, tmp_path):
    from nublur import fieldio

    kernels = random_kernels(rng, 6, 9)
    fields = [nublur.GridField(kernels.reshape(2, 3, 9, 9), (40, 50),
                               row_nodes=np.array([3.0, 30.0])),
              nublur.ReducedBasisField(kernels[:2], np.full((2, 4, 5), 0.5), (40, 50))]
    for field in fields:
        fieldio.save_field(tmp_path / "f.npz", field)
        loaded = fieldio.load_field(tmp_path / "f.npz")
        assert type(loaded) is type(field) and loaded.image_shape == field.image_shape
        np.testing.assert_array_equal(loaded.kernels_at(np.arange(40), np.arange(40)),
                                      field.kernels_at(np.arange(40), np.arange(40)))
