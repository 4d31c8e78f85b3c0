"""Deconvolution solvers."""

from .admm import admm_irc, deconv_cg, deconv_fft
from .inverse_filters import InverseFilters, inverse_filters
from .irc import irc
from .ircnet import IRCNetParameters, IRCNetSolver, load_solver
from .lut import LinearKernelLUT
from .richardson_lucy import richardson_lucy

__all__ = ["richardson_lucy", "admm_irc", "deconv_cg", "deconv_fft", "inverse_filters",
           "InverseFilters", "irc", "LinearKernelLUT", "load_solver", "IRCNetSolver",
           "IRCNetParameters"]
