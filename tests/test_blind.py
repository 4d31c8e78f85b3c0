"""Blind estimation without training: estimate_psf, the classical patch field, refine_field."""

import numpy as np
import pytest
import scipy.signal
import skimage.data
from scipy.signal import fftconvolve

import nublur
from nublur.estimators.classical import ClassicalEstimator, estimate_psf, refine_field
from nublur.estimators.classical._kernel import (centre_kernel, clean_kernel,
                                                 kernel_least_squares, pad_kernel)
from nublur.estimators.classical.psf import (TRUNCATED_MASS, _masked_gradients,
                                             border_mass)


def aligned_ncc(a, b):
    """Largest normalised cross-correlation over all shifts (kernels compared up to shift)."""
    n = max(a.shape[0], b.shape[0])
    a, b = pad_kernel(a, n), pad_kernel(b, n)
    c = scipy.signal.correlate(a, b, mode="full")
    return c.max() / np.linalg.norm(a) / np.linalg.norm(b)


@pytest.fixture(scope="module")
def scene():
    return skimage.data.camera()[40:296, 120:376] / 255.0


def blurred(scene, psf, rng, noise=0.01):
    y = fftconvolve(scene, psf, mode="same") + noise * rng.standard_normal(scene.shape)
    return np.clip(y, 0, 1)


def support_size(psf):
    rows, cols = np.nonzero(psf > 0.02 * psf.max())
    return max(rows.max() - rows.min(), cols.max() - cols.min()) + 1


def shake_psf(size):
    """A camera-shake PSF (Boracchi-Foi trajectory) whose path spans most of its window."""
    for seed in range(200):
        psf = nublur.camera_shake_kernel(size, np.random.default_rng(seed))
        if support_size(psf) >= 0.6 * size:
            return psf / psf.sum()
    raise AssertionError("no wide trajectory found")


def psf_of(kind, size):
    return nublur.linear_kernel(size, 30.0) if kind == "line" else shake_psf(size)


CASES = [("line", 9), ("line", 21), ("shake", 9), ("shake", 15), ("shake", 25), ("shake", 45)]


@pytest.mark.parametrize("psf_kind, size", CASES)
def test_estimate_psf_recovers_known_psfs(psf_kind, size, scene, rng):
    """Several shapes and sizes, 1 % noise, automatic kernel size: the estimate is close to
    the true PSF up to shift (normalised cross-correlation), far closer than the delta or a
    disc of the same support, and RL with it improves on the blurry image and comes within
    2.5 dB of RL with the true PSF (up to shift; 0.3-1.9 dB measured on these cases).

    The NCC bound is 0.5: the natural-latent refit makes kernels thinner but uneven along
    the path, which lowers their NCC (0.58-0.64 for the 45 px shake: the value moves with
    FFT rounding, i.e. with the build and the FFT plans of the process) while RL with them gets
    closer to RL with the true PSF (over these cases and 3 seeds: mean loss 0.81 dB and
    mean NCC 0.78, against 1.07 dB and 0.83 with the smoother kernels of the L0 refit
    alone)."""
    psf = psf_of(psf_kind, size)
    y = blurred(scene, psf, rng)
    est = estimate_psf(y)
    assert est.shape[0] % 2 == 1 and est.min() >= 0 and est.sum() == pytest.approx(1.0)
    score = aligned_ncc(est, psf)
    assert score >= 0.5
    disc = np.hypot(*np.mgrid[-(size // 2):size // 2 + 1, -(size // 2):size // 2 + 1]) <= \
        support_size(psf) / 2
    assert score > aligned_ncc(disc / disc.sum(), psf) + 0.2
    assert score > aligned_ncc(np.ones((1, 1)), psf) + 0.2
    restored = nublur.richardson_lucy(y, est, 20)
    assert nublur.metrics.psnr(restored, scene, border=size) > \
        nublur.metrics.psnr(y, scene, border=size) + 1.0
    shifted = nublur.metrics.psnr_shift_compensated
    blind = shifted(nublur.richardson_lucy(y, est, 20, tv_weight=0.004), scene)[0]
    nonblind = shifted(nublur.richardson_lucy(y, psf, 20, tv_weight=0.004), scene)[0]
    assert blind > nonblind - 2.5


@pytest.mark.xfail(strict=True, reason="issue 19's target (NCC >= 0.9 at 1 % noise for every "
                   "shape, 9-45 px) is not met yet: measured 0.64-0.93, see the note")
def test_estimate_psf_meets_the_issue_target_on_every_shape(scene):
    scores = []
    for kind, size in CASES:
        psf = psf_of(kind, size)
        scores.append(aligned_ncc(estimate_psf(blurred(scene, psf,
                                                       np.random.default_rng(1234))), psf))
    assert min(scores) >= 0.9


@pytest.mark.parametrize("kind, size", [("line", 11), ("line", 25), ("shake", 25)])
def test_automatic_size_follows_the_support(kind, size, scene, rng):
    """With kernel_size=None the returned PSF's window is within a few pixels of the true
    support (never the 63 px window the search starts from)."""
    psf = psf_of(kind, size)
    est = estimate_psf(blurred(scene, psf, rng, noise=0.005))
    assert -2 <= est.shape[0] - support_size(psf) <= 8


def test_colour_and_gray_agree(scene, rng):
    """Equal channels give the gray luminance up to rounding (which the iterations may
    amplify a little): the two estimates agree and both find the PSF (NCC 0.89-0.93 over
    noise seeds for this line; the 0.9 target on every shape is the xfail test's)."""
    psf = nublur.linear_kernel(13, 60.0)
    y = blurred(scene, psf, rng, noise=0.005)
    gray = estimate_psf(y)
    colour = estimate_psf(np.stack([y, y, y], axis=0), channel_axis=0)
    assert aligned_ncc(colour, gray) >= 0.98
    assert aligned_ncc(colour, psf) >= 0.85


def test_estimate_is_deterministic(scene, rng):
    y = blurred(scene, nublur.linear_kernel(9, 120.0), rng)
    np.testing.assert_array_equal(estimate_psf(y), estimate_psf(y))


def test_estimate_psf_returns_diagnostics(scene, rng):
    psf = nublur.linear_kernel(15, 0.0)
    y = blurred(scene, psf, rng, noise=0.005)
    est, info = estimate_psf(y, return_info=True)
    np.testing.assert_array_equal(est, info.psf)
    assert len(info.kernels) == len(info.sizes) >= 3
    assert 0 <= info.confidence <= 1 and info.reblur_error < 0.05
    assert 0.002 < info.noise < 0.02


def test_border_mass_counts_the_rim_above_the_final_threshold():
    k = np.zeros((7, 7))
    k[3, 3] = 1.0
    k[0, 2] = 0.25  # on the rim
    k[1, 1] = 0.25  # inside
    k[6, 6] = 0.04  # below 1/20 of the max: not counted
    assert border_mass(k) == pytest.approx(0.25 / 1.5)
    assert border_mass(pad_kernel(nublur.linear_kernel(9, 30.0), 15)) == 0.0


def test_a_kernel_cut_by_its_window_is_not_trusted(scene, rng):
    """A 31 px line estimated in a 9 px window cannot fit: the kernel fills the window to its
    border, and the estimate reports confidence 0 (the deblur plan then leaves the image
    alone); in a window that holds it, the same blur gives a kernel off the border."""
    y = blurred(scene, nublur.linear_kernel(31, 0.0), rng, noise=0.005)
    _, cut = estimate_psf(y, kernel_size=9, return_info=True)
    assert cut.border_mass >= TRUNCATED_MASS and cut.confidence == 0.0
    assert nublur.deblur_plan(confidence=cut.confidence, radius=cut.blur_radius).action == \
        "none"
    _, fits = estimate_psf(y, kernel_size=41, return_info=True)
    assert fits.border_mass < TRUNCATED_MASS and fits.confidence > 0.5


def test_sparsity_candidates_keep_the_one_that_reblurs_best(scene, rng):
    """A sequence of sparsity weights gives the single-weight estimate with the lowest
    reblur error (same window), and its progress runs over all candidates to the end."""
    y = blurred(scene, shake_psf(13), rng)
    weights = (0.002, 0.01, 0.05)
    singles = [estimate_psf(y, kernel_size=17, sparsity=w, return_info=True) for w in weights]
    steps = []
    psf, info = estimate_psf(y, kernel_size=17, sparsity=weights, return_info=True,
                             progress=lambda done, total: steps.append((done, total)))
    errors = [s[1].reblur_error for s in singles]
    np.testing.assert_array_equal(psf, singles[int(np.argmin(errors))][0])
    assert info.reblur_error == min(errors)
    assert steps[-1][0] == steps[-1][1] == len(weights) * len(info.sizes)
    assert [d for d, _ in steps] == list(range(1, len(steps) + 1))


def test_estimate_psf_refuses_bad_input(scene):
    for sparsity in ([], (0.01, -1.0), "0.01"):
        with pytest.raises(ValueError, match="sparsity"):
            estimate_psf(scene, sparsity=sparsity)
    with pytest.raises(ValueError, match="kernel_size"):
        estimate_psf(scene, kernel_size=10)
    with pytest.raises(ValueError, match="kernel_size"):
        estimate_psf(scene, kernel_size=301)
    with pytest.raises(ValueError, match="image"):
        estimate_psf(scene[:10, :10])
    bad = scene.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        estimate_psf(bad)
    with pytest.raises(ValueError, match="gamma"):
        estimate_psf(scene, gamma=0)
    with pytest.raises(ValueError, match="fine_iterations"):
        estimate_psf(scene, fine_iterations=0)
    with pytest.raises(ValueError, match="channel_axis"):
        estimate_psf(scene[..., None], channel_axis=None)


def test_input_is_not_modified(scene, rng):
    y = blurred(scene, nublur.linear_kernel(7, 0.0), rng)
    before = y.copy()
    estimate_psf(y)
    np.testing.assert_array_equal(y, before)


def test_saturated_neighbourhoods_leave_the_kernel_data_term():
    """Gradients within a kernel width of a saturated pixel, and at the border, are zeroed."""
    y = np.random.default_rng(0).random((40, 40))
    sat = np.zeros((40, 40), dtype=bool)
    sat[20, 20] = True
    gx, gy, keep = _masked_gradients(y, sat, 7)
    assert np.all(keep[17:24, 17:24] == 0) and keep[20, 25] == 1 and keep[10, 10] == 1
    assert np.all(gx[keep == 0] == 0) and np.all(gy[keep == 0] == 0)
    assert np.all(keep[:4] == 0) and np.all(keep[:, -4:] == 0)


def test_kernel_least_squares_recovers_the_kernel_of_exact_gradients(rng):
    """With noiseless gradients (zero beyond a central region, so the zero-padded model is
    exact) and a tiny weight, the Toeplitz normal equations give the true PSF."""
    x = np.zeros((64, 64))
    x[12:-12, 12:-12] = rng.random((40, 40))
    psf = nublur.camera_shake_kernel(9, rng)
    gx = np.diff(x, axis=1, append=0)
    gy = np.diff(x, axis=0, append=0)
    bx = scipy.signal.convolve(gx, psf, mode="same")
    by = scipy.signal.convolve(gy, psf, mode="same")
    est = kernel_least_squares((gx, gy), (bx, by), 9, 1e-9, num_iter=200)
    np.testing.assert_allclose(est, psf, atol=1e-6)


def test_clean_kernel_drops_small_pieces_and_centre_kernel_centres():
    k = np.zeros((11, 11))
    k[5, 3:8] = 1.0
    k[0, 0] = 0.3   # an isolated speck under 10 % of the mass
    cleaned = clean_kernel(k)
    assert cleaned[0, 0] == 0 and cleaned.sum() == pytest.approx(1.0)
    off = np.roll(cleaned, 2, axis=1)
    centred = centre_kernel(off)
    cols = np.nonzero(centred)[1]
    assert cols.min() == 3 and cols.max() == 7


def two_region_blur(scene):
    """Left half blurred horizontally, right half vertically (smooth hand-over)."""
    h, w = scene.shape
    left, right = nublur.linear_kernel(13, 0.0), nublur.linear_kernel(13, 90.0)
    kernels = np.stack([left, right])[None]  # grid (1, 2): nodes at the quarter columns
    field = nublur.GridField(kernels, (h, w))
    return field, left, right


def test_patch_field_reproduces_a_two_region_blur(rng):
    """Each side's patches find their own region's kernel: NCC at least 0.6 with it (0.66-0.93
    measured, moving with FFT rounding as in the test above) and above the other side's by
    0.1 (margins of 0.37-0.77 measured here, 0.15 in one fresh CI run: 0.66 against 0.52)."""
    scene = skimage.data.camera()[::2, ::2] / 255.0
    field, left, right = two_region_blur(scene)
    y = np.clip(nublur.blur(scene, field) + 0.005 * rng.standard_normal(scene.shape), 0, 1)
    estimator = ClassicalEstimator(grid=(2, 4), gamma=1.0)
    est, info = estimator.estimate(y, channel_axis=None, return_info=True)
    assert isinstance(est, nublur.GridField) and est.grid_shape == (2, 4)
    for row in range(2):  # each side's patches find their own region's kernel
        k_left, k_right = est.grid_kernels[row, 0], est.grid_kernels[row, -1]
        assert aligned_ncc(k_left, left) >= 0.6 and aligned_ncc(k_right, right) >= 0.6
        assert aligned_ncc(k_left, left) > aligned_ncc(k_left, right) + 0.1
        assert aligned_ncc(k_right, right) > aligned_ncc(k_right, left) + 0.1
    assert info.reliable.shape == (2, 4)


def test_classical_estimator_grid_1x1_is_uniform(scene, rng):
    y = blurred(scene, nublur.linear_kernel(9, 45.0), rng)
    field = nublur.load_estimator("uniform", gamma=1.0).estimate(y, channel_axis=None)
    assert isinstance(field, nublur.UniformField)


def test_refinement_lowers_the_reblur_error_of_a_perturbed_field(rng):
    scene = skimage.data.camera()[::2, ::2] / 255.0
    field, left, right = two_region_blur(scene)
    y = np.clip(nublur.blur(scene, field) + 0.005 * rng.standard_normal(scene.shape), 0, 1)
    shorter = np.stack([nublur.linear_kernel(9, 10.0, size=13),
                        nublur.linear_kernel(9, 80.0, size=13)])[None]
    perturbed = nublur.GridField(shorter, scene.shape)
    refined, info = refine_field(y, perturbed, iterations=3, return_info=True)
    assert isinstance(refined, nublur.GridField)

    def reblur_error(f):
        return np.sqrt(np.mean((nublur.blur(scene, f) - y) ** 2))
    assert reblur_error(refined) < 0.8 * reblur_error(perturbed)
    assert all(a < b for a, b in zip(info.losses_after, info.losses_before))


def test_refine_field_refuses_unsupported_fields(scene):
    dense = nublur.DenseField(np.ones((8, 8, 3, 3)) / 9)
    with pytest.raises(TypeError, match="field"):
        refine_field(scene[:8, :8], dense)


def test_large_photos_are_estimated_at_reduced_scale(rng):
    """Above max_side the field is estimated on the downscaled photo and returned at full
    resolution with magnified kernels, which still deblur the full-resolution photo (less
    well than a full-scale estimate: 1.0 dB here against 3.5 dB)."""
    scene = skimage.data.camera()[::2, ::2] / 255.0
    psf = nublur.linear_kernel(7, 0.0)
    y = blurred(scene, psf, rng, noise=0.003)
    from skimage.transform import resize
    big = resize(y, (512, 512), order=1)
    est = ClassicalEstimator(grid=(2, 2), gamma=1.0, max_side=256)
    field = est.estimate(big, channel_axis=None)
    assert field.image_shape == (512, 512)
    assert field.kernel_size >= 13  # magnified about 2x from the 256 px estimate
    sharp_big = resize(scene, (512, 512), order=1)
    restored = nublur.richardson_lucy(big, field, 20)
    assert nublur.metrics.psnr(restored, sharp_big, border=16) > \
        nublur.metrics.psnr(big, sharp_big, border=16) + 0.5


def test_blur_radius_tells_a_sharp_photo_from_a_blurred_one(rng):
    from nublur.policy import SMALL_BLUR, blur_radius, deblur_plan

    sharp = skimage.data.camera()[::2, ::2] / 255.0
    estimator = ClassicalEstimator(gamma=1.0)
    for psf in (None, nublur.linear_kernel(15, 120)):
        y = sharp if psf is None else fftconvolve(sharp, psf, mode="same")
        y = np.clip(y + rng.normal(0, 0.005, y.shape), 0, 1)
        _, info = estimator.estimate(y, channel_axis=None, return_info=True)
        plan = deblur_plan(confidence=info.confidence, radius=info.blur_radius,
                           noise=info.noise)
        if psf is None:
            assert info.blur_radius < SMALL_BLUR and plan.action == "none"
        else:
            assert info.blur_radius == pytest.approx(blur_radius(psf), rel=0.25)
            assert plan.action == "full"
            assert plan.tv_weight == pytest.approx(0.4 * info.noise)
            assert info.noise == pytest.approx(0.005, rel=0.3)
