"""Inverse filters, the LUT, IRC, ADMM and the FFT/CG baselines."""

import numpy as np
import pytest

import nublur
from conftest import shared_data
from nublur.operators.filtering import FilterOperator
from nublur.solvers.inverse_filters import preconditioner_filter
from test_kernels import cpcr_label, tikhonov_inverse_filter


def test_inverse_filters_single_kernel_match_dense_tikhonov():
    k = nublur.linear_kernel(9, 30)
    result = nublur.inverse_filters(k, 31, 1e-2)
    np.testing.assert_allclose(result.filters[0], tikhonov_inverse_filter(k, 31, 1e-2),
                               atol=1e-9)
    assert 0 < result.residual < 1
    assert result.spectral_radius > 1  # CPCR's observation: 31x31 is not strictly contractive


def test_inverse_filters_satisfy_eq10_within_reported_residual(rng):
    import scipy.signal

    grad = np.zeros((7, 7))
    grad[3, 3], grad[3, 4] = 0.3, -0.3
    kernels = np.stack([nublur.camera_shake_kernel(7, rng), grad, grad.T])
    result = nublur.inverse_filters(kernels, 21, 1e-3)
    total = sum(scipy.signal.convolve(k, d, mode="full") for k, d in zip(kernels, result.filters))
    total[total.shape[0] // 2, total.shape[1] // 2] -= 1
    assert np.linalg.norm(total) == pytest.approx(result.residual, rel=1e-9)


def test_lut_reproduces_cpcr_entries():
    table = np.load(shared_data("cpcr_lut", "cpcr_inverse_filters_361x31x31.npy"))
    lut = nublur.LinearKernelLUT(support=31, lazy=True, cache=False)
    picks = [0, 1, 12, 100, 200, 360]
    ours = []
    for label in picks:
        length, angle = cpcr_label(label)
        ours.append(int(lut.nearest(length, angle)))
    filters = lut.filters_for(ours)[:, 0]
    for label, f in zip(picks, filters):
        np.testing.assert_allclose(f, table[label], atol=1e-5)


def test_lut_labels_and_blend():
    lut = nublur.LinearKernelLUT(support=31, lazy=True, cache=False)
    assert lut.size == 511
    assert lut.motion_of(0) == (1.0, 0.0) and lut.motion_of(510) == (35.0, 174.0)
    labels, weights = lut.blend(np.array([4.0, 35.0]), np.array([177.0, 90.0]))
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0)
    assert set(labels[0]) == {494, 1, 495, 2}  # lengths 3/5, angles 174/0 (wrapped)
    assert int(lut.nearest(4.0, 177.0)) == 2  # round half to even, as CPCR


def test_irc_converges_to_dense_least_squares(rng):
    """Preconditioned (factored eq. 14) IRC reaches the exact LS solution of a small problem."""
    n = 20
    k = nublur.camera_shake_kernel(5, rng)
    g = np.zeros((3, 3))
    g[1, 1], g[1, 2] = 0.5, -0.5
    kernel_set = np.stack([np.pad(k, 0), np.pad(g, 1), np.pad(g.T, 1)])
    ops = [FilterOperator(kk, boundary="reflect") for kk in kernel_set]
    targets = [rng.random((n, n)) for _ in ops]
    mat = np.stack([np.concatenate([op.forward(e.reshape(n, n)).ravel() for op in ops])
                    for e in np.eye(n * n)], axis=1)
    x_ls = np.linalg.lstsq(mat, np.concatenate([t.ravel() for t in targets]), rcond=None)[0]
    p, response = preconditioner_filter(kernel_set, 21)
    assert response.min() > 0
    pre = FilterOperator(p, boundary="reflect")
    x, hist = nublur.irc(np.zeros((n, n)), targets, [op.forward for op in ops], num_iter=300,
                         damping=0.9 / response.max(),
                         kernel_adjoints=[op.adjoint for op in ops], preconditioner=pre.forward)
    assert hist[-1] < hist[0]
    np.testing.assert_allclose(x.ravel(), x_ls, atol=1e-6)


def test_fft_equals_cg_for_periodic_images(rng):
    x = rng.random((40, 36))
    k = nublur.camera_shake_kernel(9, rng)
    y = nublur.blur(x, k, boundary="periodic")
    fft = nublur.deconv_fft(y, k, 0.003, boundary="none")
    cg = nublur.deconv_cg(y, k, 0.003, boundary="periodic", tol=1e-12, maxiter=5000)
    np.testing.assert_allclose(fft, cg, atol=1e-8)


def test_admm_objective_decreases(rng):
    from scipy.ndimage import gaussian_filter

    x = gaussian_filter(rng.random((48, 48)), 1.0)
    k = nublur.linear_kernel(7, 20)
    y = nublur.blur(x, k) + rng.normal(0, 0.01, x.shape)
    for solver in (nublur.admm_irc, lambda *a, **kw: nublur.deconv_cg(*a, prior="l1", **kw)):
        values = []
        solver(y, k, lam=0.003, callback=lambda t, est, f: values.append(f))
        assert len(values) == 10
        assert values[-1] < values[0]


@pytest.mark.parametrize("boundary", ["reflect", "mirror", "replicate", "constant", "periodic"])
def test_finite_differences_equal_filter_path(boundary, rng):
    from nublur.operators.filtering import FiniteDifference, gradient_filters

    x, y = rng.random((13, 11)), rng.random((13, 11))
    for axis in (0, 1):
        fast = FiniteDifference(axis, boundary)
        slow = FilterOperator(gradient_filters()[axis], boundary=boundary)
        np.testing.assert_allclose(fast.forward(x), slow.forward(x), atol=1e-12)
        np.testing.assert_allclose(fast.adjoint(y), slow.adjoint(y), atol=1e-12)


def test_constant_linear_field_admm_equals_uniform_solver(rng):
    from scipy.ndimage import gaussian_filter

    shape = (48, 44)
    x = gaussian_filter(rng.random(shape), 1.0)
    field = nublur.LinearMotionField(np.full(shape, 9.0), np.full(shape, 30.0))
    y = nublur.blur(x, field) + rng.normal(0, 0.01, shape)
    nonuniform = nublur.admm_irc(y, field, lookup="nearest", support=37)
    uniform = nublur.admm_irc(y, nublur.linear_kernel(9, 30), support=37)
    np.testing.assert_allclose(nonuniform, uniform, atol=1e-10)


def test_linear_motion_field_admm_runs_and_improves(rng):
    from scipy.ndimage import gaussian_filter

    shape = (40, 40)
    x = gaussian_filter(rng.random(shape), 1.0)
    field = nublur.LinearMotionField(np.full(shape, 7.0), np.linspace(0, 60, 40)[None].repeat(40, 0))
    y = nublur.blur(x, field)
    out = nublur.admm_irc(y, field, lam=1e-4)
    assert np.mean((out - x) ** 2) < np.mean((y - x) ** 2)


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"prior": "l2"}, ValueError, "prior"),
    ({"lam": -1}, ValueError, "lam"),
    ({"num_admm": 0}, ValueError, "num_admm"),
    ({"num_irc": 0}, ValueError, "num_irc"),
    ({"rho": 0}, ValueError, "rho"),
    ({"callback": 1}, TypeError, "callback"),
    ({"lookup": "bilinear"}, ValueError, "lookup"),
])
def test_admm_bad_inputs(kwargs, exc, match, rng):
    with pytest.raises(exc, match=match):
        nublur.admm_irc(rng.random((16, 16)), nublur.linear_kernel(3, 0), **kwargs)


def test_admm_rejects_other_fields(rng):
    field = nublur.BasisField(np.ones((1, 3, 3)) / 9, np.ones((1, 8, 8)))
    with pytest.raises(TypeError, match="psf"):
        nublur.admm_irc(rng.random((8, 8)), field)
    with pytest.raises(ValueError, match="35 px"):
        nublur.admm_irc(rng.random((8, 8)), nublur.LinearMotionField(np.full((8, 8), 40.0),
                                                                     np.zeros((8, 8))))


def test_plain_irc_solves_an_invertible_single_kernel_problem(rng):
    """Algorithm 2.1 as in 001 (x += d * r): with one invertible kernel its fixed point is
    the exact solution, and the eq. 10-14 filter of a well-conditioned kernel contracts."""
    n = 24
    k = np.zeros((5, 5))
    k[2, 2], k[2, 3], k[1, 2] = 0.7, 0.2, 0.1
    result = nublur.inverse_filters(k, 21, 1e-3)
    assert result.spectral_radius < 1
    op = FilterOperator(k, boundary="periodic")
    d = FilterOperator(result.filters[0], boundary="periodic")
    truth = rng.random((n, n))
    y = op.forward(truth)
    x, hist = nublur.irc(d.forward(y), [y], [op.forward], [d.forward], num_iter=60)
    assert hist[-1] < 1e-12 * hist[0]
    np.testing.assert_allclose(x, truth, atol=1e-8)


def test_preconditioner_filter_is_the_windowed_circulant_inverse():
    """p against a direct float64 construction: inverse of sum |K_i|^2 + rho on a 256 grid,
    centred crop, Gaussian window sigma = size / 8; e(w) = P(w) sum |K_i(w)|^2."""
    k = nublur.linear_kernel(11, 40, size=11)
    g = np.zeros((11, 11))
    g[5, 5], g[5, 6] = 0.3, -0.3
    kernels, size, grid = np.stack([k, g, g.T]), 15, 256
    spectra = []
    for kk in kernels:
        z = np.zeros((grid, grid))
        z[:11, :11] = kk
        spectra.append(np.fft.fft2(np.roll(z, (-5, -5), axis=(0, 1))))
    power = sum(np.abs(s) ** 2 for s in spectra)
    full = np.fft.fftshift(np.real(np.fft.ifft2(1 / (power + 1e-2))))
    c = grid // 2
    r = np.arange(size) - size // 2
    window = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * (size / 8) ** 2))
    expected = full[c - 7:c + 8, c - 7:c + 8] * window
    expected = 0.5 * (expected + expected[::-1, ::-1])
    p, response = preconditioner_filter(kernels, size, 1e-2)
    np.testing.assert_allclose(p, expected, atol=1e-12)
    z = np.zeros((grid, grid))
    z[:size, :size] = expected
    e = np.real(np.fft.fft2(np.roll(z, (-7, -7), axis=(0, 1)))) * power
    np.testing.assert_allclose(response, e[:, :grid // 2 + 1], atol=1e-10)


def test_batched_preconditioners_equal_one_by_one(rng):
    from nublur.solvers.inverse_filters import preconditioner_filters

    sets = np.stack([np.stack([nublur.camera_shake_kernel(9, rng) for _ in range(3)])
                     for _ in range(5)])
    filters, responses = preconditioner_filters(sets, 21, 1e-2, chunk=2)
    for s, f, e in zip(sets, filters, responses):
        p, response = preconditioner_filter(s, 21, 1e-2)
        np.testing.assert_allclose(f, p, atol=1e-13)
        np.testing.assert_allclose(e, response, atol=1e-12)


def test_factored_lut_holds_preconditioners_and_their_response_range(tmp_path, monkeypatch):
    from nublur.operators.filtering import gradient_filters
    from nublur.solvers.lut import LinearKernelLUT

    monkeypatch.setenv("NUBLUR_CACHE_DIR", str(tmp_path))
    grads = gradient_filters() * np.sqrt(0.1)
    lut = LinearKernelLUT(41, 1e-2, grads, lazy=True, form="factored")
    labels = [0, 17, 300]
    filters, ranges = lut.filters_for(labels), lut.response_range(labels)
    assert filters.shape == (3, 1, 41, 41)
    for label, f, (lo, hi) in zip(labels, filters, ranges):
        p, response = preconditioner_filter(lut.kernel_set(label), 41, 1e-2)
        np.testing.assert_allclose(f[0], p, atol=1e-13)
        assert (lo, hi) == pytest.approx((response.min(), response.max()))
    again = LinearKernelLUT(41, 1e-2, grads, lazy=True, form="factored")  # from the cache
    assert again._done[labels].all()
    np.testing.assert_array_equal(again.filters_for(labels), filters)
    with pytest.raises(ValueError, match="form"):
        LinearKernelLUT(41, form="dense")
    with pytest.raises(ValueError, match="factored"):
        LinearKernelLUT(41, lazy=True).response_range([0])


def test_filter_compression_matches_truncated_svd(rng):
    from nublur.solvers.admm import _compress_filters

    filters = rng.standard_normal((3, 11, 11))[None] * rng.random((40, 3, 1, 1))
    filters = filters.sum(axis=1) + 1e-4 * rng.standard_normal((40, 11, 11))
    basis, coeffs = _compress_filters(filters, rel_tol=1e-2, floor=None)
    assert basis.shape[0] == 3
    approx = np.tensordot(coeffs, basis, axes=1)
    u, s, vt = np.linalg.svd(filters.reshape(40, -1), full_matrices=False)
    best = (u[:, :3] * s[:3]) @ vt[:3]
    np.testing.assert_allclose(approx.reshape(40, -1), best, atol=1e-9)


def test_filter_compression_raises_rank_to_keep_responses_positive():
    from nublur.solvers.admm import _compress_filters, _real_spectra

    # Tikhonov preconditioners of box blurs of many lengths: positive responses, and a
    # low-rank truncation that undershoots some of them
    grid = np.fft.fftfreq(64)
    filters = []
    for length in range(1, 40, 2):
        response = 1.0 / (np.sinc(length * grid)[:, None] ** 2 * np.ones(64) + 1e-2)
        filters.append(np.fft.fftshift(np.fft.ifft2(response).real)[16:49, 16:49])
    filters = np.asarray(filters)
    exact = _real_spectra(filters, 66)
    loose, loose_coeffs = _compress_filters(filters, rel_tol=0.3, floor=None)
    tight, coeffs = _compress_filters(filters, rel_tol=0.3, ranks=(4, 8, 12, 16), floor=0.25)
    kept = np.tensordot(coeffs, _real_spectra(tight, 66), axes=1)
    undershot = np.tensordot(loose_coeffs, _real_spectra(loose, 66), axes=1)
    floor = np.minimum(0.25 * exact, exact) - 1e-9 * np.abs(exact).max()
    assert np.any(undershot < floor)  # the plain truncation breaks the floor ...
    assert len(tight) > len(loose)  # ... so the rank is raised
    assert np.all(kept >= floor)


@pytest.mark.parametrize("boundary", ["reflect", "replicate", "constant"])
def test_step_size_bound_from_small_proxy_covers_the_full_problem(boundary):
    """The uniform IRC step uses a 96 x 96 power estimate; with its 1.1 margin it must cover
    the top of the spectrum of the full-size operator (found by a long power iteration)."""
    from nublur.solvers import admm

    psf = nublur.linear_kernel(15, 30, size=21)
    problem = admm._Problem(nublur.UniformField(psf), (200, 180), np.float64, boundary)
    update = admm._IRCUpdate(problem, 0.1, 2, None, 1e-2)
    top = admm._power_estimate(problem, update.precondition, 0.1, iters=60)
    assert 1.9 / update.damping - update.spectral_min >= top


def test_basis_mixing_equals_the_dense_label_mixing(rng):
    """Per-pixel basis weights from 4 labels each = dense (label, pixel) mixing times coeffs."""
    from nublur.solvers.admm import _basis_mixing

    labels = rng.integers(0, 7, (5, 6, 4))
    weights = rng.random((5, 6, 4))
    coeffs = rng.standard_normal((7, 3))
    dense = np.zeros((7, 5, 6))
    for i, j, n in np.ndindex(labels.shape):
        dense[labels[i, j, n], i, j] += weights[i, j, n]
    np.testing.assert_allclose(_basis_mixing(coeffs, labels, weights),
                               np.tensordot(coeffs.T, dense, axes=1), atol=1e-13)


@pytest.mark.parametrize("field_kind", ["uniform", "linear"])
def test_irc_x_update_equals_algorithm_2_1(field_kind, rng):
    """The ADMM x-update iterates on the normal residual; its iterates must be those of
    ``irc``'s factored form with the kernel set {H, sqrt(rho) g_1, sqrt(rho) g_2}."""
    from nublur.solvers import admm

    shape, rho = (40, 36), 0.1
    if field_kind == "uniform":
        field = nublur.UniformField(nublur.linear_kernel(7, 30, size=9))
    else:
        field = nublur.LinearMotionField(np.full(shape, 7.0) + rng.random(shape),
                                         np.full(shape, 20.0) + 10 * rng.random(shape))
    problem = admm._Problem(field, shape, np.float64, "reflect")
    update = admm._IRCUpdate(problem, rho, 3, None, 1e-2)
    y, x0 = rng.random(shape), rng.random(shape)
    targets = [rng.standard_normal(shape), rng.standard_normal(shape)]
    update.start(problem, y)
    sr = np.sqrt(rho)
    kernels = [problem.blur] + [lambda v, g=g: sr * g.forward(v) for g in problem.grads]
    adjoints = [problem.blur_t] + [lambda v, g=g: sr * g.adjoint(v) for g in problem.grads]
    expected, _ = nublur.irc(x0, [y] + targets, kernels, num_iter=3, damping=update.damping,
                             kernel_adjoints=adjoints, preconditioner=update.precondition)
    np.testing.assert_allclose(update(x0, targets), expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("boundary", ["reflect", "mirror", "replicate", "constant", "periodic"])
@pytest.mark.parametrize("kind", ["psf", "linear"])
def test_admm_irc_reaches_cg_on_every_boundary(boundary, kind, rng):
    # with the problem's replicate folds in its step filters ADMM-IRC diverged (-11 to 11 dB)
    from scipy.ndimage import gaussian_filter

    sharp = gaussian_filter(rng.random((64, 64)), 2)
    sharp = (sharp - sharp.min()) / np.ptp(sharp)
    rows, cols = np.indices(sharp.shape)
    field = nublur.linear_kernel(15, 30.0) if kind == "psf" else \
        nublur.LinearMotionField(8 + 6 * rows / 64, 20 + 100 * cols / 64)
    y = nublur.blur(sharp, field, boundary=boundary) + 0.01 * rng.standard_normal(sharp.shape)
    irc = nublur.admm_irc(y, field, boundary=boundary)
    cg = nublur.deconv_cg(y, field, 0.003, prior="l1", boundary=boundary)
    err = lambda x: np.sqrt(np.mean((x - sharp)[6:-6, 6:-6] ** 2))  # noqa: E731
    assert err(irc) <= 1.1 * err(cg)


def test_kept_label_spectra_give_the_same_compression():
    """The table's per-label spectra, kept across calls, replace recomputing them: the same
    basis and coefficients as spectra computed from the scaled filters."""
    from nublur.solvers.admm import (_check_grid, _compress_filters, _label_spectra,
                                     _real_spectra, step_lut)

    lut = step_lut(0.1)
    used = np.array([0, 5, 40, 41, 77, 200, 301, 510])
    steps = 2.0 / lut.response_range(used).sum(axis=1)
    filters = lut.filters_for(used)[:, 0] * steps[:, None, None]
    basis, coeffs = _compress_filters(filters, max_rank=4, ranks=(6,))
    kept_basis, kept_coeffs = _compress_filters(
        filters, max_rank=4, ranks=(6,),
        spectra=lambda grid: _label_spectra(lut, used, grid) * steps[:, None])
    np.testing.assert_allclose(kept_basis, basis, atol=1e-12)
    np.testing.assert_allclose(kept_coeffs, coeffs, atol=1e-12)
    grid = _check_grid(filters.shape[-1])
    np.testing.assert_allclose(_label_spectra(lut, used[::-1], grid) * steps[::-1, None],
                               _real_spectra(filters[::-1], grid).reshape(len(used), -1),
                               atol=1e-12)
    assert step_lut(0.1) is lut


def _dense(op):
    """A linear operator on (H, W) images as an (H W, H W) float64 matrix."""
    h, w = op.shape
    eye = np.eye(h * w).reshape(h * w, h, w)
    return np.stack([op(e).ravel() for e in eye], axis=1).astype(np.float64)


def _windowed_reference(filters, labels, weights, rows, cols, v):
    """sum_t r_t (p_t * (r_t v)) in float64 with scipy, linear convolution, zero outside."""
    from scipy.signal import convolve2d

    h, w = v.shape
    out = np.zeros((h, w))
    hats = []
    for centres, n in ((rows, h), (cols, w)):
        if len(centres) == 1:
            hats.append(np.ones((1, n)))
            continue
        d = np.abs(np.arange(n)[None] - centres[:, None]) / (centres[1] - centres[0])
        hats.append(np.sqrt(np.maximum(0.0, 1.0 - d)))
    for a, b in np.ndindex(len(rows), len(cols)):
        p = np.tensordot(weights[a, b], filters[labels[a, b]], axes=1)
        root = np.outer(hats[0][a], hats[1][b])
        out += root * convolve2d(root * v, p, mode="same")
    return out


@pytest.mark.parametrize("shape,spacing", [((23, 30), 8), ((1, 17), 6), ((19, 9), 40)])
def test_windowed_step_filters_equal_the_float64_reference_and_are_symmetric(shape, spacing,
                                                                             rng):
    from nublur.solvers._windowed_step import WindowedFilters, node_centres

    filters = rng.standard_normal((5, 7, 7))
    filters = 0.5 * (filters + filters[:, ::-1, ::-1])
    rows, cols = node_centres(shape[0], spacing), node_centres(shape[1], spacing)
    labels = rng.integers(0, 5, (len(rows), len(cols), 3))
    weights = rng.random((len(rows), len(cols), 3))
    op = WindowedFilters(filters, labels, weights, rows, cols, shape)
    v = rng.standard_normal(shape)
    expected = _windowed_reference(filters, labels, weights, rows, cols, v)
    np.testing.assert_allclose(op(v), expected, atol=2e-5 * np.abs(expected).max())
    dense = _dense(op)
    np.testing.assert_allclose(dense, dense.T, atol=1e-5 * np.abs(dense).max())


def test_windowed_step_blends_node_spectra_on_the_fly_beyond_its_memory_budget(rng,
                                                                               monkeypatch):
    from nublur.solvers import _windowed_step
    from nublur.solvers._windowed_step import WindowedFilters, node_centres

    filters = rng.standard_normal((4, 9, 9))
    rows, cols = node_centres(40, 10), node_centres(33, 10)
    labels = rng.integers(0, 4, (len(rows), len(cols), 4))
    weights = rng.random((len(rows), len(cols), 4))
    v = rng.standard_normal((40, 33))
    kept = WindowedFilters(filters, labels, weights, rows, cols, (40, 33))
    monkeypatch.setattr(_windowed_step, "_KEPT_BYTES", 0)
    blended = WindowedFilters(filters, labels, weights, rows, cols, (40, 33))
    assert kept.node_spectra is not None and blended.node_spectra is None
    np.testing.assert_allclose(blended(v), kept(v), atol=1e-5 * np.abs(kept(v)).max())


def test_windowed_step_of_positive_filters_is_positive_semidefinite(rng):
    """Each window term r_t (p_t * r_t .) is PSD when p_t's response is >= 0 (a Gaussian)."""
    from nublur.solvers._windowed_step import WindowedFilters, node_centres

    r = np.arange(-4, 5)
    gauss = np.exp(-(r[:, None] ** 2 + r[None] ** 2) / 4.0)
    filters = np.stack([gauss, 2 * gauss])
    rows, cols = node_centres(14, 5), node_centres(12, 5)
    labels = rng.integers(0, 2, (len(rows), len(cols), 1))
    op = WindowedFilters(filters, labels, np.ones(labels.shape), rows, cols, (14, 12))
    dense = _dense(op)
    eigenvalues = np.linalg.eigvalsh(0.5 * (dense + dense.T))
    assert eigenvalues.min() >= -1e-5 * eigenvalues.max()


def _small_problem(kind, rng, shape=(26, 24), boundary="reflect"):
    from nublur.solvers import admm

    if kind == "uniform":
        field = nublur.UniformField(nublur.linear_kernel(7, 30, size=9))
    else:
        rows, cols = np.indices(shape)
        field = nublur.LinearMotionField(5 + 6 * rows / shape[0], 10 + 90 * cols / shape[1])
    return admm._Problem(field, shape, np.float64, boundary)


def _normal_matrix(problem, rho):
    n = problem.shape[0] * problem.shape[1]
    eye = np.eye(n).reshape((n,) + problem.shape)
    return np.stack([problem.normal(e, rho).ravel() for e in eye], axis=1)


@pytest.mark.parametrize("kind", ["uniform", "linear"])
@pytest.mark.parametrize("boundary", ["reflect", "replicate", "constant"])
def test_optimal_x_update_minimises_eq5_over_its_directions(kind, boundary, rng):
    """Against a dense float64 solve of eq. 5: an x-update of T steps is no worse in the A
    norm than T damped IRC steps x <- x + tau S r with the same S, whatever tau (a scan),
    and many steps reach the exact solution."""
    from nublur.solvers import admm

    rho = 0.1
    problem = _small_problem(kind, rng, boundary=boundary)
    a = _normal_matrix(problem, rho)
    y, x0 = rng.random(problem.shape), rng.random(problem.shape)
    targets = [rng.standard_normal(problem.shape) for _ in range(2)]
    rhs = problem.blur_t(y) + np.sqrt(rho) * problem.grad_t(targets)
    exact = np.linalg.solve(a, rhs.ravel()).reshape(problem.shape)

    def error(x):
        e = (x - exact).ravel()
        return float(e @ a @ e)

    def damped(step, tau, steps):
        x = x0.copy()
        for _ in range(steps):
            x = x + tau * step(rhs - (a @ x.ravel()).reshape(x.shape))
        return x

    for steps in (1, 2, 3):
        optimal = admm._SubspaceUpdate(problem, rho, steps, None, 1e-2)
        optimal.start(problem, y)
        best = min(error(damped(optimal.precondition, tau, steps))
                   for tau in np.geomspace(1e-3, 10, 60))
        assert error(optimal(x0, targets)) <= best * (1 + 1e-6)
    many = admm._SubspaceUpdate(problem, rho, 40, None, 1e-2)
    many.start(problem, y)
    assert error(many(x0, targets)) <= 1e-8 * error(x0)


def test_optimal_x_update_carries_its_residual_and_directions(rng):
    """The residual carried into the next x-update is the fresh rhs - A x, and the kept
    directions only ever help (a second update from the first one's result)."""
    from nublur.solvers import admm

    rho = 0.1
    problem = _small_problem("linear", rng)
    y, x0 = rng.random(problem.shape), rng.random(problem.shape)
    first = [rng.standard_normal(problem.shape) for _ in range(2)]
    second = [t + 0.1 * rng.standard_normal(problem.shape) for t in first]
    update = admm._SubspaceUpdate(problem, rho, 2, None, 1e-2)
    update.start(problem, y)
    x1 = update(x0, first)
    x2 = update(x1, second)
    rhs = problem.blur_t(y) + np.sqrt(rho) * problem.grad_t(second)
    np.testing.assert_allclose(update._carried[1], rhs - problem.normal(x2, rho), atol=1e-10)
    fresh = admm._SubspaceUpdate(problem, rho, 2, None, 1e-2)
    fresh.start(problem, y)
    alone = fresh(x1.copy(), second)  # not the previous result: nothing is carried
    a = _normal_matrix(problem, rho)
    exact = np.linalg.solve(a, rhs.ravel())
    err = lambda x: float((x.ravel() - exact) @ a @ (x.ravel() - exact))  # noqa: E731
    assert err(x2) <= err(alone) * (1 + 1e-9)


def test_admm_irc_step_modes(rng):
    from scipy.ndimage import gaussian_filter

    shape = (48, 48)
    sharp = gaussian_filter(rng.random(shape), 1.5)
    rows, cols = np.indices(shape)
    field = nublur.LinearMotionField(6 + 8 * rows / 48, 20 + 60 * cols / 48)
    y = nublur.blur(sharp, field) + 0.01 * rng.standard_normal(shape)
    err = lambda x: np.sqrt(np.mean((x - sharp)[6:-6, 6:-6] ** 2))  # noqa: E731
    optimal, fixed = (nublur.admm_irc(y, field, step=s) for s in ("optimal", "fixed"))
    assert err(optimal) < err(y) and err(fixed) < err(y)
    assert not np.allclose(optimal, fixed)
    with pytest.raises(ValueError, match="step"):
        nublur.admm_irc(y, field, step="adaptive")
