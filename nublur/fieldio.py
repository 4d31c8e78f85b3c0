"""Kernel-field files: one npz per field, with its type, convention and format version."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .fields import (BasisField, DenseField, GridField, KernelField, LinearMotionField,
                     ReducedBasisField, UniformField)
from .io import atomic_write

__all__ = ["save_field", "load_field", "FORMAT_VERSION"]

FORMAT_VERSION = 1
CONVENTION = "psf-gather"  # DESIGN.md section 1: PSFs gathered at the output pixel
_ARRAYS = {UniformField: ("psf",), BasisField: ("kernels", "mixing"), DenseField: ("kernels",),
           LinearMotionField: ("length", "angle", "kernel_size"),
           GridField: ("grid_kernels", "image_shape", "row_nodes", "col_nodes"),
           ReducedBasisField: ("kernels", "mixing", "image_shape")}
_BUILD = {LinearMotionField: lambda a: LinearMotionField(a["length"], a["angle"],
                                                         kernel_size=int(a["kernel_size"])),
          GridField: lambda a: GridField(a["grid_kernels"], tuple(a["image_shape"]),
                                         row_nodes=a["row_nodes"], col_nodes=a["col_nodes"]),
          ReducedBasisField: lambda a: ReducedBasisField(a["kernels"], a["mixing"],
                                                         tuple(a["image_shape"]))}


def save_field(path, field: KernelField) -> None:
    """Write ``field`` to ``path`` (.npz) atomically (temporary file, then rename)."""
    if type(field) not in _ARRAYS:
        raise TypeError(f"field must be one of {[t.__name__ for t in _ARRAYS]}, got "
                        f"{type(field).__name__}")
    path = Path(path)
    arrays = {name: np.asarray(getattr(field, name)) for name in _ARRAYS[type(field)]}

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez_compressed(f, field_type=type(field).__name__, convention=CONVENTION,
                                version=FORMAT_VERSION, **arrays)

    atomic_write(path, write)


def load_field(path) -> KernelField:
    """Read a field written by ``save_field``, validating type, convention and version."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is not a readable field file: {exc}") from exc
    with data:
        for key in ("field_type", "convention", "version"):
            if key not in data:
                raise ValueError(f"{str(path)!r} is not a nublur field file (no {key!r})")
        if int(data["version"]) > FORMAT_VERSION:
            raise ValueError(f"{str(path)!r} has format version {int(data['version'])}, newer "
                             f"than this nublur ({FORMAT_VERSION})")
        if str(data["convention"]) != CONVENTION:
            raise ValueError(f"{str(path)!r} uses kernel convention {str(data['convention'])!r}, "
                             f"expected {CONVENTION!r}")
        kinds = {t.__name__: t for t in _ARRAYS}
        kind = kinds.get(str(data["field_type"]))
        if kind is None:
            raise ValueError(f"{str(path)!r} has unknown field type {str(data['field_type'])!r}")
        missing = [name for name in _ARRAYS[kind] if name not in data]
        if missing:
            raise ValueError(f"{str(path)!r} is a {kind.__name__} file without {missing}")
        arrays = {name: data[name] for name in _ARRAYS[kind]}
        if kind in _BUILD:
            return _BUILD[kind](arrays)
        return kind(*arrays.values())
