"""Batches of photos: the jobs of ``nublur deblur a.jpg b.jpg folder/ -o OUTDIR``, run in this
process or on Dask workers, one failure never stopping the rest.

A batch is resumable: an output that already exists is skipped (unless ``force``), and every
output is written atomically, so an interrupted run leaves no half-written file and its rerun
does no work twice.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

__all__ = ["Job", "Outcome", "IMAGE_SUFFIXES", "batch_jobs", "deblurred_path", "run_batch"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


@dataclasses.dataclass(frozen=True)
class Job:
    """One photo to deblur: ``source`` is read, ``target`` written."""

    source: Path
    target: Path


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What became of a job: ``error`` is None on success; ``warnings`` are the plan's."""

    job: Job
    error: str | None = None
    warnings: tuple = ()
    seconds: float = 0.0


def deblurred_path(source, folder=None, suffix: str = "_deblurred") -> Path:
    """Where the deblurred ``source`` goes: ``folder`` (default its own) / STEM+suffix.EXT."""
    source = Path(source)
    return Path(folder if folder is not None else source.parent) / \
        f"{source.stem}{suffix}{source.suffix}"


def _sources(inputs) -> list[Path]:
    """Files named, and the image files directly inside folders named (sorted)."""
    files = []
    for entry in inputs:
        path = Path(entry)
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ValueError(f"input folder {str(path)!r} holds no image files "
                                 f"({', '.join(IMAGE_SUFFIXES)})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ValueError(f"input {str(path)!r} does not exist")
    return files


def batch_jobs(inputs, outdir=None, *, force: bool = False, suffix: str = "_deblurred"):
    """The jobs of a batch and the ones skipped because their output exists.

    Parameters
    ----------
    inputs : sequence of paths
        Image files and folders (a folder contributes the image files directly in it).
    outdir : path, optional
        Output folder (created when the batch runs); default: next to each input.
    force : bool
        Redo jobs whose output exists.
    suffix : str
        Added to each input's stem to name its output.

    Returns
    -------
    (jobs, skipped) : lists of ``Job``
    """
    sources = _sources(inputs)
    if not sources:
        raise ValueError("no input images given")
    jobs, skipped, targets = [], [], {}
    inputs_resolved = {s.resolve() for s in sources}
    for source in sources:
        target = deblurred_path(source, outdir, suffix)
        if target.resolve() in inputs_resolved:
            raise ValueError(f"output {str(target)!r} would overwrite an input")
        if target.resolve() in targets:
            raise ValueError(f"inputs {str(targets[target.resolve()])!r} and {str(source)!r} "
                             f"would both be written to {str(target)!r}")
        targets[target.resolve()] = source
        job = Job(source, target)
        (skipped if target.exists() and not force else jobs).append(job)
    return jobs, skipped


def run_batch(jobs, work, *, workers: int | None = None, scheduler: str | None = None,
              progress: bool = True) -> list[Outcome]:
    """Run ``work(job) -> Outcome`` for every job; returns the outcomes in job order.

    ``work`` must catch the errors of its own photo (an ``Outcome`` with ``error``). With
    ``workers`` or ``scheduler`` the jobs run on Dask (``nublur.dask.local_client``: worker
    processes on this machine, or the scheduler at that address), else one after the other
    here. A worker that dies fails only its job. One progress bar covers the batch.
    """
    from tqdm import tqdm

    if workers is None and scheduler is None:
        outcomes = []
        for job in tqdm(jobs, desc="deblur", unit="photo", disable=not progress):
            outcomes.append(work(job))
        return outcomes
    from distributed import as_completed

    from .dask import local_client

    with local_client(workers, scheduler=scheduler) as client:
        futures = client.map(work, jobs, pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        outcomes = [None] * len(jobs)
        with tqdm(total=len(jobs), desc="deblur", unit="photo", disable=not progress) as bar:
            for future in as_completed(futures):
                i = index[future.key]
                try:
                    outcomes[i] = future.result()
                except Exception as exc:  # the worker itself failed (killed, out of memory)
                    outcomes[i] = Outcome(jobs[i], error=f"{type(exc).__name__}: {exc}")
                bar.update()
    return outcomes
