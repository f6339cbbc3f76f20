"""The far field: the part of a camera's road where road users are too small for the detector in the
full view, cropped from the full-resolution frame and detected a second time, larger.

YOLOv8n finds a car down to about 20 px on its input, and the full view is shrunk to fit 640 pixels
(a 1280x720 camera to half its size). A car 60-100 m down the road is 10-20 px there: it is found late,
at low confidence, or two cars as one box, which is where times to alert, far braking and far
tailgating were lost. Slicing the frame (SAHI) is the known remedy; a road camera is fixed and its
calibration says where the road is and how large a road user is at each point on it, so one slice
suffices: the bounding rectangle of the zones' far part, enlarged by up to ``MAX_GAIN``. It costs one
more inference on a smaller canvas (the tile's side is at most the model's 640, usually much less).

``far_tile`` decides once per camera and frame size; ``merge`` combines the two passes' boxes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from cameras.boxes import area, intersection
from cameras.geometry import Homography
from detection.letterbox import MODEL_SIZE, STRIDE, Letterbox
from detection.rules.noise import jacobian

if TYPE_CHECKING:
    from detection.detector import Box

# Bumped when how a tile is detected or its boxes merge changes (the replay cache keys on it, and on
# the tile itself).
VERSION = 2
# A road user of about a car's width (metres) whose image on the full view's model input is under
# SMALL_PX pixels is in the far field. 24 px is where YOLOv8n's confidence on the composed scenes
# falls under the tracker's start threshold (cars of 12-20 px: 0.1-0.3).
OBJECT_M = 1.8
SMALL_PX = 24.0
# Margins around the far road, in that road user's size at the nearest far point: above for the body
# over the ground point (a truck is twice a car's width high), beside and below for boxes at the edge.
ABOVE = 2.5
BESIDE = 1.0
BELOW = 0.5
# A tile that enlarges its road users less than MIN_GAIN times is not worth its inference; beyond
# MAX_GAIN the upscaled pixels add nothing and the canvas only grows.
MIN_GAIN = 1.5
MAX_GAIN = 2.0
# The tile's canvas is at most this share of the full view's (pixels, so operations): a camera whose
# far road fills half its picture gets a smaller enlargement, or none, rather than a second full view.
MAX_COST = 0.5
_GRID = 96  # sample points per image side when looking for the far road
# A tile box this close (tile canvas pixels) to a side of the tile that is not the frame's is cut off:
# YOLO boxes a road user cut by the crop's side a few pixels short of the side (seen: 2-3 px). The
# margins above keep far road users about 20 canvas pixels or more from the crop's sides.
EDGE_PX = 8.0
# A full-view box is replaced by the tile's boxes where they cover this share of the tile box's area.
COVERED_SHARE = 0.5


@dataclass(frozen=True)
class Tile:
    """A crop of the frame (normalized x1, y1, x2, y2) and the longest side of its model canvas."""

    x1: float
    y1: float
    x2: float
    y2: float
    size: int

    def as_list(self) -> list[float]:
        return [self.x1, self.y1, self.x2, self.y2, float(self.size)]

    @classmethod
    def from_list(cls, raw: Sequence[Any]) -> Tile:
        """A tile from ``as_list``'s form; ValueError (or TypeError) for anything else."""
        if len(raw) != 5:
            raise ValueError(f"not a far-field tile: {list(raw)!r}")
        x1, y1, x2, y2, size = raw
        tile = cls(float(x1), float(y1), float(x2), float(y2), int(size))
        if not (0 <= tile.x1 < tile.x2 <= 1 and 0 <= tile.y1 < tile.y2 <= 1 and STRIDE <= tile.size <= MODEL_SIZE):
            raise ValueError(f"not a far-field tile: {list(raw)!r}")
        return tile

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The crop in frame pixels (x1, y1, x2, y2), at least one pixel each way."""
        x1, y1 = int(self.x1 * width), int(self.y1 * height)
        return x1, y1, max(x1 + 1, math.ceil(self.x2 * width)), max(y1 + 1, math.ceil(self.y2 * height))


def object_px(homography: Homography, points: np.ndarray, frame_width: int) -> np.ndarray:
    """Frame pixels across the picture of OBJECT_M metres of road at each image point (normalized);
    NaN where the mapping is degenerate (at or beyond the horizon)."""
    sizes = np.full(len(points), np.nan)
    for i, point in enumerate(points):
        jac = jacobian(homography, (float(point[0]), float(point[1])))  # metres per normalized unit
        if not np.all(np.isfinite(jac)) or abs(np.linalg.det(jac)) < 1e-12:
            continue
        per_metre = np.linalg.inv(jac)  # normalized image units per metre of road
        sizes[i] = OBJECT_M * frame_width * math.hypot(per_metre[0, 0], per_metre[0, 1])
    return sizes


def far_tile(homography: Homography | None, zones: Sequence[dict[str, Any]], frame_size: tuple[int, int],
             model_size: int = MODEL_SIZE) -> Tile | None:  # fmt: skip
    """The far field's tile for a camera, or None: no calibration or zones, no far road, or a far road
    so wide that a crop of it would not enlarge it by MIN_GAIN."""
    width, height = frame_size
    if homography is None or not zones or width <= 0 or height <= 0:
        return None
    mask = np.zeros((_GRID, _GRID), dtype=np.uint8)
    for zone in zones:
        polygon = np.asarray(zone["polygon"], dtype=np.float64) * (_GRID - 1)
        cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    rows, cols = np.nonzero(mask)
    if not rows.size:
        return None
    points = np.stack([cols, rows], axis=1) / (_GRID - 1)
    full_scale = min(model_size / width, model_size / height)
    sizes = object_px(homography, points, width)
    far = np.isfinite(sizes) & (sizes * full_scale < SMALL_PX)
    if not far.any():
        return None
    unit = float(np.nanmax(sizes[far]))  # the road user's size (frame pixels) at the nearest far point
    xs, ys = points[far, 0] * width, points[far, 1] * height
    x1, x2 = max(0.0, float(xs.min()) - BESIDE * unit), min(float(width), float(xs.max()) + BESIDE * unit)
    y1, y2 = max(0.0, float(ys.min()) - ABOVE * unit), min(float(height), float(ys.max()) + BELOW * unit)
    side = max(x2 - x1, y2 - y1) * full_scale  # the crop's longest side on the full view's canvas
    size = min(model_size, STRIDE * math.ceil(side * MAX_GAIN / STRIDE))
    # Within its budget: at most MAX_COST of the full view's canvas, the tile shrunk until it fits.
    budget = MAX_COST * _canvas_area(width, height, model_size)
    while size > STRIDE and _canvas_area(round(x2 - x1), round(y2 - y1), size) > budget:
        size -= STRIDE
    if size < MIN_GAIN * side:
        return None
    return Tile(round(x1 / width, 4), round(y1 / height, 4), round(x2 / width, 4), round(y2 / height, 4), size)


def _canvas_area(width: int, height: int, size: int) -> int:
    box = Letterbox.of(max(width, 1), max(height, 1), size, "rect")
    return box.canvas_width * box.canvas_height


def to_frame(boxes: Sequence[Box], tile: Tile, frame_size: tuple[int, int], scale: float) -> list[Box]:
    """The tile pass's boxes (normalized to the crop) normalized to the frame, without those the
    crop cut off: a box within EDGE_PX of a side of the crop that is not a side of the frame."""
    width, height = frame_size
    px1, py1, px2, py2 = tile.pixels(width, height)
    cw, ch = px2 - px1, py2 - py1
    edge = EDGE_PX / scale / cw, EDGE_PX / scale / ch  # in crop-normalized units
    kept = []
    for box in boxes:
        x1, y1, x2, y2 = box.xyxy
        if (px1 > 0 and x1 < edge[0]) or (px2 < width and x2 > 1 - edge[0]) \
                or (py1 > 0 and y1 < edge[1]) or (py2 < height and y2 > 1 - edge[1]):  # fmt: skip
            continue
        kept.append(
            replace(
                box,
                xyxy=(
                    round((px1 + x1 * cw) / width, 5),
                    round((py1 + y1 * ch) / height, 5),
                    round((px1 + x2 * cw) / width, 5),
                    round((py1 + y2 * ch) / height, 5),
                ),
            )
        )
    return kept


def merge(full: Sequence[Box], tiled: Sequence[Box], tile: Tile) -> list[Box]:
    """The full view's boxes and the tile's (already in frame coordinates, cut ones removed).

    Inside the tile the tile's sharper view wins: a full-view box lying wholly inside the crop is
    dropped where the tile's boxes cover it (two far cars the full view boxed as one become two);
    one the tile did not find stays. A full-view box reaching out of the crop stays (the tile's view
    of it, cut by the crop's side, was removed). The result is ordered by confidence.
    """
    kept = [box for box in full if not (_inside(box, tile) and _covered(box, tiled))]
    return sorted([*kept, *tiled], key=lambda box: -box.conf)


def _inside(box: Box, tile: Tile) -> bool:
    x1, y1, x2, y2 = box.xyxy
    return x1 >= tile.x1 and y1 >= tile.y1 and x2 <= tile.x2 and y2 <= tile.y2


def _covered(box: Box, others: Sequence[Box]) -> bool:
    return any(intersection(box.xyxy, other.xyxy) >= COVERED_SHARE * area(other.xyxy) for other in others)


class FarField:
    """A camera's far-field tile for each frame size it has sent (a camera keeps its size, but a
    stream may change it), or None where the setting ``DETECT_FAR_FIELD`` is off."""

    def __init__(self, homography: Homography | None, zones: Sequence[dict[str, Any]], enabled: bool) -> None:
        self.homography, self.zones, self.enabled = homography, list(zones), enabled
        self._tiles: dict[tuple[int, int], Tile | None] = {}

    def tile(self, frame_size: tuple[int, int]) -> Tile | None:
        if not self.enabled:
            return None
        if frame_size not in self._tiles:
            self._tiles[frame_size] = far_tile(self.homography, self.zones, frame_size)
        return self._tiles[frame_size]
