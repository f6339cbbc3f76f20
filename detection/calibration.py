"""Calibration and zones drawn on a camera's picture in the admin, with a preview drawn back.

The operator clicks road points on a frame of the camera and types their road coordinates in
metres; the server fits the homography (refusing degenerate point sets with the reason) and draws
a metre grid, the zones and the lanes' directions back on the frame, so a wrong calibration shows
at a glance before it is saved.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import cv2
import numpy as np
from django.core.exceptions import ValidationError

from cameras import config as camera_config
from cameras.geometry import Homography, fit_homography

# At most this many grid lines per axis: beyond 200 m the grid is drawn every few metres instead of
# every metre, so the preview's cost does not grow with the calibrated area.
MAX_GRID_LINES = 200
# 32 calibration points and 32 zones of 64 corners fit in well under this.
MAX_BODY_BYTES = 64 * 1024

ZONE_COLOURS = {"lane": (255, 170, 0), "crosswalk": (255, 255, 255), "no_stopping": (0, 0, 255)}


def parse_settings(raw: bytes | str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The JSON the page posts: {"calibration": {...}, "zones": [...]}, validated like the camera form."""
    if len(raw) > MAX_BODY_BYTES:
        raise ValidationError(f"The settings are {len(raw)} bytes; at most {MAX_BODY_BYTES} are accepted.")
    try:
        data = json.loads(raw or "{}")
    except json.JSONDecodeError as exc:
        raise ValidationError(f"The page sent malformed JSON: {exc}") from None
    except UnicodeDecodeError:
        raise ValidationError("The page sent settings that are not UTF-8 text.") from None
    if not isinstance(data, dict):
        raise ValidationError("Expected an object with calibration and zones.")
    calibration = data.get("calibration") or {}
    zones = data.get("zones") or []
    camera_config.validate_calibration(calibration)
    camera_config.validate_zones(zones)
    return calibration, zones


def stored_preview(image: np.ndarray, calibration: dict[str, Any], zones: list[Any]) -> tuple[str, str | None]:
    """The preview of a camera's saved settings, or the bare frame and why, when they no longer validate
    (saved before the checks were strict), so a bad row shows a message instead of a 500 on every visit."""
    try:
        camera_config.validate_calibration(calibration)
        camera_config.validate_zones(zones)
    except ValidationError as exc:
        return preview(image, {}, []), "The saved settings are invalid and are not drawn: " + " ".join(exc.messages)
    return preview(image, calibration, zones), None


def preview(image: np.ndarray, calibration: dict[str, Any], zones: list[dict[str, Any]]) -> str:
    """The frame with the road grid, the calibration points and the zones, as a JPEG data URL."""
    canvas = image.copy()
    height, width = canvas.shape[:2]

    def px(points: Any) -> np.ndarray:
        return np.asarray(np.asarray(points, dtype=float) * [width, height], dtype=np.int32)

    if calibration:
        homography = fit_homography(calibration["image_points"], calibration["world_points"])
        _grid(canvas, homography, np.asarray(calibration["world_points"], dtype=float), px)
        for (x, y), (wx, wy) in zip(px(calibration["image_points"]), calibration["world_points"], strict=True):
            cv2.circle(canvas, (int(x), int(y)), 6, (0, 0, 255), 2, cv2.LINE_AA)
            cv2.putText(canvas, f"({wx:g}, {wy:g}) m", (int(x) + 8, int(y) - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        (0, 0, 255), 1, cv2.LINE_AA)  # fmt: skip
    for zone in zones:
        colour = ZONE_COLOURS.get(zone["kind"], (200, 200, 200))
        polygon = px(zone["polygon"])
        overlay = canvas.copy()
        cv2.fillPoly(overlay, [polygon], colour, cv2.LINE_AA)
        canvas = cv2.addWeighted(overlay, 0.25, canvas, 0.75, 0)
        cv2.polylines(canvas, [polygon], True, colour, 2, cv2.LINE_AA)
        label_at = polygon.mean(axis=0).astype(int)
        cv2.putText(canvas, zone["name"], (int(label_at[0]), int(label_at[1])), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    colour, 1, cv2.LINE_AA)  # fmt: skip
        if zone.get("flow"):
            start, end = px(zone["flow"])
            cv2.arrowedLine(canvas, (int(start[0]), int(start[1])), (int(end[0]), int(end[1])), colour, 2,
                            cv2.LINE_AA, tipLength=0.08)  # fmt: skip
    ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValidationError("The preview could not be encoded.")
    return "data:image/jpeg;base64," + base64.b64encode(bytes(buf)).decode()


def _grid(canvas: np.ndarray, homography: Homography, world: np.ndarray, px: Any) -> None:
    """A 1 m grid over the calibrated area (every 5 m bolder), drawn through the homography."""
    (x0, y0), (x1, y1) = world.min(axis=0), world.max(axis=0)
    step = max(1.0, float(np.ceil(max(x1 - x0, y1 - y0) / MAX_GRID_LINES)))
    for axis in (0, 1):
        lo, hi = (x0, x1) if axis == 0 else (y0, y1)
        other_lo, other_hi = (y0, y1) if axis == 0 else (x0, x1)
        for value in np.arange(np.floor(lo), np.ceil(hi) + 1e-9, step):
            samples = np.linspace(other_lo, other_hi, 30)
            points = np.column_stack(
                [np.full_like(samples, value), samples] if axis == 0 else [samples, np.full_like(samples, value)]
            )
            image_points = homography.to_image(points)
            bold = abs(value % 5) < 1e-9
            cv2.polylines(canvas, [px(image_points)], False, (0, 255, 255) if bold else (0, 200, 200), 2 if bold else 1,
                          cv2.LINE_AA)  # fmt: skip
