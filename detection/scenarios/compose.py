"""Composing scenario videos from real footage.

The background plate is the per-pixel median of the two real intersection clips (moving road users
vanish, the street stays). Road users are cut out of the real frames: the detector's box, and inside
it the pixels that differ from the plate (the road user, not the road around it). Each is pasted
with its bottom centre on a scripted road position, scaled by the perspective of the scenario's
calibration, farther ones first. Everything is deterministic for a given seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from cameras.geometry import Homography
from detection.assets import CLIP_CARS_CYCLIST, CLIP_CARS_TRUCK, asset_path

Image = npt.NDArray[np.uint8]
WIDTH, HEIGHT = 800, 600
# Apparent height of each kind in "road metres at that spot": the ground-plane scale under a road
# user times this gives its height in pixels, which keeps sizes consistent with the calibration.
APPARENT_HEIGHT = {"car": 2.2, "truck": 3.6, "bus": 3.8, "person": 3.0, "bicycle": 2.8}


@dataclass(frozen=True)
class Sprite:
    cls: str
    rgb: Image
    alpha: npt.NDArray[np.float32]  # 0..1, same height and width as rgb
    facing: int  # +1: the original moved right in the image, -1: left, 0: unknown


def read_frames(path: Path) -> list[Image]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while (read := cap.read())[0]:
        frames.append(np.asarray(read[1], dtype=np.uint8))
    cap.release()
    return frames


def background_plate(clips: list[list[Image]]) -> Image:
    stack = np.stack([frame for clip in clips for frame in clip])
    return np.asarray(np.median(stack, axis=0), dtype=np.uint8)


def _mask(frame: Image, plate: Image, box: tuple[int, int, int, int]) -> npt.NDArray[np.float32] | None:
    x1, y1, x2, y2 = box
    diff = cv2.absdiff(frame[y1:y2, x1:x2], plate[y1:y2, x1:x2]).max(axis=2)
    mask = (diff > 28).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    # Fill the holes (windows that look like the road behind) from the outline.
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(mask)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    if filled.mean() < 0.35:
        return None
    soft = cv2.GaussianBlur(filled.astype(np.float32), (5, 5), 0)
    return np.asarray(soft, dtype=np.float32)


def extract_sprites(
    detect: Callable[[Image], list[tuple[str, float, tuple[float, float, float, float]]]], every: int = 4
) -> tuple[Image, list[Sprite]]:
    """Cut road users out of the real clips. ``detect`` returns (class, confidence, normalized xyxy)."""
    clips = [read_frames(asset_path(CLIP_CARS_TRUCK)), read_frames(asset_path(CLIP_CARS_CYCLIST))]
    plate = background_plate(clips)
    sprites: list[Sprite] = []
    for clip in clips:
        previous: dict[str, float] = {}
        for index in range(0, len(clip), every):
            frame = clip[index]
            everything = detect(frame)
            found = [d for d in everything if d[1] >= 0.6]
            for cls, _, (nx1, ny1, nx2, ny2) in found:
                if cls == "person":
                    continue  # pedestrians in these clips are riders or too far away: see pedestrian_sprites()
                if cls == "bicycle":
                    people = [d[2] for d in everything if d[0] == "person" and _overlaps(d[2], (nx1, ny1, nx2, ny2))]
                    for px1, py1, px2, py2 in people:
                        nx1, ny1, nx2, ny2 = min(nx1, px1), min(ny1, py1), max(nx2, px2), max(ny2, py2)
                box = (int(nx1 * WIDTH), int(ny1 * HEIGHT), int(nx2 * WIDTH), int(ny2 * HEIGHT))
                x1, y1, x2, y2 = box
                if x1 < 4 or y1 < 4 or x2 > WIDTH - 4 or y2 > HEIGHT - 4 or y2 - y1 < 36:
                    continue  # cut by the border, or too small to be useful
                mask = _mask(frame, plate, box)
                if mask is None:
                    continue
                centre = (nx1 + nx2) / 2
                facing = 0 if cls not in previous else (1 if centre > previous[cls] else -1)
                previous[cls] = centre
                sprites.append(Sprite(cls, frame[y1:y2, x1:x2].copy(), mask, facing))
    return plate, sprites + pedestrian_sprites(detect)


def pedestrian_sprites(
    detect: Callable[[Image], list[tuple[str, float, tuple[float, float, float, float]]]],
) -> list[Sprite]:
    """People on foot, cut out of Ultralytics' street photo bus.jpg (the clips show none up close).

    There is no background plate for a photo, so GrabCut separates each person from the street,
    seeded with the detector's box.
    """
    from detection.assets import bundled_image

    image = np.asarray(cv2.imread(str(bundled_image())), dtype=np.uint8)
    height, width = image.shape[:2]
    sprites = []
    for cls, conf, (nx1, ny1, nx2, ny2) in detect(image):
        if cls != "person" or conf < 0.6:
            continue
        x1, y1, x2, y2 = int(nx1 * width), int(ny1 * height), int(nx2 * width), int(ny2 * height)
        if x1 < 2 or x2 > width - 2 or y2 > height - 2:
            continue  # cut by the photo's border
        mask = np.zeros((height, width), np.uint8)
        bg, fg = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.grabCut(image, mask, (x1, y1, x2 - x1, y2 - y1), bg, fg, 4, cv2.GC_INIT_WITH_RECT)
        person = np.isin(mask[y1:y2, x1:x2], (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(person)
        if count < 2:
            continue
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))  # the person, not stray bits of street
        person = (labels == largest).astype(np.uint8)
        ys = np.nonzero(person.any(axis=1))[0]
        y2 = y1 + int(ys[-1]) + 1  # the sprite ends at the feet
        person = person[: int(ys[-1]) + 1].astype(np.float32)
        if person.mean() < 0.3:
            continue
        alpha = np.asarray(cv2.GaussianBlur(person, (5, 5), 0), dtype=np.float32)
        sprites.append(Sprite("person", np.asarray(image[y1:y2, x1:x2], dtype=np.uint8).copy(), alpha, 0))
    return sprites


# Classes a detector may give a cut-out of each kind (a rider's bicycle is often a person or a motorcycle).
_ACCEPTED = {
    "car": {"car", "truck", "bus"},
    "truck": {"car", "truck", "bus"},
    "bus": {"car", "truck", "bus"},
    "bicycle": {"bicycle", "motorcycle", "person"},
    "person": {"person"},
}


def detectable(
    sprites: list[Sprite],
    detect: Callable[[Image], list[tuple[str, float, tuple[float, float, float, float]]]],
    min_confidence: float = 0.5,
) -> list[Sprite]:
    """The cut-outs the detector itself recognizes, alone on a grey ground at about their own size.

    A cut-out it cannot recognize would make its road user invisible in every scene that draws it,
    and the scenes would measure the sprite, not the rules.
    """
    kept = []
    for sprite in sprites:
        canvas = np.full((480, 480, 3), 110, np.uint8)
        height, width = sprite.rgb.shape[:2]
        scale = min(1.0, 400 / max(height, width))
        h, w = max(2, int(height * scale)), max(2, int(width * scale))
        rgb = cv2.resize(sprite.rgb, (w, h), interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(sprite.alpha, (w, h), interpolation=cv2.INTER_LINEAR)[:, :, None]
        y0, x0 = (480 - h) // 2, (480 - w) // 2
        patch = canvas[y0 : y0 + h, x0 : x0 + w].astype(np.float32)
        canvas[y0 : y0 + h, x0 : x0 + w] = np.asarray(patch * (1 - alpha) + rgb * alpha, dtype=np.uint8)
        found = {cls for cls, conf, _ in detect(canvas) if conf >= min_confidence}
        if found & _ACCEPTED.get(sprite.cls, {sprite.cls}):
            kept.append(sprite)
    return kept


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return smaller > 0 and ix * iy / smaller > 0.3


def pixels_per_metre(homography: Homography, world: tuple[float, float]) -> float:
    """Ground-plane scale at a road point: image length of one metre across the road, in pixels."""
    x, y = world
    a, b = homography.to_image([[x - 0.5, y], [x + 0.5, y]])
    return float(np.hypot((a[0] - b[0]) * WIDTH, (a[1] - b[1]) * HEIGHT))


def paste(canvas: Image, sprite: Sprite, bottom_centre: tuple[float, float], height_px: float, flip: bool) -> None:
    """Paste at a normalized ground point of an 800x600 frame, keeping the sprite's proportions."""
    width = sprite.rgb.shape[1] * height_px / sprite.rgb.shape[0]
    paste_px(canvas, sprite, (bottom_centre[0] * WIDTH, bottom_centre[1] * HEIGHT), width, height_px, flip)


def paste_px(
    canvas: Image, sprite: Sprite, foot: tuple[float, float], width_px: float, height_px: float, flip: bool
) -> None:
    """Paste ``sprite`` scaled to width x height pixels with its bottom centre on ``foot`` (pixels)."""
    width, height = max(2, round(width_px)), max(2, round(height_px))
    frame_h, frame_w = canvas.shape[:2]
    u, v = foot
    x1, y1 = round(u - width / 2), round(v - height)
    cx1, cy1, cx2, cy2 = max(0, x1), max(0, y1), min(frame_w, x1 + width), min(frame_h, y1 + height)
    if cx2 <= cx1 or cy2 <= cy1:
        return
    rgb = cv2.resize(
        sprite.rgb, (width, height), interpolation=cv2.INTER_AREA if height < sprite.rgb.shape[0] else cv2.INTER_LINEAR
    )
    alpha = cv2.resize(sprite.alpha, (width, height), interpolation=cv2.INTER_LINEAR)
    if flip:
        rgb, alpha = rgb[:, ::-1], alpha[:, ::-1]
    patch = canvas[cy1:cy2, cx1:cx2].astype(np.float32)
    a = alpha[cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1, None]
    src = rgb[cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1].astype(np.float32)
    canvas[cy1:cy2, cx1:cx2] = np.asarray(patch * (1 - a) + src * a, dtype=np.uint8)


def paint_crosswalk(plate: Image, homography: Homography, y0: float, y1: float, x0: float, x1: float) -> Image:
    """White zebra stripes across the road between y0 and y1 (metres), for a believable crosswalk."""
    painted = plate.copy()
    x = x0 + 0.25
    while x + 0.5 <= x1:
        corners = homography.to_image([[x, y0], [x + 0.5, y0], [x + 0.5, y1], [x, y1]])
        pts = np.asarray(corners * [WIDTH, HEIGHT], dtype=np.int32)
        cv2.fillPoly(painted, [pts], (205, 205, 205), lineType=cv2.LINE_AA)
        x += 1.0
    return np.asarray(cv2.addWeighted(painted, 0.8, plate, 0.2, 0), dtype=np.uint8)
