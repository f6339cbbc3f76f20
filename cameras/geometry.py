"""Road-plane calibration: a homography from normalized image points to metres on the road.

Fitted by the normalized direct linear transform (Hartley & Zisserman, alg. 4.2), which is exact
for four point pairs and a least-squares fit for more. Degenerate point sets (three collinear
points among four, repeated points, a mapping that folds the plane) are rejected with a message
that says which points are at fault, because a silently bad calibration gives wrong speeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Relative triangle area below which three points count as collinear (1e-3 of the bounding box).
_COLLINEAR_REL_AREA = 1e-3
# Least-squares fits with more than four pairs must reproduce the world points this well (metres).
MAX_RMS_ERROR_M = 0.5


class CalibrationError(ValueError):
    """The calibration points cannot define a usable road-plane mapping."""


@dataclass(frozen=True)
class Homography:
    matrix: FloatArray  # 3x3, maps homogeneous normalized image coordinates to road metres
    rms_error_m: float

    def to_world(self, points: Any) -> FloatArray:
        return _apply(self.matrix, points)

    def to_image(self, points: Any) -> FloatArray:
        return _apply(np.linalg.inv(self.matrix).astype(np.float64), points)


def _apply(matrix: FloatArray, points: Any) -> FloatArray:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    homog = np.hstack([pts, np.ones((len(pts), 1))]) @ matrix.T
    return homog[:, :2] / homog[:, 2:3]


def _as_points(name: str, raw: Any) -> FloatArray:
    try:
        pts = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise CalibrationError(f"{name} must be a list of [x, y] pairs of numbers.") from None
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise CalibrationError(f"{name} must be a list of [x, y] pairs of numbers.")
    if not np.all(np.isfinite(pts)):
        raise CalibrationError(f"{name} contains a value that is not a finite number.")
    return pts


def _check_spread(name: str, pts: FloatArray) -> None:
    span = np.ptp(pts, axis=0)
    scale = float(span[0] * span[1]) or float(max(span) ** 2)
    if scale == 0.0:
        raise CalibrationError(f"{name}: all points are the same.")
    for i, j in combinations(range(len(pts)), 2):
        if np.allclose(pts[i], pts[j]):
            raise CalibrationError(f"{name}: points {i + 1} and {j + 1} are the same point.")
    if len(pts) == 4:
        for i, j, k in combinations(range(4), 3):
            (ax, ay), (bx, by) = pts[j] - pts[i], pts[k] - pts[i]
            area = abs(ax * by - ay * bx) / 2
            if area < _COLLINEAR_REL_AREA * scale:
                raise CalibrationError(
                    f"{name}: points {i + 1}, {j + 1} and {k + 1} lie on one line; "
                    "choose four points that form a quadrilateral (e.g. lane marking corners)."
                )


def _normalizer(pts: FloatArray) -> FloatArray:
    centre = pts.mean(axis=0)
    dist = np.sqrt(((pts - centre) ** 2).sum(axis=1)).mean()
    s = np.sqrt(2) / dist
    return np.array([[s, 0, -s * centre[0]], [0, s, -s * centre[1]], [0, 0, 1]])


def fit_homography(image_points: Any, world_points: Any) -> Homography:
    img = _as_points("image_points", image_points)
    world = _as_points("world_points", world_points)
    if len(img) != len(world):
        raise CalibrationError(
            f"image_points has {len(img)} points but world_points has {len(world)}; they must pair up."
        )
    if len(img) < 4:
        raise CalibrationError(f"A road-plane calibration needs at least 4 point pairs, got {len(img)}.")
    if np.any(img < -0.05) or np.any(img > 1.05):
        raise CalibrationError("image_points are normalized (x / width, y / height) and must lie within 0..1.")
    _check_spread("image_points", img)
    _check_spread("world_points", world)

    t_img, t_world = _normalizer(img), _normalizer(world)
    a = _apply(t_img, img)
    b = _apply(t_world, world)
    rows = []
    for (x, y), (u, v) in zip(a, b, strict=True):
        rows.append([-x, -y, -1, 0, 0, 0, u * x, u * y, u])
        rows.append([0, 0, 0, -x, -y, -1, v * x, v * y, v])
    _, singular, vt = np.linalg.svd(np.asarray(rows))
    h_norm = vt[-1].reshape(3, 3)
    matrix = np.linalg.inv(t_world) @ h_norm @ t_img
    if abs(np.linalg.det(matrix)) < 1e-12 or singular[-2] < 1e-9 * singular[0]:
        raise CalibrationError("The point pairs do not determine a unique mapping; spread them over the road.")
    matrix = matrix / matrix[2, 2] if abs(matrix[2, 2]) > 1e-12 else matrix

    # Every calibration point must be in front of the camera's horizon (same projective sign),
    # otherwise the mapping folds the plane and distances between points are meaningless.
    w = np.hstack([img, np.ones((len(img), 1))]) @ matrix[2]
    if not (np.all(w > 0) or np.all(w < 0)):
        raise CalibrationError(
            "The mapping folds the road plane: the points are probably listed in a different order "
            "in image_points and world_points."
        )
    errors = np.linalg.norm(_apply(matrix, img) - world, axis=1)
    rms = float(np.sqrt((errors**2).mean()))
    if rms > MAX_RMS_ERROR_M:
        worst = int(np.argmax(errors))
        raise CalibrationError(
            f"The points do not fit one flat road plane (RMS error {rms:.2f} m; point {worst + 1} is off by "
            f"{errors[worst]:.2f} m). Check that pair."
        )
    return Homography(matrix=matrix, rms_error_m=rms)
