"""The ``nublur`` command: deblur, estimate, blur, demo.

Errors are one line on stderr and exit code 2 (a traceback only with --debug).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np

from . import fieldio, viz
from .batch import Outcome, batch_jobs, deblurred_path, run_batch
from .fields import LinearMotionField, UniformField
from .io import ImageFileError, atomic_write, check_output_path, read_image, write_image

__all__ = ["main"]

SOLVERS = ("rl", "rl-whyte", "admm-irc", "ircnet", "cg", "fft")
_MAX_PIXELS_PER_GIB = 2_000_000  # rough working set of the solvers per image pixel


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _estimator(spec: str, image_shape):
    """The kernel field named by --estimator."""
    if spec.startswith("field:"):
        path = Path(spec[6:])
        if not path.is_file():
            raise CLIError(f"--estimator field: {str(path)!r} does not exist")
        try:
            field = fieldio.load_field(path)
        except (ValueError, TypeError) as exc:
            raise CLIError(f"bad field file: {exc}") from exc
        field.check_image_shape(image_shape, "the input image")
        return field
    if spec.startswith("uniform:"):
        psf, _ = read_image(spec[8:])
        psf = psf if psf.ndim == 2 else psf.mean(axis=-1)
        if psf.shape[0] % 2 == 0 or psf.shape[1] % 2 == 0 or psf.shape[0] != psf.shape[1]:
            k = max(psf.shape) | 1
            psf = np.pad(psf, ((0, k - psf.shape[0]), (0, k - psf.shape[1])))
        if psf.sum() <= 0:
            raise CLIError(f"--estimator uniform: {spec[8:]!r} is an all-black PSF image")
        return UniformField(psf.astype(np.float64), normalize=True)
    raise CLIError(f"--estimator must be classical, uniform, kpn, flow, classical+refine, "
                   f"kpn+refine, PATH.onnx, uniform:PSF.png or field:FIELD.npz, got {spec!r}")


LEARNED = ("kpn", "flow", "ufp", "kpn+refine", "ufp+refine")
REPORTS_CONFIDENCE = ("classical", "uniform", "rotation", "flow")
CLASSICAL = ("classical", "uniform", "rotation", "classical+refine")
DEFAULT_ESTIMATOR = "classical"


def _estimate_field(spec: str, image, quiet: bool, kernel_size=None):
    """--estimator: (field, info or None). Estimators run on the image; uniform: and field:
    read files (``_estimator``); the classical estimators and the flow network report their
    confidence and blur radius (``info``)."""
    if not _runs_estimator(spec):
        return _estimator(spec, image.shape[:2]), None
    estimator = _checked_estimator(spec, kernel_size, quiet)
    t0 = time.perf_counter()
    axis = -1 if image.ndim == 3 else None
    info = None
    if spec in REPORTS_CONFIDENCE:
        field, info = estimator.estimate(image, channel_axis=axis, return_info=True)
    else:
        field = estimator.estimate(image, channel_axis=axis)
    if not quiet:
        from .estimators.classical.psf import TRUNCATED_MASS

        kernels = getattr(field, "num_basis", getattr(field, "num_nodes", 1))
        extra = "" if info is None else \
            f", confidence {info.confidence:.2f}, blur radius {info.blur_radius:.1f} px"
        if getattr(info, "border_mass", 0.0) >= TRUNCATED_MASS:
            extra += (" (the kernel reaches the border of its window: not trusted; a larger "
                      "--kernel-size may help)")
        print(f"estimated a {kernels}-kernel field ({field.kernel_size} px) in "
              f"{time.perf_counter() - t0:.1f} s{extra}", file=sys.stderr)
    return field, info


def _runs_estimator(spec: str) -> bool:
    """Whether --estimator names an estimator (not a field or PSF file)."""
    return spec in LEARNED or spec in CLASSICAL or spec.endswith(".onnx")


def _checked_estimator(spec: str, kernel_size, quiet: bool):
    """The estimator --estimator names, its options checked (errors as ``CLIError``)."""
    if spec not in CLASSICAL and kernel_size is not None:
        raise CLIError("--kernel-size applies to the classical estimators only")
    try:
        return _loaded_estimator(spec, kernel_size, not quiet)
    except ValueError as exc:
        raise CLIError(f"--estimator {spec}: {exc}") from exc


@functools.lru_cache(maxsize=4)
def _loaded_estimator(spec: str, kernel_size, progress: bool):
    """``load_estimator`` once per process and setting (a batch worker keeps its ONNX
    Runtime session for every photo)."""
    from .estimators import load_estimator

    if spec in CLASSICAL:
        return load_estimator(spec, kernel_size=kernel_size, progress=progress)
    return load_estimator(spec)


def _plan(image, info, iters, tv, gamma):
    """``nublur.policy.deblur_plan`` for this estimate (a user's field is trusted)."""
    from .estimators.classical.psf import luminance, noise_level
    from .policy import deblur_plan

    noise = getattr(info, "noise", None)
    if tv is None and noise is None:
        noise = noise_level(luminance(image, -1 if image.ndim == 3 else None, gamma))
    if info is None:
        return deblur_plan(noise=noise, iterations=iters, tv_weight=tv)
    return deblur_plan(confidence=info.confidence, radius=info.blur_radius, noise=noise,
                       iterations=iters, tv_weight=tv)


def _plan_warnings(plan) -> list[str]:
    """What the user is told when the plan holds back (empty for a full deblur)."""
    if not plan.reason:
        return []
    unchanged = "; the photo is written unchanged" if plan.action == "none" else ""
    return [f"{plan.reason}{unchanged}"]


def _planned_solve(image, field, plan, solver, gamma, progress):
    """The image itself when the plan is "none", else ``_solve`` with the plan's strength."""
    if plan.action == "none":
        return image
    return _solve(image, field, solver, plan.iterations, gamma, plan.tv_weight, progress)


def _solve(image, field, solver, iters, gamma, tv, progress):
    from . import solvers

    axis = -1 if image.ndim == 3 else None
    if solver in ("rl", "rl-whyte"):
        return solvers.richardson_lucy(image, field, iters, gamma=gamma, tv_weight=tv,
                                       saturation="whyte" if solver == "rl-whyte" else None,
                                       channel_axis=axis, progress=progress)
    linear = image ** np.float32(gamma)
    if solver in ("admm-irc", "ircnet"):
        field = _within_table(field)
    if solver == "admm-irc":
        if not isinstance(field, (UniformField, LinearMotionField)):
            raise CLIError("--solver admm-irc needs a uniform or linear-motion field")
        out = solvers.admm_irc(linear, field, channel_axis=axis, progress=progress)
    elif solver == "ircnet":
        if not isinstance(field, LinearMotionField):
            raise CLIError("--solver ircnet needs a linear-motion field (--estimator flow)")
        out = solvers.load_solver("ircnet")(linear, field, channel_axis=axis)
    elif solver == "cg":
        out = solvers.deconv_cg(linear, field, prior="l1", channel_axis=axis, progress=progress)
    else:
        if not isinstance(field, UniformField):
            raise CLIError("--solver fft needs a uniform field")
        out = solvers.deconv_fft(linear, field, boundary="replicate", channel_axis=axis)
    return np.clip(out, 0, None) ** np.float32(1 / gamma)


def _within_table(field):
    """A linear field with its motions capped at the 511-kernel table's 35 px (said on
    stderr); any other field unchanged."""
    from .solvers.admm import MAX_TABLE_LENGTH

    if not isinstance(field, LinearMotionField) or field.length.max() <= MAX_TABLE_LENGTH:
        return field
    share = float(np.mean(field.length > MAX_TABLE_LENGTH))
    print(f"nublur: motions up to {field.length.max():.0f} px on {share:.0%} of the photo are "
          f"solved as {MAX_TABLE_LENGTH:.0f} px (the longest in ADMM-IRC's filter table)",
          file=sys.stderr)
    return LinearMotionField(np.minimum(field.length, MAX_TABLE_LENGTH), field.angle)


def _check_size(image_shape):
    pixels = image_shape[0] * image_shape[1]
    try:
        import os
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return
    if pixels > available / 2**30 * _MAX_PIXELS_PER_GIB:
        raise CLIError(f"image of {pixels / 1e6:.1f} MPix is too large for the "
                       f"{available / 2**30:.1f} GiB of free memory; downscale it first "
                       f"(e.g. to half size)")


def _figure(path, panels, titles, force, protect):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    check_output_path(Path(path), force=force, protect=protect)
    h, w = np.asarray(panels[0]).shape[:2]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4 * h / w + 0.6))
    for ax, panel, title in zip(np.atleast_1d(axes), panels, titles):
        ax.imshow(np.clip(panel, 0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, dpi=100, format="png",
                                                    bbox_inches="tight", pad_inches=0.1))
    plt.close(fig)


def _deblur_options(args) -> dict:
    return {"estimator": args.estimator, "kernel_size": args.kernel_size,
            "solver": args.solver, "iters": args.iters, "gamma": args.gamma, "tv": args.tv}


def _deblur_image(image, options, quiet):
    """Estimate, plan and solve: (result, field, warnings)."""
    field, estimate = _estimate_field(options["estimator"], image, quiet,
                                      options["kernel_size"])
    plan = _plan(image, estimate, options["iters"], options["tv"], options["gamma"])
    warnings = _plan_warnings(plan)
    result = _planned_solve(image, field, plan, options["solver"], options["gamma"],
                            not quiet)
    return result, field, warnings


def cmd_deblur(args):
    if len(args.inputs) > 1 or Path(args.inputs[0]).is_dir() or args.workers or \
            args.scheduler:
        return _deblur_batch(args)
    source = args.input = args.inputs[0]
    if args.tiled:
        return _deblur_tiled(args, source)
    image, info = read_image(source)
    _check_size(image.shape)
    output = Path(args.output) if args.output else deblurred_path(source)
    check_output_path(output, force=args.force, protect=[source])
    t0 = time.perf_counter()
    result, field, warnings = _deblur_image(image, _deblur_options(args), args.quiet)
    for warning in warnings:
        print(f"nublur: warning: {warning}", file=sys.stderr)
    write_image(output, result, info.dtype, force=args.force, protect=[source])
    _save_field(args, field)
    if args.save_figure:
        _figure(args.save_figure, [image, result, viz.kernel_grid(image, field)],
                ["blurry", f"deblurred ({args.solver})", "kernel field"], args.force,
                [source])
    if not args.quiet:
        print(f"wrote {output} ({time.perf_counter() - t0:.1f} s)")
    return 0


def _deblur_tiled(args, source) -> int:
    """--tiled: the image is read lazily (TIFF region by region), the field estimated on a
    block-mean reduction (``nublur.dask.estimate``; a field or PSF file is read as given),
    RL solved tile by tile on Dask (``nublur.dask.richardson_lucy``) and the result written
    chunk-row by chunk-row (tiled TIFF or zarr; other formats whole)."""
    try:
        from . import dask as nd
    except ImportError as exc:
        raise CLIError(str(exc)) from exc
    if args.solver not in ("rl", "rl-whyte"):
        raise CLIError("--tiled solves with Richardson-Lucy: use --solver rl or rl-whyte")
    if args.save_figure:
        raise CLIError("--save-figure is not available with --tiled (it needs the whole image)")
    lazy, stored = nd.read_image(source)
    output = Path(args.output) if args.output else deblurred_path(source)
    check_output_path(output, force=args.force, protect=[source])
    t0 = time.perf_counter()
    if _runs_estimator(args.estimator):  # estimated from a block-mean reduction
        estimator = _checked_estimator(args.estimator, args.kernel_size, args.quiet)
        field, estimate = nd.estimate(estimator, lazy)
        plan = _plan(None, estimate, args.iters, args.tv, args.gamma)
    else:  # a field or PSF file: its noise level from the whole photo
        image = lazy.compute()
        field, estimate = _estimate_field(args.estimator, image, args.quiet, args.kernel_size)
        plan = _plan(image, estimate, args.iters, args.tv, args.gamma)
        del image
    for warning in _plan_warnings(plan):
        print(f"nublur: warning: {warning}", file=sys.stderr)
    result = lazy
    if plan.action != "none":
        halo = nd.rl_halo(field, plan.iterations, plan.tv_weight)
        result = nd.richardson_lucy(lazy, field, plan.iterations, tv_weight=plan.tv_weight,
                                    gamma=args.gamma, halo=halo,
                                    chunks=args.tile_size or nd.rl_tiles(lazy.shape, halo,
                                                                         field=field),
                                    saturation="whyte" if args.solver == "rl-whyte" else None)
    import contextlib

    import dask
    from dask.diagnostics import ProgressBar

    # one tile at a time: nublur's own threads use the cores, memory holds one extended tile
    with dask.config.set(scheduler="threads", num_workers=1), \
            (contextlib.nullcontext() if args.quiet else ProgressBar()):
        nd.write_image(output, result, stored, force=args.force, protect=[source])
    _save_field(args, field)
    if not args.quiet:
        print(f"wrote {output} ({time.perf_counter() - t0:.1f} s)")
    return 0


def _deblur_job(job, options) -> Outcome:
    """One photo of a batch; its errors become the outcome's, never the batch's."""
    t0 = time.perf_counter()
    try:
        image, info = read_image(job.source)
        _check_size(image.shape)
        result, _, warnings = _deblur_image(image, options, quiet=True)
        write_image(job.target, result, info.dtype, force=True, protect=[job.source])
    except Exception as exc:  # noqa: BLE001 - reported per photo, the batch goes on
        message = " ".join(str(exc).split()) or type(exc).__name__
        return Outcome(job, error=message, seconds=time.perf_counter() - t0)
    return Outcome(job, warnings=tuple(warnings), seconds=time.perf_counter() - t0)


def _deblur_batch(args) -> int:
    """Several photos or folders: exit status = number of photos that failed (at most 100)."""
    if args.save_field or args.save_figure or args.tiled:
        raise CLIError("--save-field, --save-figure and --tiled are for one photo; they are "
                       "not available for a batch")
    outdir = Path(args.output) if args.output else None
    if outdir is not None and outdir.exists() and not outdir.is_dir():
        raise CLIError(f"-o must be a folder for a batch, {str(outdir)!r} is a file")
    jobs, skipped = batch_jobs(args.inputs, outdir, force=args.force)
    if skipped and not args.quiet:
        print(f"nublur: skipping {len(skipped)} photo(s) whose output exists (--force redoes "
              f"them)", file=sys.stderr)
    if outdir is not None:
        outdir.mkdir(parents=True, exist_ok=True)
    work = functools.partial(_deblur_job, options=_deblur_options(args))
    outcomes = run_batch(jobs, work, workers=args.workers, scheduler=args.scheduler,
                         progress=not args.quiet)
    failed = 0
    for outcome in outcomes:
        for warning in outcome.warnings:
            if not args.quiet:
                print(f"nublur: warning: {outcome.job.source}: {warning}", file=sys.stderr)
        if outcome.error:
            failed += 1
            print(f"nublur: error: {outcome.job.source}: {outcome.error}", file=sys.stderr)
    if not args.quiet:
        print(f"deblurred {len(jobs) - failed} of {len(jobs)} photo(s) into "
              f"{outdir or 'their folders'} ({len(skipped)} skipped, {failed} failed)")
    return min(failed, 100)


def cmd_estimate(args):
    image, _ = read_image(args.input)
    output = Path(args.output)
    check_output_path(output, force=args.force, protect=[args.input])
    field, _ = _estimate_field(args.estimator, image, args.quiet, args.kernel_size)
    fieldio.save_field(output, field)
    if args.figure:
        panels = [image, viz.kernel_grid(image, field)]
        titles = ["blurry", "estimated kernel field"]
        _figure(args.figure, panels, titles, args.force, [args.input])
        basis = Path(args.figure).with_name(Path(args.figure).stem + "_basis.png")
        write_image(basis, viz.basis_panels(field), force=args.force, protect=[args.input])
    if not args.quiet:
        print(f"wrote {output}")


def _save_field(args, field) -> None:
    """--save-field, with the same overwrite and input checks as every output."""
    if args.save_field:
        check_output_path(Path(args.save_field), force=args.force, protect=[args.input])
        fieldio.save_field(args.save_field, field)


def cmd_blur(args):
    image, info = read_image(args.input)
    output = Path(args.output)
    check_output_path(output, force=args.force, protect=[args.input])
    axis = -1 if image.ndim == 3 else None
    if args.field:
        field = _estimator(f"field:{args.field}", image.shape[:2])
        blurred = _blur(image, field, axis)
    else:
        rng = np.random.default_rng(args.seed)
        field, blurred = _random_blur(image, args.random, rng, args.gyro_log, axis)
    write_image(output, blurred, info.dtype, force=args.force, protect=[args.input])
    _save_field(args, field)
    if not args.quiet:
        print(f"wrote {output} ({type(field).__name__})")


def _blur(image, field, axis, boundary="reflect"):
    from .operators import blur

    return np.clip(blur(image, field, boundary=boundary, channel_axis=axis), 0, 1)


def _random_blur(image, kind, rng, gyro_log, axis):
    from . import kernels, synth

    shape = image.shape[:2]
    if kind == "segments":
        masks = synth.random_masks(shape, rng)
        ks = np.stack([kernels.camera_shake_kernel(33, rng) for _ in range(len(masks) + 1)])
        out = synth.segment_blur(image, masks, ks, channel_axis=axis)
        return out["field"], np.clip(out["blurry"], 0, 1)
    if kind == "flow":
        field = synth.motion_flow(shape, rng)
        return field, _blur(image, field, axis)
    if gyro_log is None:
        raise CLIError("--random gyro needs --gyro-log FOLDER (a Lai et al. log, e.g. "
                       "../shared/data/lai2016_nonuniform_gyro/gyro/gyro_01)")
    try:
        blurry, field, _ = synth.gyro_blur(image, gyro_log, channel_axis=axis)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    return field, np.clip(blurry, 0, 1)


def cmd_demo(args):
    from skimage import data
    from skimage.util import img_as_float32

    from . import synth
    from .metrics import psnr
    from .solvers import richardson_lucy

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sharp = img_as_float32(data.astronaut())
    field = synth.motion_flow(sharp.shape[:2], np.random.default_rng(args.seed), "mild")
    blurry = np.clip(_blur(sharp, field, -1) + np.random.default_rng(1).normal(
        0, 0.005, sharp.shape).astype(np.float32), 0, 1)
    restored = richardson_lucy(blurry, field, 30, channel_axis=-1, progress=not args.quiet)
    p_blurry, p_restored = psnr(blurry, sharp), psnr(restored, sharp)
    for name, img in (("synthetic_blurry.png", blurry), ("synthetic_deblurred.png", restored)):
        write_image(out / name, img, force=True)
    fieldio_path = out / "synthetic_field.npz"
    fieldio.save_field(fieldio_path, field)
    write_image(out / "synthetic_kernel_field.png", viz.kernel_grid(sharp, field), force=True)
    write_image(out / "synthetic_flow.png", viz.flow_colours(field), force=True)
    _figure(out / "demo.png", [sharp, blurry, restored, viz.kernel_grid(sharp, field)],
            ["sharp (ground truth)", f"blurry: {p_blurry:.2f} dB",
             f"RL, true field: {p_restored:.2f} dB", "kernel field (2x)"], True, [])
    real = _demo_clock(out, args.quiet)
    if not args.quiet:
        print(f"synthetic non-uniform example: blurry {p_blurry:.2f} dB -> deblurred "
              f"{p_restored:.2f} dB (RL, 30 iterations, true field)")
        print(real)
        print(f"wrote {out}/demo.png and the images beside it")


def _demo_clock(out: Path, quiet: bool) -> str:
    """The real photo: scikit-image's clock_motion, its field estimated without training
    (the default estimator), deblurred with RL."""
    from skimage import data
    from skimage.util import img_as_float32

    photo = img_as_float32(data.clock())
    field, estimate = _estimate_field(DEFAULT_ESTIMATOR, photo, quiet)
    plan = _plan(photo, estimate, 30, None, 2.2)
    restored = _planned_solve(photo, field, plan, "rl", 2.2, not quiet)
    write_image(out / "clock_deblurred.png", restored, force=True)
    _figure(out / "demo_clock.png", [photo, restored, viz.kernel_grid(photo, field)],
            ["clock_motion (real blur)", f"RL on the estimated field ({plan.action})",
             "estimated kernels"], True, [])
    return (f"real photo: clock_motion, field estimated blind (confidence "
            f"{estimate.confidence:.2f}, blur radius {estimate.blur_radius:.1f} px, "
            f"{plan.action} deblurring), "
            f"deblurred -> {out}/demo_clock.png")


def _parser():
    parser = argparse.ArgumentParser(prog="nublur", description="Non-uniform motion deblurring")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    common.add_argument("--force", action="store_true", help="overwrite existing outputs")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks")

    p = sub.add_parser("deblur", parents=[common], help="deblur photos",
                       description="Deblur one photo, or a batch: several files or folders, "
                                   "with -o an output folder; a batch skips outputs that "
                                   "exist (unless --force), goes on past a failed photo and "
                                   "exits with the number of photos that failed.")
    p.add_argument("inputs", nargs="+", metavar="input", help="image file(s) or folder(s)")
    p.add_argument("-o", "--output", help="output file (one photo) or folder (a batch)")
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="run a batch on this many Dask worker processes (needs nublur[dask])")
    p.add_argument("--tiled", action="store_true",
                   help="solve tile by tile with bounded memory (needs nublur[dask]; TIFF is "
                        "read region by region, .tif and .zarr outputs written tile by tile)")
    p.add_argument("--tile-size", type=_positive_int, default=None,
                   help="square tiles of --tiled in pixels (default: nublur.dask.rl_tiles, "
                        "the fewest tiles that fit in memory)")
    p.add_argument("--scheduler", default=None,
                   help="run a batch on the Dask scheduler at this address (tcp://host:port)")
    p.add_argument("--estimator", default=DEFAULT_ESTIMATOR,
                   help="classical (default) | uniform | rotation | kpn | flow | ufp | "
                        "classical+refine "
                        "| kpn+refine | ufp+refine | PATH.onnx | uniform:PSF.png | "
                        "field:FIELD.npz")
    p.add_argument("--kernel-size", type=_odd_size, default=None,
                   help="kernel window in pixels for the classical estimators (default: "
                        "automatic)")
    p.add_argument("--solver", choices=SOLVERS, default="rl")
    p.add_argument("--iters", type=_positive_int, default=30)
    p.add_argument("--gamma", type=_positive_float, default=2.2)
    p.add_argument("--tv", type=_nonnegative_float, default=None,
                   help="TV weight of RL (default: 0.4 x the noise level of the photo)")
    p.add_argument("--save-field")
    p.add_argument("--save-figure")
    p.set_defaults(run=cmd_deblur)

    p = sub.add_parser("estimate", parents=[common], help="estimate a kernel field")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--estimator", default=DEFAULT_ESTIMATOR,
                   help="classical (default) | uniform | rotation | kpn | flow | ufp | "
                        "classical+refine "
                        "| kpn+refine | ufp+refine | PATH.onnx")
    p.add_argument("--kernel-size", type=_odd_size, default=None)
    p.add_argument("--figure")
    p.set_defaults(run=cmd_estimate)

    p = sub.add_parser("blur", parents=[common], help="blur a sharp image")
    p.add_argument("input")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--field")
    group.add_argument("--random", choices=("segments", "flow", "gyro"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gyro-log")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--save-field")
    p.set_defaults(run=cmd_blur)

    p = sub.add_parser("demo", parents=[common], help="the main job on built-in images")
    p.add_argument("--out", default="nublur_demo")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=cmd_demo)
    return parser


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _odd_size(text):
    value = _positive_int(text)
    if value % 2 == 0 or value < 3:
        raise argparse.ArgumentTypeError(f"must be an odd integer >= 3, got {text}")
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _nonnegative_float(text):
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        status = args.run(args)
    except (CLIError, ImageFileError, ValueError, TypeError, MemoryError) as exc:
        if args.debug:
            raise
        print(f"nublur: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return status or 0


if __name__ == "__main__":
    # run as nublur.cli, not __main__: a batch's tasks must name a module Dask workers import
    from nublur.cli import main as _main

    sys.exit(_main())
