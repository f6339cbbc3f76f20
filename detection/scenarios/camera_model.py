"""A pinhole camera above a straight road: where road points and road users appear in the frame.

Road coordinates are metres on the road plane: x across the road (0 at one kerb, 8 at the other,
two 4 m lanes), y along it, z up. The camera stands at (x, y, mount height), turned by ``yaw`` from
the road's +y direction towards +x and tilted down by ``tilt``. Its homography from the road plane
to the image is exact, so the calibration written into scenario.json is the one that made the
pictures, and the size of a road user follows from its real dimensions (a cuboid projected into
the image), not from a scale factor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from detection.scenarios.contract import MIN_BOX_PX

FloatArray = npt.NDArray[np.float64]

ROAD_WIDTH = 8.0
LANE_WIDTH = 4.0
# Length, width, height in metres of each kind of road user (a rider's bicycle includes the rider).
DIMENSIONS: dict[str, tuple[float, float, float]] = {
    "car": (4.5, 1.8, 1.5),
    "truck": (8.0, 2.5, 3.4),
    "bus": (11.0, 2.55, 3.1),
    "motorcycle": (2.1, 0.8, 1.5),
    "bicycle": (1.8, 0.6, 1.75),
    "person": (0.5, 0.5, 1.75),
}
# Calibration and zones cover the road only up to this distance from the camera.
MAX_ZONE_DISTANCE_M = 80.0
MARGIN = 0.01  # normalized: calibration and zone points stay this far inside the frame


class GeometryError(ValueError):
    """A camera geometry cannot see the road well enough to calibrate it."""


@dataclass(frozen=True)
class CameraGeometry:
    name: str
    width: int
    height: int
    fps: float
    mount_m: float  # height of the camera above the road
    tilt_deg: float  # optical axis below the horizon
    yaw_deg: float  # optical axis turned from the road's +y direction towards +x
    hfov_deg: float  # horizontal field of view
    x_m: float  # where the camera stands across the road (e.g. -3: on the pavement beyond x = 0)
    y_m: float = 0.0  # where it stands along the road
    speed_limit_kmh: float = 50.0

    @cached_property
    def focal_px(self) -> float:
        return self.width / 2 / math.tan(math.radians(self.hfov_deg) / 2)

    @cached_property
    def _axes(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Right, down and forward unit vectors of the camera, in road coordinates."""
        yaw, tilt = math.radians(self.yaw_deg), math.radians(self.tilt_deg)
        forward = np.array([math.sin(yaw) * math.cos(tilt), math.cos(yaw) * math.cos(tilt), -math.sin(tilt)])
        right = np.array([math.cos(yaw), -math.sin(yaw), 0.0])
        down = np.cross(forward, right)
        return right, down, forward

    @property
    def position(self) -> FloatArray:
        return np.array([self.x_m, self.y_m, self.mount_m])

    def project(self, points: Any) -> tuple[FloatArray, FloatArray]:
        """Pixel coordinates (N x 2) and depth along the optical axis (N) of road points (N x 3)."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3) - self.position
        right, down, forward = self._axes
        depth = pts @ forward
        safe = np.where(depth > 1e-6, depth, np.nan)
        u = self.width / 2 + self.focal_px * (pts @ right) / safe
        v = self.height / 2 + self.focal_px * (pts @ down) / safe
        return np.stack([u, v], axis=1), depth

    def ground_to_image(self, xy: Any) -> FloatArray:
        """Normalized image points of road-plane points (N x 2); NaN for points behind the camera."""
        pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        pixels, _ = self.project(np.hstack([pts, np.zeros((len(pts), 1))]))
        return np.asarray(pixels / [self.width, self.height], dtype=np.float64)

    def image_to_ground_matrix(self) -> FloatArray:
        """3x3 homography from pixel coordinates to road metres."""
        src = np.array([[0.0, 20.0], [8.0, 20.0], [8.0, 40.0], [0.0, 40.0]]) + np.array([0.0, self.y_m])
        dst = self.ground_to_image(src) * [self.width, self.height]
        return _fit4(dst, src)

    def distance_m(self, xy: Any) -> FloatArray:
        """Straight-line distance from the camera to road-plane points."""
        pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return np.asarray(np.hypot(np.hypot(pts[:, 0] - self.x_m, pts[:, 1] - self.y_m), self.mount_m))

    def boxes(self, cls: str, xy: Any, heading: Any) -> FloatArray:
        """Pixel boxes (N x 4: x1, y1, x2, y2) of road users of one kind standing at ``xy`` (N x 2),
        facing ``heading`` (N x 2 unit vectors), before clipping to the frame. The box is the
        projected cuboid's extent, moved so its bottom centre is the ground point's image (the
        format measures a road user there, and the detector's box is what the rules see)."""
        length, width, tall = DIMENSIONS[cls]
        pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        head = np.asarray(heading, dtype=np.float64).reshape(-1, 2)
        side = np.stack([-head[:, 1], head[:, 0]], axis=1)
        corners = []
        for a in (-0.5, 0.5):
            for b in (-0.5, 0.5):
                base = pts + head * a * length + side * b * width
                for z in (0.0, tall):
                    corners.append(np.hstack([base, np.full((len(pts), 1), z)]))
        projected = np.stack([self.project(c)[0] for c in corners], axis=1)  # N x 8 x 2
        box_w = projected[:, :, 0].max(axis=1) - projected[:, :, 0].min(axis=1)  # NaN: partly behind the camera
        box_h = projected[:, :, 1].max(axis=1) - projected[:, :, 1].min(axis=1)
        foot = self.ground_to_image(pts) * [self.width, self.height]
        return np.stack([foot[:, 0] - box_w / 2, foot[:, 1] - box_h, foot[:, 0] + box_w / 2, foot[:, 1]], axis=1)

    def in_view(self, cls: str, xy: Any, heading: Any) -> npt.NDArray[np.bool_]:
        """The format's visibility rule: ground point inside the frame, box at least 12 px high
        (the part of it inside the frame)."""
        boxes = self.boxes(cls, xy, heading)
        foot = boxes[:, [0, 2]].mean(axis=1), boxes[:, 3]
        inside = (foot[0] >= 0) & (foot[0] < self.width) & (foot[1] >= 0) & (foot[1] < self.height)
        visible_h = np.minimum(boxes[:, 3], self.height) - np.maximum(boxes[:, 1], 0.0)
        return np.asarray(inside & (visible_h >= MIN_BOX_PX) & np.isfinite(boxes).all(axis=1))

    def road_span(self) -> tuple[float, float]:
        """The stretch of road (y range) whose full width is in the frame, up to MAX_ZONE_DISTANCE_M."""
        ys = np.arange(self.y_m - 40.0, self.y_m + MAX_ZONE_DISTANCE_M + 0.25, 0.25)
        left = self.ground_to_image(np.stack([np.zeros_like(ys), ys], axis=1))
        right = self.ground_to_image(np.stack([np.full_like(ys, ROAD_WIDTH), ys], axis=1))
        both = np.concatenate([left, right], axis=1)
        ok = np.isfinite(both).all(axis=1) & (both >= MARGIN).all(axis=1) & (both <= 1 - MARGIN).all(axis=1)
        ok &= self.distance_m(np.stack([np.full_like(ys, ROAD_WIDTH / 2), ys], axis=1)) <= MAX_ZONE_DISTANCE_M
        if ok.sum() < 40:  # less than 10 m of road fully in view
            raise GeometryError(f"{self.name}: the camera does not see enough of the road's full width")
        seen = ys[ok]
        # The visible stretch is one interval for a camera that looks along the road.
        return float(seen.min()), float(seen.max())

    def calibration(self) -> dict[str, list[list[float]]]:
        """Four road corners at the ends of the visible stretch, as the format's calibration."""
        near, far = self.road_span()
        world = [[0.0, near], [ROAD_WIDTH, near], [ROAD_WIDTH, far], [0.0, far]]
        image = self.ground_to_image(world)
        return {"image_points": np.round(image, 5).tolist(), "world_points": world}

    def horizon_v(self) -> float:
        """Pixel row of the horizon (may be above the frame)."""
        return self.height / 2 - self.focal_px * math.tan(math.radians(self.tilt_deg))


def _fit4(src: FloatArray, dst: FloatArray) -> FloatArray:
    """Exact homography taking four src points to four dst points (plain DLT)."""
    rows = []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
    _, _, vt = np.linalg.svd(np.asarray(rows, dtype=np.float64))
    matrix = vt[-1].reshape(3, 3)
    return np.asarray(matrix / matrix[2, 2], dtype=np.float64)
