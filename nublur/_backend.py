"""Array-module dispatch and the CPU FFT engine.

The FFT engine is chosen at run time: pyFFTW when it is installed, scipy.fft otherwise
(``set_fft_engine`` overrides the choice). The pyFFTW wheel bundles its own OpenMP runtime, and
next to torch its *threaded* transforms were measured up to 100x slower (DESIGN.md section 3).
nublur only makes single-threaded FFTW plans and runs them from its own tile threads, which
does not clash: with torch imported, the 1024x1024 B = 25 basis blur took 44.5 ms with pyFFTW
and 72.4 ms with scipy.fft (``benchmarks/bench_operators.py --with-torch``), so pyFFTW stays
the engine next to torch too.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import scipy.fft

__all__ = ["num_threads", "set_fft_engine", "fft_engine", "get_array_module", "TileFFT",
           "fast_fft_size"]

_ENGINE_OVERRIDE: str | None = None
_PLAN_LOCK = threading.Lock()


def num_threads() -> int:
    """Worker threads for tiled and numba kernels (``NUBLUR_NUM_THREADS`` or the CPU count)."""
    env = os.environ.get("NUBLUR_NUM_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def table_memory_bytes() -> int:
    """Memory for a linear field's per-pixel kernel table (``NUBLUR_TABLE_MIB``, default 256)."""
    env = os.environ.get("NUBLUR_TABLE_MIB", "256")
    try:
        mib = float(env)
    except ValueError:
        raise ValueError(f"NUBLUR_TABLE_MIB must be a number of MiB, got {env!r}") from None
    return int(max(mib, 0.0) * 2**20)


def set_fft_engine(name: str | None) -> None:
    """Force the CPU FFT engine: ``"pyfftw"``, ``"scipy"`` or ``None`` (automatic)."""
    global _ENGINE_OVERRIDE
    if name not in (None, "pyfftw", "scipy"):
        raise ValueError(f"engine must be 'pyfftw', 'scipy' or None, got {name!r}")
    if name == "pyfftw" and not _pyfftw_available():
        raise ValueError("engine 'pyfftw' requested but pyfftw is not installed")
    _ENGINE_OVERRIDE = name


def fft_engine() -> str:
    """The CPU FFT engine that new operators will use."""
    if _ENGINE_OVERRIDE is not None:
        return _ENGINE_OVERRIDE
    return "pyfftw" if _pyfftw_available() else "scipy"


def _pyfftw_available() -> bool:
    try:
        import pyfftw  # noqa: F401
    except ImportError:
        return False
    return True


def get_array_module(array):
    """numpy for host arrays; CuPy arrays are refused until the GPU backend lands."""
    module = type(array).__module__.split(".")[0]
    if module == "cupy":
        raise TypeError(
            "CuPy arrays are not supported yet: the GPU backend is not part of this "
            "release; pass a numpy array (cupy.asnumpy(x))"
        )
    return np


class TileFFT:
    """Real 2-D FFTs of one square tile size, on batches of up to ``batch`` tiles.

    Holds its own aligned buffers, so one instance serves one thread: ``real`` (batch, N, N),
    ``spectrum`` (batch, N, N // 2 + 1) and ``held`` (N, N // 2 + 1), a spectrum kept aside.
    Both directions are unnormalised; ``kernel_spectra`` carries the 1/N^2.
    """

    def __init__(self, size: int, batch: int, dtype, engine: str | None = None,
                 patient: bool = False):
        self.patient = patient
        self.size = int(size)
        self.batch = int(batch)
        self.dtype = np.dtype(dtype)
        self.complex_dtype = np.result_type(self.dtype, np.complex64)
        self.engine = engine or fft_engine()
        shape = (self.batch, self.size, self.size)
        spec_shape = (self.batch, self.size, self.size // 2 + 1)
        if self.engine == "pyfftw":
            import pyfftw

            self.real = pyfftw.empty_aligned(shape, self.dtype)
            self.spectrum = pyfftw.empty_aligned(spec_shape, self.complex_dtype)
            self.held = pyfftw.empty_aligned(spec_shape[1:], self.complex_dtype)
        else:
            self.real = np.zeros(shape, self.dtype)
            self.spectrum = np.zeros(spec_shape, self.complex_dtype)
            self.held = np.zeros(spec_shape[1:], self.complex_dtype)
        self.real[...] = 0
        self._plans = {}

    def _plan(self, key):
        plan = self._plans.get(key)
        if plan is None:
            import pyfftw

            kind, count = key
            _load_wisdom()
            effort = "FFTW_PATIENT" if self.patient else "FFTW_MEASURE"
            flags = (effort, "FFTW_DESTROY_INPUT")
            source = self.spectrum[:count] if kind == "inverse" else self.real[:count]
            saved = source.copy()  # FFTW_MEASURE overwrites the arrays while planning
            with _PLAN_LOCK:  # FFTW's planner is not thread-safe
                if kind == "hold":
                    plan = pyfftw.FFTW(self.real[0], self.held, axes=(0, 1), threads=1,
                                       flags=flags, planning_timelimit=2.0)
                elif kind == "forward":
                    plan = pyfftw.FFTW(self.real[:count], self.spectrum[:count], axes=(1, 2),
                                       threads=1, flags=flags, planning_timelimit=2.0)
                else:
                    plan = pyfftw.FFTW(self.spectrum[:count], self.real[:count], axes=(1, 2),
                                       direction="FFTW_BACKWARD", threads=1, flags=flags,
                                       planning_timelimit=2.0)
            source[...] = saved
            self._plans[key] = plan
            _save_wisdom()
        return plan

    def prepare(self, counts) -> None:
        """Plan every transform for these batch counts now (FFTW measures best when idle)."""
        if self.engine != "pyfftw":
            return
        self._plan(("hold", 1))
        for count in counts:
            self._plan(("forward", count))
            self._plan(("inverse", count))

    def forward_held(self) -> np.ndarray:
        """rfft2 of ``real[0]`` into ``held``."""
        if self.engine == "pyfftw":
            self._plan(("hold", 1)).execute()
        else:
            self.held[...] = scipy.fft.rfft2(self.real[0])
        return self.held

    def forward(self, count: int) -> np.ndarray:
        """rfft2 of ``real[:count]`` into ``spectrum[:count]`` (the input is destroyed)."""
        if self.engine == "pyfftw":
            self._plan(("forward", count)).execute()
        else:
            self.spectrum[:count] = scipy.fft.rfft2(self.real[:count], axes=(1, 2))
        return self.spectrum[:count]

    def inverse(self, count: int) -> np.ndarray:
        """irfft2 of ``spectrum[:count]`` into ``real[:count]`` (the spectrum is destroyed)."""
        if self.engine == "pyfftw":
            self._plan(("inverse", count)).execute()
        else:
            self.real[:count] = scipy.fft.irfft2(self.spectrum[:count], s=(self.size, self.size),
                                                 axes=(1, 2), norm="forward")
        return self.real[:count]


def fast_fft_size(n: int, engine: str | None = None) -> int:
    """Smallest fast real 2-D FFT size >= n for the engine.

    scipy.fft: ``next_fast_len`` (5-smooth). FFTW: the smallest 5-smooth multiple of 4, as
    FFTW's real transforms of odd or 2 x odd sizes are 1.5-3x slower per sample (single
    thread, float32: 135 -> 0.19 ms per forward and inverse pair, 144 -> 0.06 ms; 375 -> 1.25
    ms, 384 -> 0.58 ms).
    """
    if (engine or fft_engine()) != "pyfftw":
        return scipy.fft.next_fast_len(n, real=True)
    size = 4 * (-(-n // 4))
    while not _five_smooth(size):
        size += 4
    return size


def _five_smooth(n: int) -> bool:
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


def kernel_spectra(kernels: np.ndarray, size: int, dtype) -> np.ndarray:
    """rfft2 / size^2 of each (K, K) kernel embedded at the top-left corner of a tile.

    The 1/size^2 of the inverse transform is folded in here, once per kernel.
    """
    complex_dtype = np.result_type(np.dtype(dtype), np.complex64)
    padded = np.zeros((kernels.shape[0], size, size), dtype=np.float64)
    k = kernels.shape[-1]
    padded[:, :k, :k] = kernels
    spectra = scipy.fft.rfft2(padded, axes=(1, 2), workers=num_threads())
    spectra *= 1.0 / (size * size)
    return spectra.astype(complex_dtype, copy=False)



_WISDOM_STATE = {"loaded": False, "saved": None}


def cache_dir() -> str:
    """nublur's user cache folder: ``NUBLUR_CACHE_DIR``, else ``$XDG_CACHE_HOME/nublur``."""
    return os.environ.get("NUBLUR_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "nublur")


def _wisdom_path():
    return os.path.join(cache_dir(), "fftw_wisdom.pickle")


def _load_wisdom() -> None:
    """Import FFTW wisdom saved by earlier processes (plans then cost nothing)."""
    if _WISDOM_STATE["loaded"]:
        return
    _WISDOM_STATE["loaded"] = True
    import pickle

    import pyfftw

    try:
        with open(_wisdom_path(), "rb") as f:
            pyfftw.import_wisdom(pickle.load(f))
    except (OSError, EOFError, pickle.UnpicklingError, TypeError, ValueError):
        pass


def _save_wisdom() -> None:
    """Write the process's FFTW wisdom to the user cache (atomically; best effort)."""
    import pickle
    from pathlib import Path

    import pyfftw

    from .io import atomic_write

    wisdom = pyfftw.export_wisdom()
    if wisdom == _WISDOM_STATE["saved"]:
        return
    path = Path(_wisdom_path())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(pickle.dumps(wisdom)))
        _WISDOM_STATE["saved"] = wisdom
    except OSError:
        pass
