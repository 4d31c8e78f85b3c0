"""nublur deblur on a batch: folders, resume, one bad file, Dask workers."""

import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from nublur import synth
from nublur.batch import batch_jobs


def run(*args):
    return subprocess.run([sys.executable, "-m", "nublur.cli", *map(str, args)],
                          capture_output=True, text=True)


@pytest.fixture
def folder(tmp_path):
    """12 small photos, one of them corrupt, and a 3 x 3 box PSF file."""
    photos = tmp_path / "in"
    photos.mkdir()
    for i in range(12):
        sharp = synth.dead_leaves((40, 48), np.random.default_rng(i))
        iio.imwrite(photos / f"p{i:02d}.png", (sharp * 255).astype(np.uint8))
    (photos / "p05.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    iio.imwrite(tmp_path / "psf.png", np.full((3, 3), 255, dtype=np.uint8))
    return photos


def _deblur(folder, out, *extra):
    return run("deblur", folder, "-o", out, "--estimator",
               f"uniform:{folder.parent / 'psf.png'}", "--iters", 2, "--quiet", *extra)


def test_a_corrupt_photo_is_reported_and_the_rest_are_written(folder, tmp_path):
    out = tmp_path / "out"
    proc = _deblur(folder, out)
    assert proc.returncode == 1, proc.stderr  # the number of photos that failed
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 11 and "p05_deblurred.png" not in written
    assert "p05.png" in proc.stderr and proc.stderr.count("error") == 1
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_a_rerun_skips_what_is_done_and_force_redoes_it(folder, tmp_path):
    out = tmp_path / "out"
    _deblur(folder, out)
    first = (out / "p00_deblurred.png").stat().st_mtime_ns
    again = run("deblur", folder, "-o", out, "--estimator",
                f"uniform:{folder.parent / 'psf.png'}", "--iters", 2)
    assert "skipping 11" in again.stderr and again.returncode == 1  # only p05 is retried
    assert (out / "p00_deblurred.png").stat().st_mtime_ns == first
    _deblur(folder, out, "--force")
    assert (out / "p00_deblurred.png").stat().st_mtime_ns != first


def test_batch_jobs_refuse_clashing_and_overwriting_outputs(tmp_path, folder):
    with pytest.raises(ValueError, match="does not exist"):
        batch_jobs([tmp_path / "missing.png"])
    other = tmp_path / "other"
    other.mkdir()
    (other / "p00.png").write_bytes((folder / "p00.png").read_bytes())
    with pytest.raises(ValueError, match="both be written"):
        batch_jobs([folder / "p00.png", other / "p00.png"], tmp_path / "out")
    with pytest.raises(ValueError, match="overwrite an input"):
        batch_jobs([folder / "p00.png"], folder, suffix="")


def test_save_figure_is_refused_for_a_batch(folder, tmp_path):
    proc = run("deblur", folder, "-o", tmp_path / "out", "--save-figure", tmp_path / "f.png")
    assert proc.returncode == 2 and "batch" in proc.stderr


def test_dask_workers_write_the_same_files_as_the_plain_loop(folder, tmp_path):
    pytest.importorskip("distributed")
    for name in (f"p{i:02d}.png" for i in range(3, 12)):
        (folder / name).unlink()  # three photos keep the cluster run short
    plain, parallel = tmp_path / "plain", tmp_path / "parallel"
    assert _deblur(folder, plain).returncode == 0
    proc = _deblur(folder, parallel, "--workers", 2)
    assert proc.returncode == 0, proc.stderr
    for path in plain.iterdir():
        np.testing.assert_array_equal(iio.imread(path), iio.imread(parallel / path.name))


@pytest.fixture
def scheduler(tmp_path):
    """A scheduler and one worker started as separate processes, as on a cluster."""
    pytest.importorskip("distributed")
    import json
    import time

    info = tmp_path / "scheduler.json"
    started = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                                 "--port", "0", "--no-dashboard", "--scheduler-file",
                                 str(info)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        started.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker",
                                         address, "--nworkers", "1", "--nthreads", "1",
                                         "--no-dashboard"], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))
        yield address
    finally:
        for process in reversed(started):
            process.terminate()
            process.wait(timeout=30)


def test_a_separately_started_scheduler_runs_tiles_and_a_batch(scheduler, folder, tmp_path):
    import nublur
    nd = pytest.importorskip("nublur.dask")

    x = np.random.default_rng(6).random((40, 50))
    psf = np.full((5, 5), 1 / 25)
    with nd.local_client(scheduler=scheduler) as client:
        client.wait_for_workers(1, timeout=60)
        workers = client.scheduler_info()["workers"]
        got = client.compute(nd.blur(x, psf, chunks=16)).result()
    assert len(workers) == 1
    np.testing.assert_allclose(got, nublur.blur(x, psf), atol=1e-12)
    for name in (f"p{i:02d}.png" for i in range(2, 12)):
        (folder / name).unlink()
    plain, remote = tmp_path / "plain", tmp_path / "remote"
    assert _deblur(folder, plain).returncode == 0
    proc = _deblur(folder, remote, "--scheduler", scheduler)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in remote.iterdir()) == ["p00_deblurred.png",
                                                        "p01_deblurred.png"]
    for path in plain.iterdir():
        np.testing.assert_array_equal(iio.imread(path), iio.imread(remote / path.name))
