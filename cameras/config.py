"""Validation of a camera's JSON settings: classes, zones, calibration and rule overrides.

The same shapes are used by ../shared/SCENARIOS.md (``camera`` block of a scenario), so a
scenario's camera and a camera edited in the admin go through one validator.
"""

from __future__ import annotations

import math
import re
from typing import Any

from django.core.exceptions import ValidationError

from cameras.geometry import CalibrationError, fit_homography

# COCO class names in YOLO order (index = class id of the bundled YOLOv8n weights).
COCO_CLASSES: tuple[str, ...] = (
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
)
# A camera's confidence threshold starts and confirms a track; detections down to the tracking floor
# only keep an existing track going (ByteTrack's second association: a cyclist half-hidden or seen at
# 0.2 for a few frames is still the cyclist that was seen at 0.6). Never below the floor: under it,
# boxes are mostly clutter.
DEFAULT_CONFIDENCE = 0.35
TRACKING_FLOOR_CONFIDENCE = 0.1


def detection_floor(confidence: float) -> float:
    """The lowest confidence a camera's detections are kept at: the tracking floor, or lower if the
    operator set the camera's threshold under it."""
    return min(TRACKING_FLOOR_CONFIDENCE, confidence)


ROAD_USER_CLASSES = ["person", "bicycle", "car", "motorcycle", "bus", "truck"]
VEHICLE_CLASSES = frozenset({"car", "motorcycle", "bus", "truck"})
# Vehicles a near miss is measured from: the cars, buses and trucks (a motorcyclist is one of the
# vulnerable road users it is measured against).
FOUR_WHEELED_CLASSES = frozenset({"car", "bus", "truck"})
VULNERABLE_CLASSES = frozenset({"person", "bicycle", "motorcycle"})

ZONE_KINDS = ("lane", "crosswalk", "no_stopping")
# Zone names reach HTML, SVG labels, alert texts and LLM prompts: letters (any script), digits,
# spaces, "_", "-" and "." only, so no name can carry markup or quotes whatever page shows it.
ZONE_NAME_PATTERN = re.compile(r"[^\W_][\w .-]{0,47}")
# Bounds on what an editor may submit: the point checks are quadratic in the number of points and
# the preview draws one grid line per metre, so unbounded input is unbounded CPU in the web process.
MAX_CALIBRATION_POINTS = 32
MAX_POLYGON_POINTS = 64
MAX_ZONES = 32
MAX_WORLD_EXTENT_M = 1000.0

# Default thresholds from ../shared/SCENARIOS.md; a camera's ``rules`` overrides them per rule.
RULE_DEFAULTS: dict[str, dict[str, float | bool]] = {
    "speeding": {"enabled": True, "over_limit_factor": 1.10, "min_duration_s": 0.5},
    "wrong_way": {"enabled": True, "min_distance_m": 5.0},
    "tailgating": {"enabled": True, "headway_s": 0.8, "min_duration_s": 1.0, "min_speed_kmh": 15.0},
    "near_miss": {"enabled": True, "ttc_s": 1.5, "distance_m": 1.5, "min_speed_kmh": 10.0},
    "hard_braking": {"enabled": True, "deceleration_mps2": 6.0, "min_speed_kmh": 30.0},
    "stalled_vehicle": {"enabled": True, "max_speed_kmh": 2.0, "min_duration_s": 10.0},
    "crosswalk_stop": {"enabled": True, "max_speed_kmh": 2.0, "min_duration_s": 3.0},
}
EVENT_TYPES = tuple(RULE_DEFAULTS)
EVENT_TYPE_CHOICES = [(t, t.replace("_", " ").capitalize()) for t in EVENT_TYPES]


def validate_classes(value: Any) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError("Classes of interest must be a non-empty list of COCO class names.")
    unknown = [name for name in value if name not in COCO_CLASSES]
    if unknown:
        raise ValidationError(
            f"Unknown class name(s): {', '.join(map(str, unknown))}. Use COCO names such as "
            f"{', '.join(ROAD_USER_CLASSES)}."
        )
    if len(set(value)) != len(value):
        raise ValidationError("Classes of interest list a class twice.")


def _number_pair(where: str, raw: Any) -> tuple[float, float]:
    """Two real JSON numbers: no numeric strings, booleans, NaN or infinities."""
    if (
        not isinstance(raw, list | tuple)
        or len(raw) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
        or not all(math.isfinite(v) for v in raw)
    ):
        raise ValidationError(f"{where}: expected an [x, y] pair of finite numbers, got {str(raw)[:60]}.")
    return float(raw[0]), float(raw[1])


def _point(where: str, raw: Any) -> tuple[float, float]:
    x, y = _number_pair(where, raw)
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise ValidationError(f"{where}: image coordinates are normalized and must lie within 0..1, got {raw!r}.")
    return x, y


def validate_zones(value: Any) -> None:
    if not isinstance(value, list):
        raise ValidationError("Zones must be a list of objects with name, kind and polygon.")
    if len(value) > MAX_ZONES:
        raise ValidationError(f"A camera has at most {MAX_ZONES} zones, got {len(value)}.")
    names: set[str] = set()
    for index, zone in enumerate(value, start=1):
        where = f"zone {index}"
        if not isinstance(zone, dict):
            raise ValidationError(f"{where}: expected an object with name, kind and polygon.")
        name = zone.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(f"{where}: a zone needs a non-empty name.")
        if not ZONE_NAME_PATTERN.fullmatch(name):
            raise ValidationError(
                f"{where}: a zone name is 1 to 48 letters, digits, spaces, '_', '-' or '.', "
                "starting with a letter or digit."
            )
        where = f"zone {name!r}"
        if name in names:
            raise ValidationError(f"{where}: two zones have this name.")
        names.add(name)
        if zone.get("kind") not in ZONE_KINDS:
            raise ValidationError(f"{where}: kind must be one of {', '.join(ZONE_KINDS)}, got {zone.get('kind')!r}.")
        polygon = zone.get("polygon")
        if not isinstance(polygon, list) or not 3 <= len(polygon) <= MAX_POLYGON_POINTS:
            raise ValidationError(
                f"{where}: polygon needs at least three and at most {MAX_POLYGON_POINTS} [x, y] points."
            )
        points = [_point(f"{where} polygon point {i}", p) for i, p in enumerate(polygon, start=1)]
        if _polygon_area(points) < 1e-6:
            raise ValidationError(f"{where}: polygon has no area (its points are on one line).")
        if "flow" in zone:
            if zone["kind"] != "lane":
                raise ValidationError(f"{where}: only lanes have a flow direction.")
            flow = zone["flow"]
            if not isinstance(flow, list) or len(flow) != 2:
                raise ValidationError(f"{where}: flow is two [x, y] points, from the lane's entry towards its exit.")
            start, end = (_point(f"{where} flow point {i}", p) for i, p in enumerate(flow, start=1))
            if start == end:
                raise ValidationError(f"{where}: the two flow points are the same, so they give no direction.")
        limit = zone.get("speed_limit_kmh")
        if limit is not None and (
            not isinstance(limit, int | float) or isinstance(limit, bool) or not 0 < limit <= 300
        ):
            raise ValidationError(f"{where}: speed_limit_kmh must be a number between 0 and 300.")


def _polygon_area(points: list[tuple[float, float]]) -> float:
    total = 0.0
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True):
        total += x1 * y2 - x2 * y1
    return abs(total) / 2


def validate_calibration(value: Any) -> None:
    """Empty (no calibration yet: no speed-based rules) or a valid homography definition."""
    if value in (None, {}):
        return
    if not isinstance(value, dict) or "image_points" not in value or "world_points" not in value:
        raise ValidationError("Calibration needs image_points (normalized) and world_points (metres), paired.")
    for key in ("image_points", "world_points"):
        points = value[key]
        if not isinstance(points, list) or len(points) > MAX_CALIBRATION_POINTS:
            raise ValidationError(f"Calibration: {key} is a list of at most {MAX_CALIBRATION_POINTS} [x, y] pairs.")
        pairs = [_number_pair(f"Calibration {key} point {i}", p) for i, p in enumerate(points, start=1)]
        if key == "world_points" and pairs:
            extent = max(max(p[axis] for p in pairs) - min(p[axis] for p in pairs) for axis in (0, 1))
            if extent > MAX_WORLD_EXTENT_M:
                raise ValidationError(
                    f"Calibration: the road points span {extent:g} m; a camera's calibrated road is at most "
                    f"{MAX_WORLD_EXTENT_M:g} m across."
                )
    try:
        fit_homography(value["image_points"], value["world_points"])
    except CalibrationError as exc:
        raise ValidationError(f"Calibration: {exc}") from None


def validate_rules(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError('Rules must be an object keyed by rule name, e.g. {"tailgating": {"headway_s": 1.0}}.')
    for rule, overrides in value.items():
        if rule not in RULE_DEFAULTS:
            raise ValidationError(f"Unknown rule {rule!r}; rules are {', '.join(EVENT_TYPES)}.")
        if not isinstance(overrides, dict):
            raise ValidationError(f"Rule {rule!r}: expected an object of settings.")
        for key, setting in overrides.items():
            default = RULE_DEFAULTS[rule].get(key)
            if default is None:
                raise ValidationError(f"Rule {rule!r} has no setting {key!r}; it has {', '.join(RULE_DEFAULTS[rule])}.")
            if isinstance(default, bool):
                if not isinstance(setting, bool):
                    raise ValidationError(f"Rule {rule!r}: {key} must be true or false.")
            elif isinstance(setting, bool) or not isinstance(setting, int | float) or setting <= 0:
                raise ValidationError(f"Rule {rule!r}: {key} must be a positive number, got {setting!r}.")


def rule_settings(overrides: dict[str, dict[str, Any]], rule: str) -> dict[str, Any]:
    """The effective settings of one rule for a camera: defaults updated by its overrides."""
    return {**RULE_DEFAULTS[rule], **overrides.get(rule, {})}
