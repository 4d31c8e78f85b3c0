"""Operators against the float64 reference, adjoint dot-tests and equivalent paths."""

import numpy as np
import pytest
import scipy.signal

import nublur
from fields_factory import FIELD_KINDS, make_field, random_kernels, smooth_mixing
from reference import BOUNDARIES, kernel_stack, ref_adjoint, ref_blur

TOL = {np.float64: 1e-10, np.float32: 2e-5}


@pytest.mark.parametrize("kind", FIELD_KINDS)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_and_adjoint_match_reference(kind, boundary, dtype, rng):
    shape = (13, 11)
    field = make_field(kind, rng, shape)
    kernels = kernel_stack(field, shape)
    x = rng.random(shape).astype(dtype)
    y = rng.random(shape).astype(dtype)
    v = nublur.blur(x, field, boundary=boundary)
    a = nublur.blur_adjoint(y, field, boundary=boundary)
    assert v.dtype == dtype and a.dtype == dtype
    np.testing.assert_allclose(v, ref_blur(x, kernels, boundary), atol=TOL[dtype], rtol=0)
    np.testing.assert_allclose(a, ref_adjoint(y, kernels, boundary), atol=TOL[dtype] * 4, rtol=0)


@pytest.mark.parametrize("kind", FIELD_KINDS)
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_adjoint_dot_test(kind, boundary, rng):
    shape = (37, 29)
    field = make_field(kind, rng, shape, size=7, count=4)
    x = rng.standard_normal(shape)
    y = rng.standard_normal(shape)
    lhs = np.vdot(nublur.blur(x, field, boundary=boundary), y)
    rhs = np.vdot(x, nublur.blur_adjoint(y, field, boundary=boundary))
    assert abs(lhs - rhs) <= 1e-10 * abs(lhs)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_multi_tile_basis_matches_reference(boundary, rng):
    """An image of several FFT tiles in both directions (K = 9: 152 x 152 tiles), odd sizes."""
    from nublur.operators._basis_fft import BasisPlan

    shape = (337, 301)
    field = nublur.BasisField(random_kernels(rng, 3, 9), smooth_mixing(rng, 3, shape))
    assert min(BasisPlan(field.kernels, field.mixing, shape, np.float64, boundary).grid) > 1
    x = rng.random(shape)
    kernels = np.einsum("bhw,bkl->hwkl", field.mixing, field.kernels)
    np.testing.assert_allclose(nublur.blur(x, field, boundary=boundary),
                               ref_blur(x, kernels, boundary), atol=1e-11)
    y = rng.random(shape)
    lhs = np.vdot(nublur.blur(x, field, boundary=boundary), y)
    rhs = np.vdot(x, nublur.blur_adjoint(y, field, boundary=boundary))
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)


def test_plans_of_one_fft_size_share_workspaces_across_tile_sizes(rng, monkeypatch):
    """K = 21 and K = 9 both on 160-point FFT tiles (140 and 152 pixels of output) share the
    same thread workspaces, interleaved: each forward still matches a float64 convolution and
    each adjoint passes the dot test."""
    import scipy.ndimage
    from nublur.operators import _basis_fft
    from nublur.operators._basis_fft import BasisPlan

    monkeypatch.setattr(_basis_fft, "tile_fft_size", lambda *args, **kwargs: 160)

    shape = (331, 307)
    x, y = rng.random(shape), rng.random(shape)
    psfs = [random_kernels(rng, 1, k)[0] for k in (21, 9, 21)]
    plans = [BasisPlan(p[None], None, shape, np.float64, "reflect") for p in psfs]
    assert {p.size for p in plans} == {160} and plans[0].tile != plans[1].tile
    assert min(plans[0].grid) > 1 and min(plans[1].grid) > 1
    for psf, plan in zip(psfs, plans):
        v = plan.forward(x)
        np.testing.assert_allclose(v, scipy.ndimage.convolve(x, psf, mode="reflect"), atol=1e-11)
        assert abs(np.vdot(v, y) - np.vdot(x, plan.adjoint(y))) <= 1e-12 * abs(np.vdot(v, y))


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_single_tile_basis_split_over_threads_matches_reference(threads, rng, monkeypatch):
    """K = 21 on 40 x 36 is one FFT tile: with several threads they share out the basis."""
    from nublur.operators._basis_fft import BasisPlan

    monkeypatch.setenv("NUBLUR_NUM_THREADS", threads)
    shape = (30, 26)
    field = nublur.BasisField(random_kernels(rng, 5, 21), smooth_mixing(rng, 5, shape))
    split = BasisPlan(field.kernels, field.mixing, shape, np.float64, "reflect").shares
    assert (split is None) == (threads == "1")
    kernels = np.einsum("bhw,bkl->hwkl", field.mixing, field.kernels)
    x, y = rng.random(shape), rng.random(shape)
    np.testing.assert_allclose(nublur.blur_adjoint(y, field), ref_adjoint(y, kernels, "reflect"),
                               atol=1e-11)
    for boundary in BOUNDARIES:
        v = nublur.blur(x, field, boundary=boundary)
        np.testing.assert_allclose(v, ref_blur(x, kernels, boundary), atol=1e-11)
        a = nublur.blur_adjoint(y, field, boundary=boundary)
        assert abs(np.vdot(v, y) - np.vdot(x, a)) <= 1e-12 * abs(np.vdot(v, y))


def test_kernel_larger_than_image(rng):
    """K = 15 on a 6 x 5 image: the extension wraps/reflects more than once."""
    field = nublur.UniformField(random_kernels(rng, 1, 15)[0])
    x = rng.random((6, 5))
    for boundary in BOUNDARIES:
        kernels = kernel_stack(field, x.shape) if False else np.broadcast_to(
            field.psf, x.shape + field.psf.shape)
        np.testing.assert_allclose(nublur.blur(x, field, boundary=boundary),
                                   ref_blur(x, kernels, boundary), atol=1e-12)


def test_uniform_equals_scipy_convolve_in_interior(rng):
    x = rng.random((120, 90)).astype(np.float32)
    k = nublur.camera_shake_kernel(15, rng)
    v = nublur.blur(x, k)
    ref = scipy.signal.convolve(x.astype(np.float64), k, mode="same")
    np.testing.assert_allclose(v[7:-7, 7:-7], ref[7:-7, 7:-7], atol=2e-6)


@pytest.mark.parametrize("boundary", ["reflect", "periodic", "constant"])
def test_basis_equals_its_dense_expansion(boundary, rng):
    shape = (40, 33)
    field = make_field("basis", rng, shape, size=9, count=5)
    dense = field.to_dense()
    assert isinstance(dense, nublur.DenseField)
    x = rng.random(shape)
    np.testing.assert_allclose(nublur.blur(x, field, boundary=boundary),
                               nublur.blur(x, dense, boundary=boundary), atol=1e-12)
    np.testing.assert_allclose(nublur.blur_adjoint(x, field, boundary=boundary),
                               nublur.blur_adjoint(x, dense, boundary=boundary), atol=1e-12)


@pytest.mark.parametrize("length,angle", [(1, 0), (7, 0), (9, 33), (12.5, 90), (15, 150)])
def test_constant_linear_field_equals_uniform(length, angle, rng):
    shape = (45, 52)
    field = nublur.LinearMotionField(np.full(shape, length), np.full(shape, angle))
    uniform = nublur.UniformField(nublur.linear_kernel(length, angle, size=field.kernel_size))
    x = rng.random(shape)
    for boundary in ("reflect", "replicate"):
        np.testing.assert_allclose(nublur.blur(x, field, boundary=boundary),
                                   nublur.blur(x, uniform, boundary=boundary), atol=1e-12)
        np.testing.assert_allclose(nublur.blur_adjoint(x, field, boundary=boundary),
                                   nublur.blur_adjoint(x, uniform, boundary=boundary), atol=1e-12)


def test_fft_engines_agree(rng):
    field = make_field("basis", rng, (70, 64), size=11, count=4)
    x = rng.random((70, 64)).astype(np.float32)
    results = []
    for engine in ("scipy", "pyfftw"):
        nublur.set_fft_engine(engine)
        try:
            fresh = nublur.BasisField(field.kernels, field.mixing)  # new plan cache
            results.append((nublur.blur(x, fresh), nublur.blur_adjoint(x, fresh)))
        finally:
            nublur.set_fft_engine(None)
    np.testing.assert_allclose(results[0][0], results[1][0], atol=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], atol=1e-6)


def test_colour_channels_and_dtype(rng):
    field = make_field("basis", rng, (20, 24), size=5)
    img = rng.random((3, 20, 24)).astype(np.float32)
    out = nublur.blur(img, field, channel_axis=0)
    assert out.shape == img.shape and out.dtype == np.float32
    for c in range(3):
        np.testing.assert_allclose(out[c], nublur.blur(img[c], field), atol=1e-7)
    adj = nublur.blur_adjoint(np.moveaxis(img, 0, -1), field, channel_axis=-1)
    np.testing.assert_allclose(adj[..., 1], nublur.blur_adjoint(img[1], field), atol=1e-7)


def test_integer_image_converted_like_img_as_float(rng):
    img = (rng.random((16, 16)) * 255).astype(np.uint8)
    k = nublur.linear_kernel(5, 0)
    out = nublur.blur(img, k)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, nublur.blur(img / 255.0, k), atol=1e-12)


@pytest.mark.parametrize("kind", FIELD_KINDS)
def test_inputs_are_not_modified(kind, rng):
    field = make_field(kind, rng)
    x = rng.random((13, 11))
    before = x.copy()
    nublur.blur(x, field)
    nublur.blur_adjoint(x, field)
    np.testing.assert_array_equal(x, before)


def test_blur_operator_with_scipy_cg(rng):
    from scipy.sparse.linalg import aslinearoperator, cg
    from scipy.sparse import identity

    shape = (24, 20)
    field = make_field("basis", rng, shape, size=5)
    op = nublur.BlurOperator(field, shape)
    data = op @ rng.random(shape).ravel()
    normal = op.H @ op + 1e-2 * aslinearoperator(identity(op.shape[1]))
    rhs = op.H @ data
    sol, info = cg(normal, rhs, rtol=1e-10, maxiter=500)
    assert info == 0
    np.testing.assert_allclose(normal @ sol, rhs, atol=1e-8)
    x = rng.random(op.shape[1])
    y = rng.random(op.shape[0])
    assert np.isclose(np.vdot(op @ x, y), np.vdot(x, op.H @ y), rtol=1e-12)


def test_blur_operator_colour(rng):
    field = make_field("uniform", rng)
    op = nublur.BlurOperator(field, (10, 9, 3), boundary="periodic")
    x = rng.random((10, 9, 3))
    np.testing.assert_allclose((op @ x.ravel()).reshape(x.shape),
                               nublur.blur(x, field, boundary="periodic", channel_axis=-1))


def test_mask_first_operator_is_exact(rng):
    """sum_b k_b conv (m_b u), built explicitly from scipy's convolution, zero boundary."""
    shape = (21, 18)
    kernels = random_kernels(rng, 3, 5)
    mixing = smooth_mixing(rng, 3, shape)
    op = nublur.mask_first_operator(kernels, mixing, boundary="constant")
    u = rng.random(shape)
    expected = sum(scipy.signal.convolve(mixing[b] * u, kernels[b], mode="same")
                   for b in range(3))
    np.testing.assert_allclose((op @ u.ravel()).reshape(shape), expected, atol=1e-12)


def test_correlation_kernels_adapter(rng):
    shape = (19, 17)
    kernels = random_kernels(rng, 2, 5)
    mixing = smooth_mixing(rng, 2, shape)
    field = nublur.BasisField.from_correlation_kernels(kernels, mixing)
    u = rng.random(shape)
    padded = np.pad(u, 2, mode="symmetric")
    expected = sum(mixing[b] * scipy.signal.correlate(padded, kernels[b], mode="valid")
                   for b in range(2))
    np.testing.assert_allclose(nublur.blur(u, field), expected, atol=1e-12)


def test_camera_response_functions():
    x = np.linspace(-0.5, 2.0, 501)
    a = 50.0
    r = nublur.smooth_clip(x, a)
    np.testing.assert_allclose(r, x - np.log1p(np.exp(a * (x - 1))) / a, rtol=1e-12, atol=1e-14)
    h = 1e-6
    numeric = (nublur.smooth_clip(x + h, a) - nublur.smooth_clip(x - h, a)) / (2 * h)
    np.testing.assert_allclose(nublur.smooth_clip_derivative(x, a), numeric, atol=1e-6)
    assert np.all(np.isfinite(nublur.smooth_clip(np.array([1e6, -1e6]))))
    assert nublur.smooth_clip(np.array([5.0]))[0] <= 1.0 < nublur.smooth_clip(np.array([1.2]))[0] + 0.01
    v = nublur.camera_response(np.array([0.25, 0.5]), gamma=2.0)
    np.testing.assert_allclose(v, np.sqrt(nublur.smooth_clip(np.array([0.25, 0.5]))))
    assert nublur.camera_response(np.array([-0.3]))[0] == 0.0


def test_discrete_linear_field_is_applied_from_a_kernel_table(rng):
    """Few distinct motions (002's integer flows): a table of kernels, same operator."""
    from nublur import synth
    from nublur.operators import _gather

    shape = (40, 48)
    field = synth.motion_flow(shape, np.random.default_rng(0))
    table = _gather.kernel_table(field)  # at the first application
    assert table is not None and len(table.ptr) - 1 < field.length.size // 4
    assert _gather.kernel_table(make_field("linear_discrete", rng, (13, 11))) is not None
    _check_against_rasterising(field, rng)


def test_continuous_linear_field_gets_a_per_pixel_table_at_its_second_application(rng):
    from nublur.operators import _gather

    field = make_field("linear", rng, (40, 48), size=9)
    assert _gather.kernel_table(field) is None  # first application: rasterised
    table = _gather.kernel_table(field)
    assert table is not None and len(table.ptr) - 1 == field.length.size
    _check_against_rasterising(field, rng)


def test_per_pixel_table_respects_its_memory_budget(rng, monkeypatch):
    from nublur.operators import _gather

    monkeypatch.setenv("NUBLUR_TABLE_MIB", "0.1")  # 40 x 48 needs ~0.3 MB
    field = make_field("linear", rng, (40, 48), size=9)
    assert [_gather.kernel_table(field) for _ in range(3)] == [None] * 3
    _check_against_rasterising(field, rng)
    monkeypatch.setenv("NUBLUR_TABLE_MIB", "lots")
    other = make_field("linear", rng, (40, 48), size=9)
    assert _gather.kernel_table(other) is None
    with pytest.raises(ValueError, match="NUBLUR_TABLE_MIB"):
        _gather.kernel_table(other)


def _check_against_rasterising(field, rng):
    from nublur.operators import _gather
    from nublur.operators.blur import ChannelOperator

    twin = _gather.rasterised(field)
    assert _gather.kernel_table(twin) is None and _gather.kernel_table(twin) is None
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        x = rng.random(field.image_shape + (3,)).astype(dtype)
        for boundary in ("reflect", "constant"):
            for op in (nublur.blur, nublur.blur_adjoint):
                fast = op(x, field, boundary=boundary, channel_axis=-1)
                assert fast.dtype == dtype
                np.testing.assert_allclose(fast, op(x, twin, boundary=boundary, channel_axis=-1),
                                           atol=tol, rtol=0)
                np.testing.assert_allclose(op(x[..., 0], field, boundary=boundary),
                                           fast[..., 0], atol=tol, rtol=0)
            solver_op = ChannelOperator(field, boundary)  # the solvers' batched channels
            np.testing.assert_array_equal(solver_op.forward(x),
                                          nublur.blur(x, field, boundary=boundary,
                                                      channel_axis=-1))
            np.testing.assert_array_equal(solver_op.adjoint(x),
                                          nublur.blur_adjoint(x, field, boundary=boundary,
                                                              channel_axis=-1))


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("kind", ["grid", "segments"])
def test_compact_support_fields_over_many_tiles_match_reference(kind, boundary, rng):
    """Grids and segment masks over several FFT tiles: each tile transforms only the kernels
    whose maps are non-zero there, and still equals the dense expansion and the dot test."""
    from nublur.operators._basis_fft import BasisPlan

    shape = (337, 301)
    if kind == "grid":
        field = nublur.GridField(random_kernels(rng, 20, 9).reshape(5, 4, 9, 9), shape)
    else:
        from fields_factory import segment_mixing
        field = nublur.BasisField(random_kernels(rng, 4, 9), segment_mixing(rng, 4, shape))
    plan = BasisPlan(field.kernels, field.mixing_window, shape, np.float64, boundary)
    counts = [len(a) for row in plan.active for a in row]
    assert min(plan.grid) > 1 and max(counts) < field.num_basis
    mixing = field.mixing
    x, y = rng.random(shape), rng.random(shape)
    kernels = np.einsum("bhw,bkl->hwkl", mixing, field.kernels)
    np.testing.assert_allclose(nublur.blur(x, field, boundary=boundary),
                               ref_blur(x, kernels, boundary), atol=1e-11)
    dense = nublur.BasisField(field.kernels, mixing)
    np.testing.assert_allclose(nublur.blur_adjoint(y, field, boundary=boundary),
                               nublur.blur_adjoint(y, dense, boundary=boundary), atol=1e-11)
    lhs = np.vdot(nublur.blur(x, field, boundary=boundary), y)
    rhs = np.vdot(x, nublur.blur_adjoint(y, field, boundary=boundary))
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)


def test_grid_tiles_need_few_kernels_whatever_the_grid(rng):
    """Tiles cut along the grid's breaks: at 1024^2 every tile of a 5 x 5 or a 12 x 12 grid
    lies in one cell and transforms its 4 kernels (or fewer at the border); regular tiles of
    the 5 x 5 grid straddle nodes and need up to 9."""
    from nublur.operators._basis_fft import BasisPlan

    shape = (1024, 1024)
    most = {}
    for g in (5, 12):
        field = nublur.GridField(random_kernels(rng, g * g, 33).reshape(g, g, 33, 33), shape)
        plan = BasisPlan(field.kernels, field.mixing_window, shape, np.float32, "constant",
                         breaks=field.mixing_breaks())
        most[g] = max(len(a) for row in plan.active for a in row)
        if g == 5:
            regular = BasisPlan(field.kernels, field.mixing_window, shape, np.float32,
                                "constant")
            assert max(len(a) for row in regular.active for a in row) > 4
    assert most == {5: 4, 12: 4}


@pytest.mark.parametrize("breaks", [None, [7, 50, 51, 99], [1, 120]])
def test_tile_starts_cover_the_axis_without_straddling_a_break(breaks):
    from nublur.operators._basis_fft import tile_starts

    starts = tile_starts(121, 30, breaks)
    assert starts[0] == 0 and starts[-1] == 121 and np.all(np.diff(starts) > 0)
    assert np.diff(starts).max() <= 30
    assert set(breaks or []) <= set(starts.tolist())


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_grid_with_uneven_nodes_on_aligned_tiles_matches_reference(boundary, rng):
    """A 4 x 3 grid with uneven, non-integer nodes, through ``nublur.blur`` (tiles cut along
    its breaks, several per cell): equals the dense expansion, adjoint by the dot test."""
    shape = (241, 203)
    field = nublur.GridField(random_kernels(rng, 12, 9).reshape(4, 3, 9, 9), shape,
                             row_nodes=[3.5, 60.2, 61.7, 230.0], col_nodes=[-4.0, 101.0, 150.5])
    plan_breaks = field.mixing_breaks()
    assert [len(b) for b in plan_breaks] == [2, 1]
    mixing = field.mixing
    x, y = rng.random(shape), rng.random(shape)
    kernels = np.einsum("bhw,bkl->hwkl", mixing, field.kernels)
    v = nublur.blur(x, field, boundary=boundary)
    np.testing.assert_allclose(v, ref_blur(x, kernels, boundary), atol=1e-11)
    plan = next(iter(field._plans.values()))
    assert len(plan.row_starts) > 3 and len(plan.col_starts) > 2
    dense = nublur.BasisField(field.kernels, mixing)  # regular tiles, every map
    np.testing.assert_allclose(nublur.blur_adjoint(y, field, boundary=boundary),
                               nublur.blur_adjoint(y, dense, boundary=boundary), atol=1e-11)
    assert abs(np.vdot(v, y) - np.vdot(x, nublur.blur_adjoint(y, field, boundary=boundary))) \
        <= 1e-12 * abs(np.vdot(v, y))


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("grid, nodes", [((4, 3), ([3.5, 60.2, 61.7, 230.0], [-4.0, 101.0, 150.5])),
                                         ((5, 5), (None, None)), ((1, 2), (None, None))])
def test_separable_grid_plan_equals_the_basis_plan(boundary, grid, nodes, rng):
    """The separable GridField path (column inverses per node pair, row inverses per row
    node) equals the basis path over the same maps and passes the dot test (float64)."""
    pytest.importorskip("pyfftw")
    from nublur.operators._basis_fft import BasisPlan
    from nublur.operators._grid_fft import GridPlan

    shape = (241, 203)
    kernels = random_kernels(rng, grid[0] * grid[1], 9).reshape(grid + (9, 9))
    field = nublur.GridField(kernels, shape, row_nodes=nodes[0], col_nodes=nodes[1])
    separable = GridPlan(field, shape, np.float64, boundary)
    basis = BasisPlan(field.kernels, field.mixing_window, shape, np.float64, boundary)
    x, y = rng.random(shape), rng.random(shape)
    x_in, y_in = x.copy(), y.copy()
    v, a = separable.forward(x), separable.adjoint(y)
    np.testing.assert_allclose(v, basis.forward(x), atol=1e-12)
    np.testing.assert_allclose(a, basis.adjoint(y), atol=1e-12)
    assert abs(np.vdot(v, y) - np.vdot(x, a)) <= 1e-12 * abs(np.vdot(v, y))
    np.testing.assert_array_equal(x, x_in)
    np.testing.assert_array_equal(y, y_in)


def test_grid_field_blur_takes_the_separable_path_in_float32(rng):
    pytest.importorskip("pyfftw")
    from nublur.operators._grid_fft import GridPlan

    shape = (300, 280)
    field = nublur.GridField(random_kernels(rng, 25, 15).reshape(5, 5, 15, 15)
                             .astype(np.float32), shape)
    x = rng.random(shape, dtype=np.float32)
    v = nublur.blur(x, field, boundary="reflect")
    assert isinstance(next(iter(field._plans.values())), GridPlan) and v.dtype == np.float32
    dense = nublur.BasisField(field.kernels.astype(np.float64), field.mixing.astype(np.float64),
                              normalize=True)
    np.testing.assert_allclose(v, nublur.blur(x.astype(np.float64), dense), atol=2e-6)
