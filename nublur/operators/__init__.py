"""Forward and adjoint blur operators, boundaries and the camera response."""

from .blur import blur, blur_adjoint
from .camera import camera_response, smooth_clip, smooth_clip_derivative
from .linear_operator import BlurOperator, mask_first_operator

__all__ = ["blur", "blur_adjoint", "BlurOperator", "mask_first_operator", "camera_response", "smooth_clip",
           "smooth_clip_derivative"]
