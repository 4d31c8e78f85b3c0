"""Richardson-Lucy: reference, scikit-image equivalence, convergence, saturation, TV, inputs."""

import numpy as np
import pytest
import scipy.signal
from scipy.ndimage import binary_dilation, gaussian_filter
from skimage.restoration import richardson_lucy as sk_richardson_lucy

import nublur
from fields_factory import make_field, random_kernels, smooth_mixing
from nublur.metrics import psnr, ringing
from reference import kernel_stack, ref_matrix, ref_richardson_lucy


def textured_image(rng, shape, lo=0.1, hi=0.9):
    img = gaussian_filter(rng.random(shape), 1.5)
    img = (img - img.min()) / (img.max() - img.min())
    return lo + (hi - lo) * img


@pytest.mark.parametrize("options", [
    {}, {"gamma": 2.2}, {"whyte": True}, {"whyte": True, "gamma": 2.2}, {"tv_weight": 0.01},
])
def test_matches_float64_matrix_reference(options, rng):
    shape = (12, 10)
    field = make_field("basis", rng, shape, size=5, count=3)
    mat = ref_matrix(kernel_stack(field, shape), "reflect")
    truth = textured_image(rng, shape)
    if options.get("whyte"):
        truth[4:6, 4:6] = 4.0  # a light source
    y = nublur.smooth_clip(mat @ truth.ravel()).reshape(shape) ** (1 / options.get("gamma", 1))
    y = np.clip(y, 0, 1)
    expected = ref_richardson_lucy(y, mat, 8, **options)
    result = nublur.richardson_lucy(y, field, 8, gamma=options.get("gamma", 1.0),
                                    saturation="whyte" if options.get("whyte") else None,
                                    tv_weight=options.get("tv_weight", 0.0))
    np.testing.assert_allclose(result, expected, atol=1e-9)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_equals_scikit_image(dtype, tol, rng):
    truth = textured_image(rng, (64, 57))
    psf = nublur.camera_shake_kernel(11, rng)
    blurred = scipy.signal.convolve(truth, psf, mode="same").astype(dtype)
    for filter_epsilon in (None, 0.05):
        expected = sk_richardson_lucy(blurred, psf.astype(dtype), num_iter=25,
                                      filter_epsilon=filter_epsilon)
        result = nublur.richardson_lucy(blurred, psf, 25, boundary="constant", init="constant",
                                        normalize=False, filter_epsilon=filter_epsilon)
        assert result.dtype == dtype
        np.testing.assert_allclose(result, expected, atol=tol)


def test_noise_free_nonuniform_converges(rng):
    shape = (96, 96)
    truth = textured_image(rng, shape)
    field = nublur.BasisField(np.stack([nublur.camera_shake_kernel(15, rng) for _ in range(4)]),
                              smooth_mixing(rng, 4, shape, sigma=12))
    blurred = nublur.blur(truth, field)
    psnrs = []
    _, info = nublur.richardson_lucy(
        blurred, field, 40, return_info=True,
        callback=lambda i, est, loss: psnrs.append(psnr(est, truth)))
    loss = np.array(info["loss"])
    assert info["iterations"] == 40 and len(loss) == 41
    assert np.all(np.diff(loss) <= 1e-12 * loss[:-1])  # monotone reblur error
    assert loss[-1] < 0.05 * loss[0]
    assert psnrs[-1] > psnrs[9] > psnrs[0] > psnr(blurred, truth)


def saturated_scene(rng, shape=(96, 96)):
    truth = textured_image(rng, shape, 0.05, 0.6)
    sources = np.zeros(shape, dtype=bool)
    for cy, cx in ((25, 30), (60, 70), (70, 25)):
        sources[cy - 2:cy + 3, cx - 2:cx + 3] = True
    truth[sources] = 6.0  # far above the sensor's range
    return truth, sources


def test_whyte_saturation_beats_plain_rl(rng):
    truth, sources = saturated_scene(rng)
    field = nublur.BasisField(np.stack([nublur.linear_kernel(13, a, size=15) for a in (10, 60)]),
                              smooth_mixing(rng, 2, truth.shape, sigma=15))
    blurred = np.clip(nublur.smooth_clip(nublur.blur(truth, field)), 0, 1)
    display_truth = np.clip(truth, 0, 1)
    plain = nublur.richardson_lucy(blurred, field, 30)
    whyte = nublur.richardson_lucy(blurred, field, 30, saturation="whyte")
    # ringing: RMS error in a band 3 to 12 px around the light sources
    band = binary_dilation(sources, iterations=12) & ~binary_dilation(sources, iterations=3)
    assert psnr(whyte, display_truth) >= psnr(plain, display_truth) + 1.0
    assert ringing(whyte, display_truth, band) < 0.8 * ringing(plain, display_truth, band)


def test_tv_limits_noise_amplification(rng):
    truth = textured_image(rng, (96, 96))
    psf = nublur.camera_shake_kernel(15, rng)
    noisy = nublur.blur(truth, psf) + rng.normal(0, 0.02, truth.shape)
    noisy = np.clip(noisy, 0, 1)
    plain = nublur.richardson_lucy(noisy, psf, 50)
    tv = nublur.richardson_lucy(noisy, psf, 50, tv_weight=0.02)
    assert psnr(tv, truth) > psnr(plain, truth) + 0.5


def test_stop_tol_keeps_best_iterate(rng):
    truth = textured_image(rng, (64, 64))
    psf = nublur.camera_shake_kernel(11, rng)
    noisy = np.clip(nublur.blur(truth, psf) + rng.normal(0, 0.01, truth.shape), 0, 1)
    out, info = nublur.richardson_lucy(noisy, psf, 200, stop_tol=0.03, return_info=True)
    assert info["stopped_early"] and info["iterations"] < 200
    loss = info["loss"]
    assert info["best_iteration"] == int(np.argmin(loss))
    rel = (loss[-2] - loss[-1]) / loss[-2]
    assert rel <= 0.03 and all((a - b) / a > 0.03 for a, b in zip(loss[:-2], loss[1:-1]))
    again = nublur.richardson_lucy(noisy, psf, info["best_iteration"])
    np.testing.assert_allclose(out, again, atol=1e-12)


def test_gamma_round_trip_and_identity(rng):
    img = textured_image(rng, (32, 32))
    delta = np.zeros((3, 3))
    delta[1, 1] = 1
    np.testing.assert_allclose(nublur.richardson_lucy(img, delta, 5, gamma=2.2), img, atol=1e-12)


def test_colour_dtype_and_no_mutation(rng):
    img = np.stack([textured_image(rng, (40, 36)) for _ in range(3)], axis=0).astype(np.float32)
    before = img.copy()
    psf = nublur.linear_kernel(7, 30)
    out = nublur.richardson_lucy(img, psf, 10, channel_axis=0)
    assert out.shape == img.shape and out.dtype == np.float32
    np.testing.assert_array_equal(img, before)
    single = nublur.richardson_lucy(img[1], psf, 10)
    np.testing.assert_allclose(out[1], single, atol=1e-6)


def test_progress_and_callback(rng, capsys):
    img = textured_image(rng, (24, 24))
    calls = []
    nublur.richardson_lucy(img, nublur.linear_kernel(5, 0), 3, progress=True,
                           callback=lambda i, est, loss: calls.append((i, est.shape, loss)))
    assert [c[0] for c in calls] == [1, 2, 3]
    assert all(c[1] == (24, 24) and c[2] >= 0 for c in calls)
    assert "richardson-lucy" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"num_iter": -1}, ValueError, "num_iter"),
    ({"num_iter": 2.5}, ValueError, "num_iter"),
    ({"saturation": "clip"}, ValueError, "saturation"),
    ({"tv_weight": -0.1}, ValueError, "tv_weight"),
    ({"gamma": 0}, ValueError, "gamma"),
    ({"stop_tol": np.nan}, ValueError, "stop_tol"),
    ({"init": "zeros"}, ValueError, "init"),
    ({"init": np.ones((5, 5))}, ValueError, "init"),
    ({"boundary": "zero-flux"}, ValueError, "boundary"),
    ({"callback": 3}, TypeError, "callback"),
])
def test_bad_inputs(kwargs, exc, match, rng):
    img = textured_image(rng, (16, 16))
    with pytest.raises(exc, match=match):
        nublur.richardson_lucy(img, nublur.linear_kernel(3, 0), **kwargs)


def test_shape_mismatch_with_field(rng):
    field = make_field("basis", rng, (16, 16))
    with pytest.raises(ValueError, match="image has spatial shape"):
        nublur.richardson_lucy(rng.random((15, 16)), field)
