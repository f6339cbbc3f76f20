"""Rendering a scripted scene as a camera would film it: a road plate and real road users on it.

The plate is a top-down map of the road (asphalt, lane markings, kerbs, pavements, the crosswalk's
zebra stripes, verges) warped into the camera by the road-plane homography, so the picture and
the calibration agree everywhere. Road users are real footage crops (``compose.extract_sprites``)
pasted with their bottom centre on the image of their road position and scaled to the box of their
real dimensions seen from this camera, farther ones first so nearer ones hide them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from detection.scenarios.camera_model import ROAD_WIDTH, CameraGeometry
from detection.scenarios.compose import Image, Sprite, paste_px
from detection.scenarios.script import DT, Actor, RoadBox

PPM = 8.0  # map pixels per road metre
MAP_X = (-40.0, ROAD_WIDTH + 40.0)
MAP_AHEAD_M = 300.0
# A sprite may be stretched or squeezed this much to fit the box of the road user's real size.
ASPECT_SLACK = (0.7, 1.4)


def road_plate(rig: CameraGeometry, crosswalk: RoadBox, seed: int) -> Image:
    """The empty road seen by ``rig``: deterministic for a seed."""
    rng = np.random.default_rng(seed)
    y0 = rig.y_m - 20.0
    width = round((MAP_X[1] - MAP_X[0]) * PPM)
    height = round((MAP_AHEAD_M + 20.0) * PPM)
    xs = MAP_X[0] + (np.arange(width) + 0.5) / PPM
    ys = y0 + (np.arange(height) + 0.5) / PPM
    gx = np.broadcast_to(xs[None, :], (height, width))
    gy = np.broadcast_to(ys[:, None], (height, width))
    world = np.zeros((height, width, 3), np.float32)
    world[:] = (62, 92, 78)  # verge: grass and earth (BGR)
    pavement = ((gx > -3.0) & (gx < 0.0)) | ((gx > ROAD_WIDTH) & (gx < ROAD_WIDTH + 3.0))
    world[pavement] = (150, 152, 155)
    tiles = pavement & ((np.mod(gy, 1.0) < 0.04) | (np.mod(gx, 1.0) < 0.04))
    world[tiles] = (128, 130, 133)
    road = (gx >= 0.0) & (gx <= ROAD_WIDTH)
    world[road] = (84, 86, 88)
    kerb = (np.abs(gx) < 0.12) | (np.abs(gx - ROAD_WIDTH) < 0.12)
    world[kerb] = (175, 175, 178)
    paint = (np.abs(gx - 0.35) < 0.08) | (np.abs(gx - (ROAD_WIDTH - 0.35)) < 0.08)
    paint |= (np.abs(gx - ROAD_WIDTH / 2) < 0.08) & (np.mod(gy, 9.0) < 3.0)
    stripes = (gy >= crosswalk.y0) & (gy <= crosswalk.y1) & road & (np.mod(gx - crosswalk.x0 - 0.25, 1.0) < 0.5)
    paint |= stripes
    world[paint & road] = (208, 210, 212)
    world += rng.normal(0.0, 7.0, world.shape).astype(np.float32)
    tex = np.clip(cv2.GaussianBlur(world, (3, 3), 0), 0, 255).astype(np.uint8)
    to_map = np.array([[PPM, 0.0, -MAP_X[0] * PPM - 0.5], [0.0, PPM, -y0 * PPM - 0.5], [0.0, 0.0, 1.0]])
    matrix = to_map @ rig.image_to_ground_matrix()
    far = (118, 128, 122)
    plate = cv2.warpPerspective(
        tex,
        matrix,
        (rig.width, rig.height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=far,
    )
    # Above the horizon the homography folds over: paint a sky instead.
    horizon = int(np.ceil(rig.horizon_v())) + 1
    if horizon > 0:
        rows = np.linspace(0.0, 1.0, min(horizon, rig.height))[:, None, None]
        sky = (1 - rows) * np.array([215, 190, 170]) + rows * np.array([190, 185, 180])
        plate[: min(horizon, rig.height)] = np.broadcast_to(sky, (min(horizon, rig.height), rig.width, 3)).astype(
            np.uint8
        )
    noise = rng.normal(0.0, 2.0, plate.shape)
    return np.asarray(np.clip(plate + noise, 0, 255), dtype=np.uint8)


@dataclass(frozen=True)
class _Placed:
    depth: float
    sprite: Sprite
    foot: tuple[float, float]
    width: float
    height: float
    flip: bool


def render_video(
    rig: CameraGeometry,
    actors: list[Actor],
    duration: float,
    plate: Image,
    sprites: dict[str, list[Sprite]],
    path: Path,
) -> int:
    """Write the scene's video (mp4v at the rig's frame rate); returns the number of frames."""
    frames = round(duration * rig.fps)
    steps = np.round(np.arange(frames) / rig.fps / DT).astype(int)
    placements = [_placements(rig, actor, duration, steps, sprites) for actor in actors]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), rig.fps, (rig.width, rig.height))
    try:
        for index in range(frames):
            placed = [p for track in placements if (p := track[index]) is not None]
            canvas = plate.copy()
            for item in sorted(placed, key=lambda p: -p.depth):
                paste_px(canvas, item.sprite, item.foot, item.width, item.height, item.flip)
            writer.write(canvas)
    finally:
        writer.release()
    return frames


def _placements(
    rig: CameraGeometry, actor: Actor, duration: float, steps: np.ndarray, sprites: dict[str, list[Sprite]]
) -> list[_Placed | None]:
    """Where and how big the actor is drawn in each frame (None: not drawn), computed at once."""
    _, positions, _ = actor.trajectory(duration)
    pos = positions[np.minimum(steps, len(positions) - 1)]
    heading = np.broadcast_to(np.asarray(actor.heading, dtype=np.float64), pos.shape)
    boxes = rig.boxes(actor.cls, pos, heading)
    _, depth = rig.project(np.hstack([pos, np.zeros((len(pos), 1))]))
    ahead = rig.ground_to_image(pos + heading)[:, 0] - rig.ground_to_image(pos)[:, 0]
    choices = sprites[actor.cls]
    sprite = choices[actor.sprite % len(choices)]
    out: list[_Placed | None] = []
    for (x1, y1, x2, y2), d, dx in zip(boxes, depth, ahead, strict=True):
        drawable = np.all(np.isfinite([x1, y1, x2, y2, d])) and d >= 1.0
        if (
            not drawable
            or x2 < 0
            or x1 > rig.width
            or y2 < 0
            or y1 > rig.height
            or y2 - y1 < 4
            or y2 - y1 > 1.5 * rig.height  # right under the camera: mostly outside the frame
            or x2 - x1 > 1.5 * rig.width
        ):
            out.append(None)
            continue
        height = float(y2 - y1)
        natural = sprite.rgb.shape[1] * height / sprite.rgb.shape[0]
        width = float(np.clip(natural, ASPECT_SLACK[0] * (x2 - x1), ASPECT_SLACK[1] * (x2 - x1)))
        flip = sprite.facing != 0 and (sprite.facing > 0) != bool(dx > 0)
        out.append(_Placed(float(d), sprite, (float((x1 + x2) / 2), float(y2)), width, height, flip))
    return out


def sprite_pool(found: list[Sprite]) -> dict[str, list[Sprite]]:
    """Sprites by class, largest first (the most detailed cut-outs are scaled least); classes the
    clips lack borrow their nearest kind (trucks and buses cars, riders pedestrians)."""
    by_class: dict[str, list[Sprite]] = {}
    for sprite in found:
        by_class.setdefault(sprite.cls, []).append(sprite)
    for cls in ("car", "truck", "bus", "motorcycle", "bicycle", "person"):
        if cls not in by_class:
            fallback = "car" if cls in {"truck", "bus"} else ("bicycle" if cls == "motorcycle" else "person")
            by_class[cls] = by_class.get(fallback) or by_class["car"]
    for group in by_class.values():
        group.sort(key=lambda s: -s.rgb.shape[0] * s.rgb.shape[1])
    return by_class
