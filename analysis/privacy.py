"""What leaves for the cloud: the evidence images with faces and plates pixelated, scaled down.

There is no face or plate detector here; the regions are approximated from the tracker's boxes:
the head is the top of a person's box, a plate sits in the lower part of a vehicle's box. The
regions are generous on purpose (a bumper pixelated too is a fair price) and pixelation, unlike a
light blur, cannot be undone. Evidence kept for operators is never altered: only the copies sent
to DashScope are.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from cameras.boxes import crop_rect
from cameras.config import VEHICLE_CLASSES
from cameras.payload import BoxInView

HEAD_SHARE = 0.25  # top quarter of a person's box (standing or riding)
PLATE_FROM = 0.55  # a plate is below 55 % of a vehicle box's height, front or rear
FACE_CELLS = 5  # pixels across a head after pixelation
PLATE_CELLS = 8  # pixels across a vehicle's lower band: characters are far smaller than a cell
JPEG_QUALITY = 85

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Region:
    box: Box  # normalized xyxy in the keyframe
    cells: int


@dataclass(frozen=True)
class UploadImage:
    role: str  # "frame", "crop", or "strip" (one of the frames around the event)
    jpeg: bytes
    width: int
    height: int
    offset_s: float | None = None  # strip frames: time relative to the triggering frame

    @property
    def data_url(self) -> str:
        # A data URL travels inside the request; a file:// path would make the SDK upload the file
        # to Alibaba's object storage first.
        return "data:image/jpeg;base64," + base64.b64encode(self.jpeg).decode("ascii")


def private_regions(boxes: Iterable[BoxInView]) -> list[Region]:
    """Regions to pixelate, from the payload's ``boxes`` (everyone in view, normalized xyxy)."""
    regions: list[Region] = []
    for entry in boxes:
        x1, y1, x2, y2 = (float(v) for v in entry["xyxy"])
        if x2 <= x1 or y2 <= y1:
            continue
        if entry.get("cls") == "person":
            regions.append(Region((x1, y1, x2, y1 + (y2 - y1) * HEAD_SHARE), FACE_CELLS))
        elif entry.get("cls") in VEHICLE_CLASSES:
            regions.append(Region((x1, y1 + (y2 - y1) * PLATE_FROM, x2, y2), PLATE_CELLS))
    return regions


def pixelate(image: np.ndarray[Any, Any], regions: list[Region]) -> np.ndarray[Any, Any]:
    """A copy of ``image`` with every region replaced by a coarse mosaic of itself."""
    out = image.copy()
    height, width = out.shape[:2]
    for region in regions:
        x1, y1, x2, y2 = region.box
        left, top = max(0, int(x1 * width)), max(0, int(y1 * height))
        right, bottom = min(width, int(np.ceil(x2 * width))), min(height, int(np.ceil(y2 * height)))
        w, h = right - left, bottom - top
        if w < 2 or h < 2:
            continue
        cells_x = max(1, min(region.cells, w // 2))
        cells_y = max(1, min(round(cells_x * h / w), h // 2))
        patch = out[top:bottom, left:right]
        small = cv2.resize(patch, (cells_x, cells_y), interpolation=cv2.INTER_AREA)
        out[top:bottom, left:right] = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    return out


def _decode(jpeg: bytes) -> np.ndarray[Any, Any] | None:
    return cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)


def _encode(role: str, image: np.ndarray[Any, Any], max_side: int, offset_s: float | None = None) -> UploadImage:
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale < 1:
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError(f"could not encode the {role} image")
    return UploadImage(role, bytes(buf), width, height, offset_s)


def prepare_images(
    keyframe: bytes | None,
    crop: bytes | None,
    *,
    boxes: Iterable[BoxInView],
    group_box: Box | None,
    blur: bool,
    max_side: int,
) -> list[UploadImage]:
    """The images to send, in prompt order (frame, then crop); none that cannot be made private.

    The crop is cut again from the (pixelated) keyframe with the same box and margin as the stored
    crop, so it can never show a region that the frame hides.
    """
    frame = _decode(keyframe) if keyframe else None
    if frame is None:
        # Without the frame the crop's regions are unknown: with blurring on, it does not leave.
        crop_image = _decode(crop) if crop and not blur else None
        return [_encode("crop", crop_image, max_side)] if crop_image is not None else []
    if blur:
        frame = pixelate(frame, private_regions(boxes))
    images = [_encode("frame", frame, max_side)]
    rect = crop_rect(frame.shape[1], frame.shape[0], group_box) if group_box else None
    if rect is not None:
        left, top, right, bottom = rect
        images.append(_encode("crop", frame[top:bottom, left:right], max_side))
    return images


def prepare_strip(
    frames: Iterable[tuple[bytes, list[BoxInView], float]], *, blur: bool, max_side: int
) -> list[UploadImage]:
    """The strip's frames (JPEG, everyone's boxes in that frame, offset), each pixelated from its own boxes.

    A frame that does not decode is left out; the strip keeps its order (oldest first).
    """
    images = []
    for jpeg, boxes, offset_s in frames:
        frame = _decode(jpeg)
        if frame is None:
            continue
        if blur:
            frame = pixelate(frame, private_regions(boxes))
        images.append(_encode("strip", frame, max_side, offset_s))
    return images
