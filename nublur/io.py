"""Image files: reading with EXIF orientation, writing atomically at the input's bit depth.

Also the atomic writers the rest of the package uses (``atomic_write``, ``write_json``).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import numpy as np

__all__ = ["ImageInfo", "read_image", "write_image", "ImageFileError"]

_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
MAX_PIXELS = 150_000_000
"""Largest image ``read_image`` decodes (150 MP: 1.8 GB as float32 RGB)."""


class ImageFileError(ValueError):
    """An image file could not be read or written (the message says why)."""


@dataclass(frozen=True)
class ImageInfo:
    """What ``read_image`` saw: the stored dtype (uint8, uint16, float) and channel count."""

    dtype: np.dtype
    channels: int


def read_image(path) -> tuple[np.ndarray, ImageInfo]:
    """Read an image as float32 in [0, 1], (H, W) or (H, W, 3), EXIF orientation applied.

    8- and 16-bit PNG, JPEG and TIFF are supported; alpha is dropped, palettes applied and
    CMYK converted to RGB. Broken files, files with no pixels and files declaring more than
    ``MAX_PIXELS`` pixels raise ``ImageFileError`` (one line) before anything is decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"cannot read {str(path)!r}: no such file")
    if path.suffix.lower() not in _EXTENSIONS:
        raise ImageFileError(f"cannot read {str(path)!r}: unsupported format "
                             f"(use {', '.join(sorted(_EXTENSIONS))})")
    mode = _check_header(path)
    try:
        if mode == "CMYK":
            from PIL import Image, ImageOps

            with Image.open(path) as im:
                raw = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        elif path.suffix.lower() in (".tif", ".tiff"):
            raw = iio.imread(path)
        else:
            raw = iio.imread(path, rotate=True)  # EXIF orientation
    except Exception as exc:  # imageio raises many types for broken files
        raise ImageFileError(f"cannot read {str(path)!r}: not a valid {path.suffix[1:]} image "
                             f"({type(exc).__name__})") from exc
    raw = np.asarray(raw)
    if raw.size == 0:
        raise ImageFileError(f"cannot read {str(path)!r}: the image has no pixels")
    if raw.ndim == 3 and raw.shape[2] == 4:
        raw = raw[..., :3]
    if raw.ndim == 3 and raw.shape[2] == 1:
        raw = raw[..., 0]
    if raw.ndim not in (2, 3) or (raw.ndim == 3 and raw.shape[2] != 3):
        raise ImageFileError(f"cannot read {str(path)!r}: expected a gray or RGB image, got "
                             f"shape {raw.shape}")
    info = ImageInfo(raw.dtype, 1 if raw.ndim == 2 else 3)
    if np.issubdtype(raw.dtype, np.integer):
        image = raw.astype(np.float32) / np.iinfo(raw.dtype).max
    else:
        image = np.clip(raw.astype(np.float32), 0, 1)
    return image, info


def _check_header(path: Path):
    """The file's colour mode, after checking from its header alone (nothing decoded) that
    it is an image of a size that fits: a file declaring more than ``MAX_PIXELS`` pixels (a
    decompression bomb) is refused before any memory is spent on it."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            width, height = im.size
            mode = im.mode
    except Image.DecompressionBombError as exc:
        raise ImageFileError(f"cannot read {str(path)!r}: it declares too many pixels "
                             f"(decompression bomb?)") from exc
    except Exception as exc:
        raise ImageFileError(f"cannot read {str(path)!r}: not a valid {path.suffix[1:]} image "
                             f"({type(exc).__name__})") from exc
    if width * height > MAX_PIXELS:
        raise ImageFileError(f"cannot read {str(path)!r}: it declares {width} x {height} "
                             f"pixels, more than nublur reads ({MAX_PIXELS / 1e6:.0f} MP); "
                             f"downscale or tile it first")
    if width * height == 0:
        raise ImageFileError(f"cannot read {str(path)!r}: the image has no pixels")
    return mode


def write_image(path, image: np.ndarray, dtype=np.uint8, *, force: bool = False,
                protect=()) -> Path:
    """Write ``image`` (float in [0, 1]) as ``dtype`` (uint8 or uint16) atomically.

    Refuses to overwrite an existing file unless ``force``, and never writes over any path in
    ``protect`` (the inputs). The data go to a temporary file in the target folder, renamed
    into place only when complete.
    """
    path = Path(path)
    if path.suffix.lower() not in _EXTENSIONS:
        raise ImageFileError(f"cannot write {str(path)!r}: unsupported format "
                             f"(use {', '.join(sorted(_EXTENSIONS))})")
    check_output_path(path, force=force, protect=protect)
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.uint8), np.dtype(np.uint16)):
        dtype = np.dtype(np.uint8)
    if dtype == np.uint16 and path.suffix.lower() in (".jpg", ".jpeg", ".bmp"):
        dtype = np.dtype(np.uint8)  # these formats store 8 bits
    data = np.round(np.clip(image, 0, 1) * np.iinfo(dtype).max).astype(dtype)
    atomic_write(path, lambda tmp: iio.imwrite(tmp, data, extension=path.suffix))
    return path


def check_output_path(path: Path, *, force: bool, protect=()) -> None:
    """Raise unless ``path`` may be written: not an input, not existing (or ``force``)."""
    for other in protect:
        if Path(other).exists() and path.exists() and os.path.samefile(path, other):
            raise ImageFileError(f"refusing to write {str(path)!r}: it is an input file")
        if Path(other).resolve() == path.resolve():
            raise ImageFileError(f"refusing to write {str(path)!r}: it is an input file")
    if path.exists() and not force:
        raise ImageFileError(f"{str(path)!r} exists; use --force to overwrite it")
    if not path.parent.exists():
        raise ImageFileError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not "
                             f"exist")


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path, obj, *, indent=None) -> None:
    """``json.dumps(obj, indent=indent)`` written atomically to ``path``."""
    text = json.dumps(obj, indent=indent)
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text))
