"""How far off a box's ground point can be, in metres on the road.

A detector's box edges jitter by a few pixels, more for a large box and for an unsure detection, and
an occluded or partly cut box is off by whatever is hidden. One pixel near the camera is a few
centimetres of road; near the horizon it is a metre or more. So the noise is modelled in pixels and
carried onto the road through the homography's Jacobian at the ground point: a 2x2 covariance in
metres that the tracking filter uses to weigh each measurement, and that the rules' confidence bounds
come from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cameras.geometry import Homography

FloatArray = npt.NDArray[np.float64]

# Box-edge noise in pixels: a floor (sub-pixel rounding, resizing to the detector's input) plus a share
# of the box's size. Measured on the composed scenario set (residuals of each track's ground point from
# a local quadratic fit, YOLOv8n): 0.13 px for boxes under 30 px, 0.3-0.4 px for 30-120 px boxes. Real
# footage (compression, motion blur, lighting) jitters more, so the model is set about 2.5x above that:
# about 1 px for a 40 px box. The filter's normalized innovations on the composed set average well
# under 2, i.e. the bounds are conservative there rather than overconfident anywhere.
FLOOR_PX = 0.5
WIDTH_SHARE = 0.015  # the box centre's horizontal jitter, per pixel of box width
HEIGHT_SHARE = 0.015  # the bottom edge's vertical jitter, per pixel of box height
# Another box whose bottom is lower than this one's by less than this share of this one's height ends
# where it does, as far as the detector can tell (see covering_boxes).
NEARER_SHARE = 0.05
# A box whose size jumps from what the track has shown is partly hidden or merged with a neighbour:
# the size change is (about) how far its bottom edge may have moved for no real motion.
SHAPE_CHANGE_WEIGHT = 0.7


@dataclass(frozen=True)
class GroundMeasurement:
    position: FloatArray  # metres on the road, shape (2,)
    covariance: FloatArray  # metres^2, shape (2, 2)
    metres_per_px: float  # road metres per image pixel across the picture at the ground point

    @property
    def sigma_m(self) -> float:
        """The larger standard deviation of the position (along the worst axis)."""
        return float(np.sqrt(max(np.linalg.eigvalsh(self.covariance))))


def jacobian(homography: Homography, point: tuple[float, float]) -> FloatArray:
    """d(road metres) / d(normalized image coordinates) at an image point."""
    m = homography.matrix
    u, v = point
    x, y, w = m @ np.array([u, v, 1.0])
    return np.array(
        [
            [(m[0, 0] * w - x * m[2, 0]) / w**2, (m[0, 1] * w - x * m[2, 1]) / w**2],
            [(m[1, 0] * w - y * m[2, 0]) / w**2, (m[1, 1] * w - y * m[2, 1]) / w**2],
        ]
    )


def image_sigma_px(
    width_px: float,
    height_px: float,
    conf: float,
    shape_change_px: tuple[float, float] = (0.0, 0.0),
    hidden_px: float = 0.0,
) -> tuple[float, float]:
    """Standard deviations (horizontal, vertical) of a box's bottom centre, in pixels."""
    # A detection at confidence 0.3 has looser edges than one at 0.9: scale by 1/sqrt(conf).
    unsure = 1.0 / float(np.sqrt(min(max(conf, 0.1), 1.0)))
    sx = (FLOOR_PX + WIDTH_SHARE * width_px) * unsure
    sy = (FLOOR_PX + HEIGHT_SHARE * height_px) * unsure
    # Jitter alone changes a box's size by about its edge noise; only a change beyond twice that is
    # an occlusion (or two road users merged into one box).
    excess_x = max(0.0, shape_change_px[0] - 2 * sx)
    excess_y = max(0.0, shape_change_px[1] - 2 * sy)
    # A ground point inside a nearer road user's box is hidden: the real one is somewhere between the
    # box's bottom and the occluder's (about uniform over that span: its sigma is span / sqrt(12)).
    return sx + SHAPE_CHANGE_WEIGHT * excess_x / 2, sy + SHAPE_CHANGE_WEIGHT * excess_y + hidden_px / 12**0.5


def ground_measurement(
    homography: Homography,
    box: tuple[float, float, float, float],
    conf: float,
    frame_size: tuple[int, int],
    shape_change_px: tuple[float, float] = (0.0, 0.0),
    hidden_px: float = 0.0,
) -> GroundMeasurement:
    """The road position under a box's bottom centre and its covariance.

    ``box`` is normalized xyxy, ``frame_size`` the frame's (width, height) in pixels, and
    ``shape_change_px`` how much the box's (width, height) differs from what the track has shown,
    ``hidden_px`` how far below the box's bottom a nearer road user's box reaches over its ground point.
    """
    width, height = frame_size
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive pixels, got {frame_size!r}")
    x1, y1, x2, y2 = box
    ground = ((x1 + x2) / 2, y2)
    sx, sy = image_sigma_px((x2 - x1) * width, (y2 - y1) * height, conf, shape_change_px, hidden_px)
    image_cov = np.diag([(sx / width) ** 2, (sy / height) ** 2])
    jac = jacobian(homography, ground)
    position = homography.to_world([ground])[0]
    return GroundMeasurement(
        position=position, covariance=jac @ image_cov @ jac.T, metres_per_px=float(np.hypot(*jac[:, 0])) / width
    )


def hidden_below_px(
    box: tuple[float, float, float, float], others: list[tuple[float, float, float, float]], height: int
) -> float:
    """How far (pixels) a nearer road user's box covers the road below this box's ground point.

    Nearer means its box reaches lower in the picture. A road user behind another one shows only its
    upper part: its box ends where the occluder's begins, and its ground point is hidden.
    """
    x1, _, x2, y2 = box
    gx = (x1 + x2) / 2
    hidden = 0.0
    for ox1, oy1, ox2, oy2 in others:
        if ox1 <= gx <= ox2 and oy1 <= y2 < oy2:
            hidden = max(hidden, (oy2 - y2) * height)
    return hidden


def covering_boxes(
    box: tuple[float, float, float, float], others: list[tuple[float, float, float, float]]
) -> list[int]:
    """The indices of the nearer road users' boxes that cover the middle half of this box's bottom edge.

    Not only the ground point (``hidden_below_px``): with the middle of its bottom edge hidden, the
    detector's box ends where the visible part does, and as the nearer road user slides over it the
    bottom edge creeps up the picture, which reads as driving away fast.
    """
    x1, y1, x2, y2 = box
    mid_left, mid_right = x1 + (x2 - x1) / 4, x2 - (x2 - x1) / 4
    # Nearer: its bottom is lower by more than box noise. A box ending where this one does is the same
    # road user boxed twice (a truck as a truck and its lower half again), not one in front of it.
    nearer = y2 + NEARER_SHARE * (y2 - y1)
    return [
        index
        for index, (ox1, oy1, ox2, oy2) in enumerate(others)
        if ox1 <= mid_right and mid_left <= ox2 and oy1 <= y2 and oy2 > nearer
    ]
