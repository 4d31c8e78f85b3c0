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
        "reduced": nublur.ReducedBasisField(kernels[3:], mixing[:, ::5, ::6], SHAPE,
                                            normalize=True),
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


def test_tiled_admm_irc_is_within_its_halo_rule():
    rng = np.random.default_rng(7)
    truth = nublur.synth.dead_leaves((160, 160), rng).mean(axis=-1)
    psf = nublur.linear_kernel(7, 30.0)
    y = np.clip(nublur.blur(truth, psf) + rng.normal(0, 0.01, truth.shape), 0, 1)
    whole = nublur.admm_irc(y, psf, num_admm=5, step="fixed")
    assert nd.admm_halo(psf, 5) < 80  # so that the 40 px tiles below are not one tile
    tiled = nd.admm_irc(y, psf, num_admm=5, chunks=40).compute()
    assert np.abs(tiled - whole).max() <= 1e-4
    short = nd.admm_irc(y, psf, num_admm=5, halo=4, chunks=40).compute()
    assert np.abs(short - whole).max() > 1e-3  # the halo matters: the check can fail
    assert nd.admm_halo(nublur.linear_kernel(25, 0.0)) > 4 * nd.admm_halo(psf)
    with pytest.raises(TypeError, match="uniform PSF"):
        nd.admm_irc(y, FIELDS["linear"])
    with pytest.raises(ValueError, match="callback"):
        nd.admm_irc(y, psf, callback=print)
    with pytest.raises(ValueError, match="step"):
        nd.admm_irc(y, psf, step="optimal")


def test_rl_halo_follows_the_kernel_spread():
    line = nublur.linear_kernel(15, 0.0)
    assert nd.rl_halo(line, 30, tv_weight=1e-3) > nd.rl_halo(line, 30)
    assert nd.rl_halo(line, 30) > nd.rl_halo(line, 10)
    assert nd.rl_halo(line, 30) > nd.rl_halo(nublur.linear_kernel(5, 0.0), 30)
    delta = np.zeros((3, 3))
    delta[1, 1] = 1
    assert nd.rl_halo(delta, 30) == 2  # K // 2 + 1


def _brute_force_tiles(h, w, halo, max_pixels):
    """Least work over every balanced split, the largest extended tile measured tile by
    tile."""
    def axis(n, parts):
        sizes = [n // parts + (i < n % parts) for i in range(parts)]
        if parts > 1 and min(sizes) < max(halo, 1):
            return None
        return max(s + halo * ((i > 0) + (i < parts - 1)) for i, s in enumerate(sizes))

    best = None
    for ny in range(1, h + 1):
        for nx in range(1, w + 1):
            ey, ex = axis(h, ny), axis(w, nx)
            if ey is None or ex is None or ey * ex > max_pixels:
                continue
            work = (h + 2 * halo * (ny - 1)) * (w + 2 * halo * (nx - 1))
            best = work if best is None else min(best, work)
    return best


@pytest.mark.parametrize("h, w, halo, max_pixels", [(53, 70, 5, 900), (53, 70, 0, 500),
                                                     (120, 37, 9, 1500), (64, 64, 3, 5000),
                                                     (90, 200, 12, 2600), (30, 30, 4, 200)])
def test_rl_tiles_is_the_least_work_split_within_the_memory_bound(h, w, halo, max_pixels):
    rows, cols = nd.rl_tiles((h, w, 3), halo, max_pixels)
    assert sum(rows) == h and sum(cols) == w
    assert max(rows) - min(rows) <= 1 and max(cols) - min(cols) <= 1
    ext = [r + halo * ((i > 0) + (i < len(rows) - 1)) for i, r in enumerate(rows)]
    exw = [c + halo * ((i > 0) + (i < len(cols) - 1)) for i, c in enumerate(cols)]
    assert max(ext) * max(exw) <= max_pixels
    work = (h + 2 * halo * (len(rows) - 1)) * (w + 2 * halo * (len(cols) - 1))
    assert work == _brute_force_tiles(h, w, halo, max_pixels)


def test_rl_tiles_keeps_an_image_that_fits_whole_and_refuses_an_impossible_bound():
    assert nd.rl_tiles((2000, 4000), 160) == ((2000,), (4000,))
    with pytest.raises(ValueError, match="max_pixels"):
        nd.rl_tiles((300, 400), 60, max_pixels=10_000)


def test_a_network_field_stays_reduced_and_solves_like_its_full_maps():
    from nublur.estimators import load_estimator

    rng = np.random.default_rng(6)
    truth = nublur.synth.dead_leaves((200, 150), rng)
    y = np.clip(nublur.blur(truth, nublur.linear_kernel(9, 60.0), channel_axis=-1), 0, 1)
    field, info = nd.estimate(load_estimator("kpn", max_side=64), y.astype(np.float32))
    assert isinstance(field, nublur.ReducedBasisField)  # a block-mean factor of 4
    assert field.image_shape == (200, 150) and field.mixing.shape[1:] == (50, 37)
    assert field.kernel_size >= 4 * 33 and info.confidence is None and info.noise >= 0
    # 25 maps need fewer pixels per tile than a grid, uniform or linear field
    assert nd.rl_tiles((8000, 6000), 100, field=field) != nd.rl_tiles((8000, 6000), 100)
    whole = nublur.richardson_lucy(y, field.to_basis(), 3, channel_axis=-1)
    tiled = nd.richardson_lucy(y, field, 3, chunks=64).compute()
    assert np.abs(tiled - whole).max() <= 1e-4


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


def _worker_threads():
    import os

    import threadpoolctl

    blas = [pool["num_threads"] for pool in threadpoolctl.threadpool_info()
            if pool["user_api"] == "blas"]
    names = ("NUBLUR_NUM_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS")
    return [os.environ.get(name) for name in names] + [str(n) for n in blas] + \
        [os.environ.get("MALLOC_TRIM_THRESHOLD_")]


def test_local_cluster_and_a_scheduler_address_give_the_whole_image_result():
    pytest.importorskip("distributed")
    field = FIELDS["basis"]
    x = np.random.default_rng(4).random(SHAPE)
    want = nublur.blur(x, field)
    with nd.local_client(1) as client:
        (worker,) = client.run(_worker_threads).values()
        # one number for every thread pool, BLAS included, and glibc's own malloc trimming
        assert len(set(worker[:-1])) == 1 and int(worker[0]) >= 1 and worker[-1] is None
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


@pytest.mark.parametrize("shape, chunks", [((700, 530, 3), (300, 200, 3)),
                                           ((256, 300), (100, 77))])
def test_tiled_tiff_is_written_band_by_band_whatever_the_chunk_rows(tmp_path, shape, chunks):
    tifffile = pytest.importorskip("tifffile")
    x = np.random.default_rng(8).random(shape).astype(np.float32)
    nd.write_image(tmp_path / "o.tif", da.from_array(x, chunks=chunks))  # rows not of 256
    want = np.round(x * 255).astype(np.uint8)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "o.tif"), want)
