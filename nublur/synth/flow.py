"""Motion-flow simulation of camera motion (002 section 4.2, eq. 6)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..fields import LinearMotionField, fold_flow

__all__ = ["motion_flow", "FlowPreset", "PRESETS"]


@dataclass(frozen=True)
class FlowPreset:
    """Maxima of the uniform priors of 002 eq. 6 (REFERENCE_NOTES.md, from the authors' code).

    translation: |t_x|, |t_y| in px; acceleration: |r|, the relative variation of the
    translation across the image; zoom: |t_z| of the radial term t_z d^1.5; centre_shift: px
    offset of the rotation centre and vanishing point from the image centre; rotation: |omega|
    in radians over the exposure.
    """

    translation: float
    acceleration: float
    zoom: float
    centre_shift: float
    rotation: float


PRESETS = {
    "severe": FlowPreset(27.0, 0.3, 5e-3, 15.0, np.pi / 70),
    "mild": FlowPreset(19.0, 0.25, 2e-3, 5.0, np.pi / 120),
}
MAX_COMPONENT = 36  # 002: u_max = v_max = 36


def motion_flow(shape, rng: np.random.Generator, preset: str = "severe", *,
                integer: bool = True) -> LinearMotionField:
    """Random camera-motion flow M = M_Tx + M_Ty + M_Tz + M_Rz (002 eq. 6) as a field.

    Every parameter is drawn U(-max, max) from the preset:

    * translations: u = t_x (1 + r_x (y - y_x) / (H / 2)), v = t_y (1 + r_y (x - x_y) / (W / 2))
      (002's linear variation of the translation across the image, "acceleration");
    * forward motion: radial flow of magnitude t_z d^1.5 from a vanishing point;
    * in-plane rotation by omega about a centre: magnitude 2 d tan(omega / 2), tangential.

    Coordinates are x right and y up (the flow convention of ``LinearMotionField.from_flow``).
    The sum is clipped to |u|, |v| <= 36, optionally rounded to integers (002 discretises the
    flow for its classifier) and folded to u >= 0 (002 eq. 5).

    Parameters
    ----------
    shape : (H, W)
    rng : numpy.random.Generator
    preset : "severe" or "mild"
    integer : bool
        Round u and v to integers.

    Returns
    -------
    LinearMotionField
        Per-pixel length and angle of the folded flow.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be (H, W) with positive sizes, got {shape!r}")
    u, v = flow_components(shape, rng, PRESETS[preset])
    u = np.clip(u, -MAX_COMPONENT, MAX_COMPONENT)
    v = np.clip(v, -MAX_COMPONENT, MAX_COMPONENT)
    if integer:
        u, v = np.round(u), np.round(v)
    u, v = fold_flow(u, v)
    return LinearMotionField.from_flow(u, v)


def flow_components(shape, rng, p: FlowPreset):
    """Unclipped (u, v) of the four components of 002 eq. 6."""
    h, w = shape
    rows, cols = np.indices(shape, dtype=np.float64)
    x = cols - (w - 1) / 2
    y = (h - 1) / 2 - rows

    def sym(limit):
        return rng.uniform(-limit, limit)

    def centre():
        return sym(p.centre_shift), sym(p.centre_shift)

    t_x, r_x, t_y, r_y = sym(p.translation), sym(p.acceleration), sym(p.translation), \
        sym(p.acceleration)
    (cx_x, cy_x), (cx_y, cy_y) = centre(), centre()
    u = t_x * (1 + r_x * (y - cy_x) / (h / 2))
    v = t_y * (1 + r_y * (x - cx_y) / (w / 2))
    t_z = sym(p.zoom)
    zx, zy = centre()
    dx, dy = x - zx, y - zy
    d = np.hypot(dx, dy)
    u = u + t_z * np.sqrt(d) * dx  # magnitude t_z d^1.5 along the radius
    v = v + t_z * np.sqrt(d) * dy
    omega = sym(p.rotation)
    rx, ry = centre()
    dx, dy = x - rx, y - ry
    scale = 2 * np.tan(omega / 2)  # |motion| = 2 d tan(omega / 2), perpendicular to the radius
    u = u - scale * dy
    v = v + scale * dx
    return u, v
