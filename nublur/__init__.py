"""nublur: solvers, operators and estimators for non-uniform motion blur.

Kernels are PSFs gathered at the output pixel: v(i) = sum_q k_i(q) u(i - q).
"""

from ._backend import fft_engine, set_fft_engine
from .fields import (BasisField, DenseField, GridField, KernelField, LatentField,
                     LinearMotionField, ReducedBasisField, UniformField)
from . import estimators, fieldio, metrics, policy, synth, viz
from .estimators import estimate_psf, load_estimator, refine_field
from .estimators.prior import load_kernel_prior
from .kernels import camera_shake_kernel, camera_shake_trajectory, linear_kernel
from .policy import deblur_plan
from .operators import (BlurOperator, blur, blur_adjoint, camera_response, mask_first_operator,
                        smooth_clip, smooth_clip_derivative)
from .solvers import (InverseFilters, LinearKernelLUT, admm_irc, deconv_cg, deconv_fft,
                      inverse_filters, irc, load_solver, richardson_lucy)

__version__ = "0.1.0"

__all__ = [
    "KernelField", "UniformField", "BasisField", "GridField", "DenseField", "LinearMotionField",
    "ReducedBasisField", "LatentField", "load_kernel_prior",
    "mask_first_operator", "linear_kernel", "camera_shake_kernel", "camera_shake_trajectory",
    "blur", "blur_adjoint", "BlurOperator", "camera_response", "smooth_clip",
    "smooth_clip_derivative", "fft_engine", "set_fft_engine", "richardson_lucy",
    "admm_irc", "deconv_cg", "deconv_fft", "inverse_filters", "InverseFilters", "irc",
    "LinearKernelLUT", "load_solver", "estimate_psf", "refine_field", "load_estimator", "deblur_plan",
]
