"""An installed nublur works like the checkout: the wheel and sdist carry the models, and a
wheel installed in a fresh environment deblurs a photo from another folder."""

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted(p.name for p in (ROOT / "models_onnx").iterdir()
                if p.suffix in (".onnx", ".json"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    pytest.importorskip("wheel")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(out), str(ROOT)], check=True)
    (path,) = out.glob("nublur-*.whl")
    return path


def test_wheel_contains_every_module_and_model(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for model in MODELS:
        assert f"nublur/models/{model}" in names
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "nublur").rglob("*.py")}
    assert modules <= names
    assert not any(n.startswith(("tests/", "benchmarks/", "training_torch/")) for n in names)


def test_sdist_contains_the_models(tmp_path):
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path)], cwd=ROOT,
                   check=True, capture_output=True)
    (path,) = tmp_path.glob("nublur-*.tar.gz")
    names = {n.split("/", 1)[1] for n in tarfile.open(path).getnames() if "/" in n}
    for model in MODELS:
        assert f"models_onnx/{model}" in names


def test_installed_wheel_deblurs_from_another_folder(wheel, tmp_path):
    """A fresh virtual environment (dependencies from the system site, nublur only from the
    wheel) runs `nublur deblur` with the shipped network on a small photo."""
    import imageio.v3 as iio

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)],
                   check=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    rng = np.random.default_rng(0)
    iio.imwrite(work / "photo.png", (rng.random((48, 64, 3)) * 255).astype(np.uint8))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([str(python), "-c", "import nublur; print(nublur.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(str(venv))
    proc = subprocess.run([str(venv / "bin" / "nublur"), "deblur", "photo.png", "--estimator",
                           "kpn", "--iters", "3", "-o", "out.png", "--quiet"], cwd=work,
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert iio.imread(work / "out.png").shape == (48, 64, 3)
