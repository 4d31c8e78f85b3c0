"""The deblurring-strength rule (nublur.policy)."""

import numpy as np
import pytest

from nublur.policy import (GENTLE_TV, SMALL_BLUR, TV_PER_NOISE, blur_radius, deblur_plan)


def test_blur_radius_of_a_delta_is_zero_and_of_a_segment_is_its_rms_reach():
    delta = np.zeros((9, 9))
    delta[4, 4] = 1
    assert blur_radius(delta) == pytest.approx(0.0)
    for length in (3, 7, 11):
        line = np.zeros((15, 15))
        line[7, 7 - length // 2:7 + length // 2 + 1] = 1
        assert blur_radius(line) == pytest.approx(np.sqrt((length**2 - 1) / 12))


def test_blur_radius_is_the_median_over_a_stack_and_ignores_the_kernel_position():
    a = np.zeros((3, 11, 11))
    a[0, 5, 5] = 1
    a[1, 2, 1:4] = 1
    a[2, 8, 0:9] = 1
    assert blur_radius(a) == pytest.approx(np.sqrt(8 / 12))


@pytest.mark.parametrize("bad", [np.zeros((5, 5)), np.ones((5, 4)), np.ones(5)])
def test_blur_radius_refuses_bad_kernels(bad):
    with pytest.raises(ValueError, match="kernels"):
        blur_radius(bad)


def test_plan_follows_radius_then_confidence():
    assert deblur_plan(radius=SMALL_BLUR - 0.1, confidence=0.9).action == "none"
    assert "too small" in deblur_plan(radius=1.0, confidence=0.9).reason
    full = deblur_plan(radius=3.0, confidence=0.9, iterations=25)
    assert (full.action, full.iterations, full.reason) == ("full", 25, "")
    none = deblur_plan(radius=3.0, confidence=0.1)
    assert none.action == "none" and "unreliable" in none.reason
    gentle = deblur_plan(radius=3.0, confidence=0.4, iterations=30, tv_weight=1e-3)
    assert gentle.action == "gentle" and gentle.iterations == 12
    assert gentle.tv_weight == GENTLE_TV


def test_plan_tv_follows_the_noise_unless_given():
    assert deblur_plan(noise=0.01).tv_weight == pytest.approx(TV_PER_NOISE * 0.01)
    assert deblur_plan(noise=0.01, tv_weight=0.0).tv_weight == 0.0
    assert deblur_plan().tv_weight == 0.0
    user = deblur_plan(iterations=7)
    assert (user.action, user.iterations) == ("full", 7)


@pytest.mark.parametrize("kwargs, word", [({"iterations": 0}, "iterations"),
                                          ({"tv_weight": -1.0}, "tv_weight"),
                                          ({"confidence": 1.5}, "confidence"),
                                          ({"confidence": float("nan")}, "confidence"),
                                          ({"radius": -1.0}, "radius"),
                                          ({"radius": float("nan")}, "radius")])
def test_plan_refuses_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        deblur_plan(**kwargs)
