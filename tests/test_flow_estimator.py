"""The shipped motion-flow network (``load_estimator("flow")``), run by ONNX Runtime without
torch: a valid linear-motion field, its card checked, bad input refused, and the motion of
held-out images (not in its training data) found."""

import shutil

import numpy as np
import pytest
from skimage import data

import nublur
from nublur import cli
from nublur.estimators.flow import FLOW_MODEL, FlowEstimator


@pytest.fixture(scope="module")
def estimator():
    return nublur.load_estimator("flow")


def _linear_blur(sharp, length, angle):
    field = nublur.LinearMotionField(np.full(sharp.shape, float(length)),
                                     np.full(sharp.shape, float(angle)))
    return nublur.blur(sharp ** 2.2, field, boundary="replicate") ** (1 / 2.2)


def test_estimate_returns_a_linear_motion_field_of_the_image(estimator):
    image = np.random.default_rng(0).random((45, 67, 3)).astype(np.float32)
    before = image.copy()
    field, info = estimator.estimate(image, return_info=True)
    assert isinstance(field, nublur.LinearMotionField) and field.image_shape == (45, 67)
    np.testing.assert_array_equal(image, before)
    assert 0 <= info.confidence <= 1 and info.blur_radius >= 0 and info.scale == 1
    assert info.certainty.shape == (45, 67)


def test_gray_rgb_and_channel_first_give_one_field(estimator):
    gray = data.camera()[100:196, 150:278] / 255.0
    a = estimator.estimate(gray, channel_axis=None)
    b = estimator.estimate(np.repeat(gray[None], 3, axis=0), channel_axis=0)
    np.testing.assert_allclose(a.length, b.length, atol=1e-3)


@pytest.mark.parametrize("length, angle", [(21, 30), (15, 120), (27, 80)])
def test_finds_uniform_linear_motion_on_a_held_out_photo(estimator, length, angle):
    sharp = data.camera()[64:320, 128:384] / 255.0  # not in training (Kodak24, dead leaves)
    field = estimator.estimate(_linear_blur(sharp, length, angle), channel_axis=None)
    inner = (slice(32, -32), slice(32, -32))
    got_length = np.median(field.length[inner])
    got_angle = np.median(np.mod(field.angle[inner] - angle + 90, 180) - 90) + angle
    assert abs(got_length - length) <= 0.25 * length, got_length
    assert abs(got_angle - angle) <= 12, got_angle


def test_sharp_photo_gets_short_motion(estimator):
    sharp = data.camera()[64:320, 128:384] / 255.0
    field, info = estimator.estimate(sharp, channel_axis=None, return_info=True)
    assert np.median(field.length) < 4 and info.blur_radius < nublur.policy.SMALL_BLUR


def test_large_image_is_estimated_at_reduced_scale(estimator):
    sharp = data.camera()[:256, :256] / 255.0
    blurry = _linear_blur(sharp, 16, 45)
    small = FlowEstimator(max_side=128)
    field, info = small.estimate(blurry, channel_axis=None, return_info=True)
    assert info.scale == 0.5 and field.image_shape == (256, 256)
    assert abs(np.median(field.length[32:-32, 32:-32]) - 16) <= 5


@pytest.mark.parametrize("options, match", [
    ({"head": "argmax"}, "head"), ({"max_side": 8}, "max_side"),
])
def test_bad_options_are_refused(options, match):
    with pytest.raises(ValueError, match=match):
        FlowEstimator(**options)


@pytest.mark.parametrize("image, axis, match", [
    (np.zeros((10, 40)), None, "16 x 16"), (np.zeros((40, 40, 2)), -1, "channels"),
])
def test_bad_images_are_refused(estimator, image, axis, match):
    with pytest.raises(ValueError, match=match):
        estimator.estimate(image, channel_axis=axis)


def test_a_model_that_differs_from_its_card_is_refused(tmp_path):
    model = tmp_path / FLOW_MODEL.name
    shutil.copy(FLOW_MODEL, model)
    card = FLOW_MODEL.parent / (FLOW_MODEL.name[:-5] + ".json")
    shutil.copy(card, tmp_path / card.name)
    FlowEstimator(model)  # an intact copy loads
    raw = bytearray(model.read_bytes())
    raw[-1] ^= 1
    model.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="sha256"):
        FlowEstimator(model)
    with pytest.raises(ValueError, match="sha256"):
        nublur.load_estimator(str(model))


def test_flow_cannot_be_refined():
    with pytest.raises(ValueError, match="refine"):
        nublur.load_estimator("flow+refine")


@pytest.mark.parametrize("solver", ["admm-irc", "ircnet"])
def test_command_line_runs_001s_pipeline(tmp_path, solver):
    sharp = data.camera()[64:192, 128:256] / 255.0
    path, out = tmp_path / "blurry.png", tmp_path / "sharp.png"
    nublur.io.write_image(path, _linear_blur(sharp, 15, 60))
    assert cli.main(["deblur", str(path), "-o", str(out), "--estimator", "flow", "--solver",
                     solver, "--quiet"]) == 0
    result, _ = nublur.io.read_image(out)
    assert result.shape == sharp.shape
