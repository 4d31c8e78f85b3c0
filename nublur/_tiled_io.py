"""Lazy image files for ``nublur.dask``: TIFF read region by region, TIFF and zarr written tile
by tile, both atomically (REFERENCE_NOTES.md "Scale-out facts": a tifffile zarr store cannot
be pickled, so each task opens the file itself).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .io import ImageFileError, atomic_write, check_output_path, read_image, write_image

_TIFF = (".tif", ".tiff")
TIFF_TILE = 256


def read_lazy(path, chunks: int = 1024):
    """A Dask array of the image at ``path``, float32 in [0, 1], (H, W) or (H, W, 3).

    TIFF (and OME-TIFF, full resolution level) is read region by region when computed, so
    memory holds only the chunks in flight; other formats are decoded whole
    (``nublur.io.read_image``) and then chunked. Returns (array, stored dtype).
    """
    import dask.array as da

    path = Path(path)
    if path.suffix.lower() not in _TIFF:
        image, info = read_image(path)
        spatial = (chunks, chunks) + ((-1,) if image.ndim == 3 else ())
        return da.from_array(image, chunks=spatial), info.dtype
    shape, dtype = _tiff_layout(path)
    spatial = (chunks, chunks) + ((-1,) if len(shape) == 3 else ())
    template = da.empty(shape, chunks=spatial, dtype=np.float32)
    array = da.map_blocks(_read_region, template, dtype=np.float32, path=str(path),
                          meta=np.empty((0,) * len(shape), dtype=np.float32))
    return array, dtype


def _tiff_layout(path: Path):
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape, dtype = tuple(series.shape), np.dtype(series.dtype)
    except Exception as exc:  # tifffile raises many types for broken files
        raise ImageFileError(f"cannot read {str(path)!r}: not a valid TIFF image "
                             f"({type(exc).__name__})") from exc
    if len(shape) == 3 and shape[-1] in (3, 4):
        shape = shape[:2] + (3,)
    elif len(shape) != 2:
        raise ImageFileError(f"cannot read {str(path)!r} lazily: expected a gray or RGB(A) "
                             f"TIFF (H, W) or (H, W, 3), got shape {shape}")
    if dtype.kind not in "uif":
        raise ImageFileError(f"cannot read {str(path)!r}: unsupported sample type {dtype}")
    return shape, dtype


def _read_region(template, path, block_info=None):
    import tifffile
    import zarr

    (r0, r1), (c0, c1) = block_info[None]["array-location"][:2]
    store = tifffile.imread(path, aszarr=True)
    try:
        node = zarr.open(store, mode="r")
        level = node if isinstance(node, zarr.Array) else node[sorted(node.array_keys())[0]]
        raw = np.asarray(level[r0:r1, c0:c1])
    finally:
        store.close()
    if raw.ndim == 3:
        raw = raw[..., :3]
    if raw.dtype.kind in "ui":
        return raw.astype(np.float32) / np.float32(np.iinfo(raw.dtype).max)
    return np.clip(raw.astype(np.float32), 0, 1)


def write_lazy(path, array, dtype=np.uint8, *, force: bool = False, protect=()) -> Path:
    """Write a Dask image (float in [0, 1]) chunk-row by chunk-row, atomically.

    ``.tif``/``.tiff``: a tiled TIFF (256 x 256 tiles) of uint8 or uint16; ``.zarr``: a zarr
    array of ``dtype`` with the array's chunks; other formats are computed whole and written
    by ``nublur.io.write_image``. Memory holds one row of chunks at a time (and fewer than
    256 rows carried over to the next).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _TIFF + (".zarr",):
        return write_image(path, array.compute(), dtype, force=force, protect=protect)
    check_output_path(path, force=force, protect=protect)
    if suffix == ".zarr":
        return _write_zarr(path, array, np.dtype(dtype))
    dtype = np.dtype(dtype) if np.dtype(dtype) in (np.uint8, np.uint16) else np.dtype(np.uint8)
    atomic_write(path, lambda tmp: _write_tiff(tmp, array, dtype))
    return path


def _quantise(block, dtype):
    return np.round(np.clip(block, 0, 1) * np.iinfo(dtype).max).astype(dtype)


def _write_tiff(tmp, array, dtype):
    import tifffile

    h, w = array.shape[:2]
    tile = TIFF_TILE

    def tiles():
        carry, stop = None, 0  # rows past the last whole tile row, written with the next band
        for size in array.chunks[0]:
            start, stop = stop, stop + size
            band = _quantise(array[start:stop].compute(), dtype)
            band = band if carry is None else np.concatenate([carry, band])
            whole = band.shape[0] if stop == h else band.shape[0] // tile * tile
            yield from _band_tiles(band[:whole], w, tile)
            carry = band[whole:]

    photometric = "rgb" if array.ndim == 3 else "minisblack"
    tifffile.imwrite(tmp, tiles(), shape=array.shape, dtype=dtype, tile=(tile, tile),
                     photometric=photometric, compression="zlib")


def _band_tiles(band, width, tile):
    """The TIFF tiles of a band of whole tile rows (the last padded), row-major."""
    for t0 in range(0, band.shape[0], tile):
        for c0 in range(0, width, tile):
            piece = band[t0:t0 + tile, c0:c0 + tile]
            if piece.shape[:2] != (tile, tile):
                pad = [(0, tile - piece.shape[0]), (0, tile - piece.shape[1])]
                piece = np.pad(piece, pad + [(0, 0)] * (piece.ndim - 2))
            yield piece


def _write_zarr(path, array, dtype):
    import dask.array as da

    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".zarr"))
    try:
        data = array.map_blocks(_quantise, dtype, dtype=dtype) if dtype.kind == "u" \
            else array.astype(dtype)
        da.to_zarr(data, str(tmp), overwrite=True)
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else os.unlink(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
