"""nublur.dask: tiled operators equal the whole-image operators; tiled RL within its rule."""

import threading

import numpy as np
import pytest

import nublur

da = pytest.importorskip("dask.array")
nd = pytest.importorskip("nublur.dask")

BOUNDARIES = ("reflect", "mirror", "replicate", "constant", "periodic")
SHAPE = (53, 70)  # not a multiple of any chunk size used


def _fields(rng):
    kernels = np.stack([nublur.camera_shake_kernel(11, rng) for _ in range(6)])
    mixing = rng.random((3,) + SHAPE)
    mixing /= mixing.sum(axis=0)
    grid = nublur.GridField(kernels.reshape(2, 3, 11, 11), SHAPE)
    return {
        "uniform": kernels[0],
        "grid": grid,
        "basis": nublur.BasisField(kernels[:3], mixing),
        "dense": grid.to_dense(),
        "linear": nublur.LinearMotionField(rng.uniform(0, 9, SHAPE), rng.uniform(0, 180, SHAPE)),
    }


FIELDS = _fields(np.random.default_rng(0))


@pytest.mark.parametrize("name", sorted(FIELDS))
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("chunks", [4, 24])  # 4: tiles smaller than the kernel
def test_tiled_operators_equal_whole_image_operators(name, boundary, chunks):
    field = FIELDS[name]
    x = np.random.default_rng(1).random(SHAPE)
    forward = nd.blur(x, field, boundary=boundary, chunks=chunks)
    adjoint = nd.blur_adjoint(x, field, boundary=boundary, chunks=chunks)
    assert isinstance(forward, da.Array) and forward.shape == SHAPE
    np.testing.assert_allclose(forward.compute(), nublur.blur(x, field, boundary=boundary),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(adjoint.compute(),
                               nublur.blur_adjoint(x, field, boundary=boundary),
                               rtol=0, atol=1e-12)


def test_colour_dask_input_keeps_its_chunks_and_matches():
    field = FIELDS["grid"]
    x = np.random.default_rng(2).random(SHAPE + (3,)).astype(np.float32)
    lazy = da.from_array(x, chunks=(20, 30, 3))
    out = nd.blur(lazy, field)
    assert out.chunks == lazy.chunks and out.dtype == np.float32
    np.testing.assert_allclose(out.compute(), nublur.blur(x, field, channel_axis=-1),
                               rtol=0, atol=2e-6)


def test_tiled_richardson_lucy_is_within_its_halo_rule():
    rng = np.random.default_rng(3)
    truth = nublur.synth.dead_leaves((96, 96), rng).mean(axis=-1)
    psf = nublur.linear_kernel(9, 30.0)
    y = np.clip(nublur.blur(truth, psf) + rng.normal(0, 0.01, truth.shape), 0, 1)
    whole = nublur.richardson_lucy(y, psf, 10, tv_weight=2e-3)
    tiled = nd.richardson_lucy(y, psf, 10, tv_weight=2e-3, chunks=32).compute()
    assert np.abs(tiled - whole).max() <= 1e-4
    short = nd.richardson_lucy(y, psf, 10, tv_weight=2e-3, halo=2, chunks=32).compute()
    assert np.abs(short - whole).max() > 1e-3  # the halo matters: the check can fail


def test_rl_halo_follows_the_kernel_spread():
    line = nublur.linear_kernel(15, 0.0)
    assert nd.rl_halo(line, 30, tv_weight=1e-3) > nd.rl_halo(line, 30)
    assert nd.rl_halo(line, 30) > nd.rl_halo(line, 10)
    assert nd.rl_halo(line, 30) > nd.rl_halo(nublur.linear_kernel(5, 0.0), 30)
    delta = np.zeros((3, 3))
    delta[1, 1] = 1
    assert nd.rl_halo(delta, 30) == 2  # K // 2 + 1


def test_bad_arguments_are_refused_before_any_work():
    x = np.zeros(SHAPE)
    with pytest.raises(ValueError, match="stop_tol"):
        nd.richardson_lucy(x, FIELDS["uniform"], 5, stop_tol=0.0)
    with pytest.raises(ValueError, match="does not match"):
        nd.blur(np.zeros((10, 10)), FIELDS["grid"])
    with pytest.raises(ValueError, match="boundary"):
        nd.blur(x, FIELDS["uniform"], boundary="nope")
    with pytest.raises(ValueError, match="halo"):
        nd.richardson_lucy(x, FIELDS["uniform"], 5, halo=-1)


def test_operators_are_safe_from_several_threads_at_once():
    field = FIELDS["grid"]
    images = [np.random.default_rng(s).random(SHAPE) for s in range(6)]
    expected = [nublur.blur(x, field) for x in images]
    results = [None] * len(images)

    def run(i):
        for _ in range(3):
            results[i] = nublur.blur(images[i], field)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(images))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)


def test_local_cluster_and_a_scheduler_address_give_the_whole_image_result():
    pytest.importorskip("distributed")
    field = FIELDS["basis"]
    x = np.random.default_rng(4).random(SHAPE)
    want = nublur.blur(x, field)
    with nd.local_client(1) as client:
        assert client.run(lambda: __import__("os").environ["NUMBA_NUM_THREADS"])
        np.testing.assert_allclose(nd.blur(x, field, chunks=24).compute(), want, atol=1e-12)
        with nd.local_client(scheduler=client.scheduler.address) as remote:
            got = remote.compute(nd.blur(x, field, chunks=24)).result()
        np.testing.assert_allclose(got, want, atol=1e-12)


def test_tiled_command_reads_and_writes_tiff_tile_by_tile_like_the_whole_image(tmp_path):
    import subprocess
    import sys

    import tifffile

    rng = np.random.default_rng(5)
    sharp = nublur.synth.dead_leaves((150, 170), rng)
    blurred = nublur.blur(sharp, nublur.linear_kernel(7, 20.0), channel_axis=-1)
    tifffile.imwrite(tmp_path / "in.tif", (np.clip(blurred, 0, 1) * 65535).astype(np.uint16),
                     tile=(64, 64), photometric="rgb")
    import imageio.v3 as iio
    iio.imwrite(tmp_path / "psf.png", (nublur.linear_kernel(7, 20.0) * 255 /
                                       nublur.linear_kernel(7, 20.0).max()).astype(np.uint8))
    common = ["--estimator", f"uniform:{tmp_path / 'psf.png'}", "--iters", "5", "--quiet",
              "--tv", "0"]

    def deblur(*extra):
        proc = subprocess.run([sys.executable, "-m", "nublur.cli", "deblur",
                               str(tmp_path / "in.tif"), *common, *extra],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr

    deblur("-o", str(tmp_path / "whole.tif"))
    deblur("-o", str(tmp_path / "tiled.tif"), "--tiled", "--tile-size", "64")
    deblur("-o", str(tmp_path / "tiled.zarr"), "--tiled", "--tile-size", "64")
    whole = tifffile.imread(tmp_path / "whole.tif").astype(np.int64)
    with tifffile.TiffFile(tmp_path / "tiled.tif") as tif:
        assert tif.pages[0].is_tiled and tif.pages[0].dtype == np.uint16
        tiled = tif.asarray().astype(np.int64)
    assert tiled.shape == whole.shape
    # RL's halo rule (seam error <= 1e-4, 7 of 65535 levels), then rounding
    assert np.abs(tiled - whole).max() <= 8
    import zarr
    stored = np.asarray(zarr.open(str(tmp_path / "tiled.zarr"), mode="r")).astype(np.int64)
    np.testing.assert_array_equal(stored, tiled)
