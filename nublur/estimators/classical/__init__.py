"""Classical (training-free) blind estimation: uniform PSFs, patch fields, refinement."""

from .patches import ClassicalEstimator, FieldEstimate
from .psf import PsfEstimate, estimate_psf
from .refine import RefineInfo, refine_field

__all__ = ["estimate_psf", "PsfEstimate", "ClassicalEstimator", "FieldEstimate",
           "refine_field", "RefineInfo"]
