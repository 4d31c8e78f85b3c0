"""Deconvolution solvers."""

from .richardson_lucy import richardson_lucy

__all__ = ["richardson_lucy"]
