"""The nublur command end to end (subprocess), its error paths, and image I/O."""

import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

import nublur
from nublur import fieldio, synth
from nublur.io import ImageFileError, read_image, write_image


def run(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "nublur.cli", *map(str, args)],
                          capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    sharp = synth.dead_leaves((48, 56), rng)
    path = tmp_path / "photo.png"
    iio.imwrite(path, (sharp * 255).astype(np.uint8))
    return path


def test_blur_then_deblur_with_saved_field(tmp_path, photo):
    run("blur", photo, "--random", "flow", "--seed", 3, "-o", tmp_path / "b.png",
        "--save-field", tmp_path / "f.npz", "--quiet")
    field = fieldio.load_field(tmp_path / "f.npz")
    assert isinstance(field, nublur.LinearMotionField)
    out = tmp_path / "d.png"
    run("deblur", tmp_path / "b.png", "--estimator", f"field:{tmp_path / 'f.npz'}", "-o", out,
        "--iters", 5, "--gamma", 1.0, "--save-figure", tmp_path / "fig.png", "--quiet")
    restored = iio.imread(out)
    assert restored.shape == (48, 56, 3) and restored.dtype == np.uint8
    assert iio.imread(tmp_path / "fig.png").shape[0] > 100


@pytest.mark.parametrize("solver", ["rl", "rl-whyte", "admm-irc", "cg", "fft"])
def test_every_solver_with_a_uniform_psf(tmp_path, photo, solver):
    psf = tmp_path / "psf.png"
    iio.imwrite(psf, (nublur.linear_kernel(7, 30) / nublur.linear_kernel(7, 30).max()
                      * 255).astype(np.uint8))
    run("deblur", photo, "--estimator", f"uniform:{psf}", "--solver", solver, "-o",
        tmp_path / "out.png", "--iters", 3, "--quiet")
    assert (tmp_path / "out.png").exists()


def test_sixteen_bit_input_gives_sixteen_bit_output(tmp_path):
    img = (np.random.default_rng(1).random((20, 24)) * 65535).astype(np.uint16)
    iio.imwrite(tmp_path / "in.png", img)
    iio.imwrite(tmp_path / "psf.png", np.pad([[255]], 1).astype(np.uint8))
    run("deblur", tmp_path / "in.png", "--estimator", f"uniform:{tmp_path / 'psf.png'}", "-o",
        tmp_path / "out.png", "--quiet", "--iters", 2, "--gamma", 1, "--tv", 0)
    out = iio.imread(tmp_path / "out.png")
    assert out.dtype == np.uint16
    np.testing.assert_allclose(out.astype(float), img.astype(float), atol=2)  # delta PSF


def test_exif_orientation_is_honoured(tmp_path):
    from PIL import Image

    arr = np.zeros((10, 20, 3), dtype=np.uint8)
    arr[:, :5] = 255  # white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    Image.fromarray(arr).save(tmp_path / "r.jpg", exif=exif, quality=95)
    image, info = read_image(tmp_path / "r.jpg")
    assert image.shape == (20, 10, 3) and info.dtype == np.uint8
    assert image[:5].mean() > 0.8 and image[-5:].mean() < 0.2  # band now on top


def test_refuses_to_overwrite_and_never_writes_over_input(tmp_path, photo):
    psf = tmp_path / "psf.png"
    iio.imwrite(psf, np.pad([[255]], 1).astype(np.uint8))
    out = tmp_path / "out.png"
    out.write_bytes(b"keep")
    proc = run("deblur", photo, "--estimator", f"uniform:{psf}", "-o", out, check=False)
    assert proc.returncode == 2 and "--force" in proc.stderr and out.read_bytes() == b"keep"
    before = photo.read_bytes()
    proc = run("deblur", photo, "--estimator", f"uniform:{psf}", "-o", photo, "--force",
               check=False)
    assert proc.returncode == 2 and "input" in proc.stderr and photo.read_bytes() == before
    run("deblur", photo, "--estimator", f"uniform:{psf}", "-o", out, "--force", "--quiet",
        "--iters", 1)
    assert out.read_bytes() != b"keep"


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    import nublur.io as nio

    def broken(path, data, extension=None):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(nio.iio, "imwrite", broken)
    with pytest.raises(OSError, match="disk full"):
        write_image(tmp_path / "x.png", np.zeros((4, 4)))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args,message", [
    (["deblur", "missing.png", "--estimator", "field:f.npz"], "no such file"),
    (["deblur", "{photo}", "--estimator", "field:missing.npz"], "does not exist"),
    (["deblur", "{photo}", "--estimator", "field:{junk}"], "bad field file"),
    (["deblur", "{photo}", "--estimator", "gauss:3"], "--estimator must be"),
    (["deblur", "{photo}", "--estimator", "missing.onnx"], "does not exist"),
    (["deblur", "{photo}", "--estimator", "field:{field}", "--solver", "fft"], "uniform"),
    (["deblur", "{notimage}", "--estimator", "field:{field}"], "cannot read"),
    (["blur", "{photo}", "--random", "gyro", "-o", "{out}"], "--gyro-log"),
])
def test_errors_are_one_line_and_exit_2(tmp_path, photo, args, message):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a field")
    field = tmp_path / "field.npz"
    fieldio.save_field(field, synth.motion_flow((48, 56), np.random.default_rng(0)))
    notimage = tmp_path / "bad.png"
    notimage.write_bytes(b"garbage")
    args = [a.format(photo=photo, junk=junk, field=field, notimage=notimage,
                     out=tmp_path / "o.png") for a in args]
    proc = run(*args, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_bad_option_values_exit_2(photo):
    proc = run("deblur", photo, "--iters", 0, check=False)
    assert proc.returncode == 2 and "positive integer" in proc.stderr


def test_debug_shows_traceback(tmp_path):
    proc = run("--debug", "deblur", tmp_path / "missing.png", "--estimator", "field:x.npz",
               check=False)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_demo_writes_figure(tmp_path):
    proc = run("demo", "--out", tmp_path, "--quiet")
    assert proc.returncode == 0
    for name in ("demo.png", "synthetic_kernel_field.png", "synthetic_flow.png",
                 "synthetic_deblurred.png", "synthetic_field.npz"):
        assert (tmp_path / name).stat().st_size > 0


def test_read_image_errors(tmp_path):
    (tmp_path / "a.gif").write_bytes(b"x")
    with pytest.raises(ImageFileError, match="unsupported format"):
        read_image(tmp_path / "a.gif")


def test_too_large_image_is_refused_with_a_suggestion(monkeypatch):
    import os

    from nublur import cli

    monkeypatch.setattr(os, "sysconf", lambda name: 1024 if name == "SC_AVPHYS_PAGES" else 4096)
    with pytest.raises(cli.CLIError, match="downscale"):
        cli._check_size((4000, 3000))


def test_readme_cg_example_runs():
    from scipy.sparse import identity
    from scipy.sparse.linalg import aslinearoperator, cg

    rng = np.random.default_rng(0)
    kernels = np.stack([nublur.camera_shake_kernel(9, rng) for _ in range(3)])
    mixing = rng.random((3, 32, 32))
    mixing /= mixing.sum(0)
    field = nublur.BasisField(kernels, mixing)
    image = rng.random((32, 32))
    blurred = nublur.blur(image, field)
    H = nublur.BlurOperator(field, image.shape)
    normal = H.H @ H + 0.01 * aslinearoperator(identity(H.shape[1]))
    x, info = cg(normal, H.H @ blurred.ravel(), maxiter=100)
    assert info == 0 and np.mean((x.reshape(32, 32) - image) ** 2) < np.mean((blurred - image) ** 2)


@pytest.fixture
def blurry_photo(tmp_path):
    import skimage.data
    from scipy.signal import fftconvolve

    sharp = skimage.data.camera()[100:292, 150:342] / 255.0
    y = np.clip(fftconvolve(sharp, nublur.linear_kernel(9, 30.0), mode="same"), 0, 1)
    path = tmp_path / "blurry.png"
    iio.imwrite(path, (y * 255).astype(np.uint8))
    return path


def test_default_estimator_is_classical_and_estimate_writes_its_field(tmp_path, blurry_photo):
    out = tmp_path / "field.npz"
    proc = run("estimate", blurry_photo, "-o", out, "--kernel-size", "15",
               "--figure", tmp_path / "fig.png")
    assert "confidence" in proc.stderr
    field = fieldio.load_field(out)
    assert field.kernel_size <= 15
    assert (tmp_path / "fig.png").stat().st_size > 0


def test_kernel_size_must_be_odd(blurry_photo):
    proc = run("deblur", blurry_photo, "--kernel-size", "10", check=False)
    assert proc.returncode == 2 and "odd" in proc.stderr


@pytest.mark.parametrize("confidence, unchanged", [(0.1, True), (0.35, False)])
def test_unreliable_estimates_are_said_and_deblurred_conservatively(
        tmp_path, blurry_photo, monkeypatch, capsys, confidence, unchanged):
    from nublur import cli
    from nublur.estimators.classical import ClassicalEstimator

    real = ClassicalEstimator.estimate

    def low(self, image, *, channel_axis=-1, return_info=False):
        field, info = real(self, image, channel_axis=channel_axis, return_info=True)
        info.confidence = confidence
        return (field, info) if return_info else field

    monkeypatch.setattr(ClassicalEstimator, "estimate", low)
    out = tmp_path / "out.png"
    assert cli.main(["deblur", str(blurry_photo), "-o", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and f"{confidence:.2f}" in err
    same = np.array_equal(iio.imread(out), iio.imread(blurry_photo))
    assert same == unchanged
    if not unchanged:
        assert "iterations" in err


def test_blur_too_small_to_remove_safely_leaves_the_photo_unchanged(
        tmp_path, blurry_photo, monkeypatch, capsys):
    from nublur import cli
    from nublur.estimators.classical import ClassicalEstimator

    real = ClassicalEstimator.estimate

    def tiny(self, image, *, channel_axis=-1, return_info=False):
        field, info = real(self, image, channel_axis=channel_axis, return_info=True)
        info.blur_radius = 1.0
        return (field, info) if return_info else field

    monkeypatch.setattr(ClassicalEstimator, "estimate", tiny)
    out = tmp_path / "out.png"
    assert cli.main(["deblur", str(blurry_photo), "-o", str(out), "--quiet"]) == 0
    assert "too small" in capsys.readouterr().err
    assert np.array_equal(iio.imread(out), iio.imread(blurry_photo))


def test_a_kernel_window_too_small_for_the_blur_is_said_and_leaves_the_photo_unchanged(
        tmp_path, capsys):
    """A 31 px motion with --kernel-size 9: the kernel fills its window to the border, so the
    estimate is not trusted (confidence 0) and the photo is written unchanged."""
    import skimage.data
    from scipy.signal import fftconvolve

    from nublur import cli

    scene = skimage.data.camera()[40:296, 120:376] / 255.0
    blurry = np.clip(fftconvolve(scene, nublur.linear_kernel(31, 0.0), mode="same"), 0, 1)
    path, out = tmp_path / "line.png", tmp_path / "out.png"
    iio.imwrite(path, np.round(blurry * 255).astype(np.uint8))
    assert cli.main(["deblur", str(path), "-o", str(out), "--estimator", "uniform",
                     "--kernel-size", "9", "--gamma", "1"]) == 0
    err = capsys.readouterr().err
    assert "reaches the border of its window" in err and "confidence 0.00" in err
    assert np.array_equal(iio.imread(out), iio.imread(path))


def test_every_estimator_saves_its_field(tmp_path):
    rng = np.random.default_rng(4)
    sharp = synth.dead_leaves((240, 320), rng)  # large enough for a 2 x 3 patch grid
    blurred = nublur.blur(sharp, nublur.linear_kernel(9, 30.0), channel_axis=-1)
    iio.imwrite(tmp_path / "p.png", (np.clip(blurred, 0, 1) * 255).astype(np.uint8))
    run("deblur", tmp_path / "p.png", "-o", tmp_path / "d.png", "--iters", 3,
        "--save-field", tmp_path / "grid.npz", "--quiet")
    assert isinstance(fieldio.load_field(tmp_path / "grid.npz"), nublur.GridField)


def test_tiled_deblur_runs_the_network_on_a_reduction(tmp_path, photo):
    pytest.importorskip("dask")
    run("deblur", photo, "--tiled", "--estimator", "kpn", "-o", tmp_path / "k.png",
        "--save-field", tmp_path / "k.npz", "--iters", 3, "--quiet")
    assert iio.imread(tmp_path / "k.png").shape == (48, 56, 3)
    assert isinstance(fieldio.load_field(tmp_path / "k.npz"), nublur.BasisField)


def test_rotation_estimator_writes_a_grid_field_and_reports_confidence(tmp_path):
    rng = np.random.default_rng(4)
    sharp = synth.dead_leaves((240, 320), rng)
    blurred = nublur.blur(sharp, nublur.linear_kernel(9, 30.0), channel_axis=-1)
    iio.imwrite(tmp_path / "p.png", (np.clip(blurred, 0, 1) * 255).astype(np.uint8))
    proc = run("estimate", tmp_path / "p.png", "-o", tmp_path / "r.npz", "--estimator",
               "rotation")
    assert "confidence" in proc.stderr
    field = fieldio.load_field(tmp_path / "r.npz")
    assert isinstance(field, nublur.GridField) and field.grid_shape == (4, 5)
