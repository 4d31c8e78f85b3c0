"""Synthetic data: determinism, exact fields, flow ranges, Algorithm 1, camera pipeline, I/O."""

import pickle

import numpy as np
import pytest

import nublur
from conftest import shared_data
from nublur import synth
from nublur.fieldio import load_field, save_field
from nublur.fields import fold_flow
from nublur.synth.flow import PRESETS, FlowPreset, flow_components


def _dataset(kind, seed):
    logs = shared_data("lai2016_nonuniform_gyro", "gyro") if kind == "gyro" else None
    return synth.SyntheticDataset(kind, size=64, seed=seed, kernel_size=15, gyro_logs=logs)


@pytest.mark.parametrize("kind", synth.KINDS)
def test_samples_are_deterministic_and_reproduce_through_blur(kind):
    ds = _dataset(kind, 5)
    a, b = ds[3], ds[3]
    np.testing.assert_array_equal(a["blurry"], b["blurry"])
    other = _dataset(kind, 6)[3]
    assert np.abs(other["blurry"] - a["blurry"]).max() > 0.05
    assert np.abs(ds[4]["blurry"] - a["blurry"]).max() > 0.05
    boundary = "replicate" if kind == "gyro" else "reflect"
    again = nublur.blur(a["sharp"], a["field"], boundary=boundary, channel_axis=-1)
    np.testing.assert_allclose(again, a["blurred"], atol=1e-5)
    assert a["blurry"].shape == (64, 64, 3) and a["blurry"].dtype == np.float32
    assert 0 <= a["blurry"].min() and a["blurry"].max() <= 1
    assert a["meta"]["kind"] == kind and a["meta"]["index"] == 3


def test_dataset_pickles_for_dataloader_workers(tmp_path):
    ds = synth.SyntheticDataset("segments", size=32, seed=1, kernel_size=9)
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone[2]["blurry"], ds[2]["blurry"])
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_flow_statistics_within_preset_ranges():
    for preset, p in PRESETS.items():
        for seed in range(20):
            field = synth.motion_flow((48, 64), np.random.default_rng(seed), preset)
            u, v = fold_flow(field.length * np.cos(np.radians(field.angle)),
                             field.length * np.sin(np.radians(field.angle)))
            assert np.all(np.abs(u) <= 36 + 1e-9) and np.all(np.abs(v) <= 36 + 1e-9)
            np.testing.assert_allclose(u, np.round(u), atol=1e-6)  # integer flow
        # translations alone: |t| (1 + |r|) at most (the variation is relative to H / 2)
        only = FlowPreset(p.translation, p.acceleration, 0.0, p.centre_shift, 0.0)
        for seed in range(20):
            tu, tv = flow_components((48, 64), np.random.default_rng(seed), only)
            bound = p.translation * (1 + p.acceleration * (1 + 2 * p.centre_shift / 48))
            assert np.abs(tu).max() <= bound and np.abs(tv).max() <= bound * 64 / 48 + 1e-9


def test_flow_rotation_is_tangential():
    p = FlowPreset(0.0, 0.0, 0.0, 0.0, np.pi / 70)
    u, v = flow_components((41, 41), np.random.default_rng(0), p)
    rows, cols = np.indices((41, 41))
    x, y = cols - 20.0, 20.0 - rows
    np.testing.assert_allclose(u * x + v * y, 0, atol=1e-9)  # perpendicular to the radius


def test_one_region_segment_blur_equals_uniform(rng):
    image = rng.random((40, 44, 3)).astype(np.float32)
    k = nublur.camera_shake_kernel(9, rng)
    out = synth.segment_blur(image, [], k[None], channel_axis=-1)
    np.testing.assert_allclose(out["blurry"], nublur.blur(image, k, channel_axis=-1), atol=1e-6)


def test_segment_blur_follows_algorithm_1(rng):
    image = rng.random((40, 44))
    mask = np.zeros((40, 44), dtype=bool)
    mask[10:30, 12:30] = True
    kernels = np.stack([nublur.linear_kernel(7, 0, size=9), nublur.linear_kernel(7, 90, size=9)])
    out = synth.segment_blur(image, [mask], kernels)
    smooth = np.stack([nublur.blur(m.astype(float), k) for m, k in zip([~mask, mask], kernels)])
    expected = (smooth * np.stack([nublur.blur(image, k) for k in kernels])).sum(0) / smooth.sum(0)
    np.testing.assert_allclose(out["blurry"], expected, atol=1e-10)
    np.testing.assert_array_equal(out["masks"][1], mask)
    with pytest.raises(ValueError, match="kernels"):
        synth.segment_blur(image, [mask], kernels[:1])


def test_segment_blur_fills_the_gap_left_by_kernels_displaced_apart(rng):
    image = rng.random((40, 40))
    mask = np.zeros((40, 40), dtype=bool)
    mask[:, :20] = True
    left, right = np.zeros((2, 9, 9))
    left[4, 1], right[4, 7] = 1.0, 1.0  # the mask moves 3 px left, the background 3 px right
    out = synth.segment_blur(image, [mask], np.stack([right, left]))
    mixing = out["field"].mixing
    assert np.all(np.isfinite(mixing))
    np.testing.assert_allclose(mixing.sum(0), 1, atol=1e-12)
    np.testing.assert_allclose(mixing[1][:, 17:20], 1, atol=1e-6)  # the gap keeps its region
    np.testing.assert_allclose(mixing[0][:, 20:23], 1, atol=1e-6)
    np.testing.assert_allclose(out["blurry"], nublur.blur(image, out["field"]), atol=1e-12)


def test_random_masks_sizes(rng):
    for seed in range(10):
        masks = synth.random_masks((128, 128), np.random.default_rng(seed))
        assert len(masks) <= 3
        assert all(m.sum() >= 400 for m in masks)
        if len(masks) > 1:
            assert not np.any(np.sum(masks, axis=0) > 1)  # no overlap


def test_dead_leaves_statistics():
    img = synth.dead_leaves((128, 128), np.random.default_rng(0))
    assert img.shape == (128, 128, 3) and img.dtype == np.float32
    assert 0 <= img.min() and img.max() <= 1 and img.std() > 0.1
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(img.mean(-1) - img.mean()))) ** 2
    yy, xx = np.indices(spectrum.shape)
    radius = np.hypot(yy - 64, xx - 64).astype(int)
    power = np.bincount(radius.ravel(), spectrum.ravel()) / np.bincount(radius.ravel())
    slope = np.polyfit(np.log(np.arange(4, 48)), np.log(power[4:48]), 1)[0]
    assert -3.2 < slope < -1.3  # natural images: about -2


def test_saturation_augment_and_noise():
    rng = np.random.default_rng(0)
    img = np.full((8, 8, 3), 0.8, dtype=np.float32)
    out = synth.saturation_augment(img, rng)
    assert out.dtype == np.float32 and 0.4 <= out[0, 0, 0] <= 1.2
    noisy = synth.gaussian_noise(np.zeros((200, 200)), rng, 0.1)
    assert abs(noisy.std() - 0.1) < 0.005
    pg = synth.poisson_gaussian_noise(np.full((200, 200), 0.5), rng, peak=100.0, sigma=0.0)
    assert abs(pg.var() - 0.5 / 100) < 1e-3
    q = synth.quantize_8bit(np.array([0.5, 1.7, -0.2]))
    np.testing.assert_allclose(q * 255, np.round(q * 255))
    np.testing.assert_allclose(synth.gamma_decode(synth.gamma_encode(np.array([0.3]))), 0.3)


@pytest.mark.parametrize("kind", ["uniform", "basis", "dense", "linear"])
def test_field_file_round_trip(kind, rng, tmp_path):
    from fields_factory import make_field

    field = make_field(kind, rng, shape=(9, 8), size=5)
    save_field(tmp_path / "f.npz", field)
    back = load_field(tmp_path / "f.npz")
    assert type(back) is type(field) and back.kernel_size == field.kernel_size
    x = rng.random((9, 8))
    np.testing.assert_array_equal(nublur.blur(x, back), nublur.blur(x, field))


def test_field_file_rejects_bad_files(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.ones(3))
    with pytest.raises(ValueError, match="not a nublur field file"):
        load_field(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable field file"):
        load_field(tmp_path / "junk.npz")


def test_write_dataset(tmp_path):
    synth.write_dataset(tmp_path / "ds", 2, "flow", seed=3, size=32)
    names = sorted(p.name for p in (tmp_path / "ds").iterdir())
    assert names == ["00000_blurry.png", "00000_field.npz", "00000_meta.json", "00000_sharp.png",
                     "00001_blurry.png", "00001_field.npz", "00001_meta.json", "00001_sharp.png"]
    assert isinstance(load_field(tmp_path / "ds" / "00001_field.npz"), nublur.LinearMotionField)


def test_image_folder(tmp_path):
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "b.png", np.full((40, 50), 128, dtype=np.uint8))
    iio.imwrite(tmp_path / "a.png", np.zeros((40, 50, 3), dtype=np.uint8))
    folder = synth.image_folder(tmp_path)
    assert len(folder) == 2 and folder.files[0].name == "a.png"
    assert folder[1].shape == (40, 50, 3) and abs(folder[1].mean() - 128 / 255) < 1e-6
    ds = synth.SyntheticDataset("uniform", size=32, images=tmp_path, kernel_size=9)
    assert ds[0]["sharp"].shape == (32, 32, 3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        synth.image_folder(tmp_path / "empty")


@pytest.mark.parametrize("call,exc,match", [
    (lambda: synth.SyntheticDataset("rain"), ValueError, "kind"),
    (lambda: synth.SyntheticDataset("gyro"), ValueError, "gyro_logs"),
    (lambda: synth.SyntheticDataset("flow", size=8), ValueError, "size"),
    (lambda: synth.motion_flow((10, 10), np.random.default_rng(0), "wild"), ValueError, "preset"),
    (lambda: synth.motion_flow((10, 10), 0), TypeError, "rng"),
    (lambda: synth.dead_leaves((10, 10), 0), TypeError, "rng"),
    (lambda: synth.random_masks((10, 10), None), TypeError, "rng"),
    (lambda: synth.image_folder("/nonexistent/folder"), ValueError, "path"),
])
def test_bad_inputs(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def _log(rates, exposure=0.1):
    times = np.linspace(0, 0.3, 31)
    return synth.GyroLog(times, np.tile(rates, (31, 1)), np.zeros((31, 3)), 0.1, exposure)


def test_gyro_zero_motion_is_identity(rng):
    image = rng.random((30, 40, 3))
    blurry, field, info = synth.gyro_blur(image, _log([0.0, 0.0, 0.0]), field="dense",
                                          channel_axis=-1)
    np.testing.assert_allclose(blurry, image, atol=1e-12)
    assert info["kernel_size"] == 3


def test_gyro_pure_yaw_gives_horizontal_kernels(rng):
    image = rng.random((40, 60))
    _, field, _ = synth.gyro_blur(image, _log([0.0, 2.0, 0.0]), field="exact")
    for row, col in ((0, 0), (20, 30), (39, 59)):
        k = field.kernel_at(row, col)
        yy, xx = np.indices(k.shape)
        cy, cx = (k * yy).sum(), (k * xx).sum()
        var_y, var_x = (k * (yy - cy) ** 2).sum(), (k * (xx - cx) ** 2).sum()
        assert var_x > 10 * max(var_y, 1e-3)


def test_gyro_dense_field_reproduces_the_warp_average(rng):
    image = rng.random((36, 48))
    blurry, dense, _ = synth.gyro_blur(image, _log([0.1, -0.3, 0.2]), field="dense")
    np.testing.assert_allclose(nublur.blur(image, dense, boundary="replicate"), blurry,
                               atol=1e-12)
    _, basis, info = synth.gyro_blur(image, _log([0.1, -0.3, 0.2]), rank=6)
    assert 0 <= info["relative_error"] < 0.2 and isinstance(basis, nublur.BasisField)


def test_real_gyro_log_loads():
    log = synth.load_gyro_log(shared_data("lai2016_nonuniform_gyro", "gyro", "gyro_01"))
    assert log.rates.shape == (105, 3) and abs(log.exposure - 0.134359) < 1e-9
    with pytest.raises(ValueError, match="gyro log"):
        synth.load_gyro_log("/nonexistent")


@pytest.mark.parametrize("family", nublur.synth.KERNEL_FAMILIES)
def test_kernel_families_draw_centred_psfs_from_the_generator_only(family):
    from nublur.synth import random_kernel

    a = random_kernel(family, 19, np.random.default_rng(3))
    b = random_kernel(family, 19, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (19, 19) and np.all(a >= 0) and abs(a.sum() - 1) < 1e-9
    yy, xx = np.mgrid[:19, :19]
    tol = 1e-6 if family in ("shake", "linear") else 0.25
    assert abs((a * yy).sum() - 9) < tol and abs((a * xx).sum() - 9) < tol
    assert np.count_nonzero(a > 0.01 * a.max()) > 1 or family == "shake"


def test_random_kernels_mix_families_and_refuse_bad_input():
    from nublur.synth import random_kernel, random_kernels

    kernels, index = random_kernels(30, 15, np.random.default_rng(0), ("linear", "arc"),
                                    (1, 3))
    assert kernels.shape == (30, 15, 15) and kernels.dtype == np.float32
    assert set(index) <= {0, 1} and 0 < np.mean(index == 1) < 1
    with pytest.raises(ValueError, match="family must be one of"):
        random_kernel("circle", 15, np.random.default_rng(0))
    with pytest.raises(ValueError, match="size must be an odd integer"):
        random_kernel("arc", 14, np.random.default_rng(0))
    with pytest.raises(ValueError, match="families must be drawn"):
        random_kernels(3, 15, np.random.default_rng(0), ("shake", "blob"))
    with pytest.raises(TypeError, match="rng"):
        random_kernel("arc", 15, 0)
