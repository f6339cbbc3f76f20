"""The camera rigs of the generated set, fixed per split.

Each split has its own rigs (``SplitRigs``), drawn from its own seed: the ``test`` scenes are filmed by
cameras that no tuning split uses (other mounting heights, tilts, lenses, frame sizes and rates), so
tuning cannot fit the test cameras. Frame sizes and rates are dealt out so that every split has 4:3
and 16:9 frames and 25 and 30 fps; the continuous parameters are random within the
ranges of real road cameras (4-12 m up, looking 22-45 m ahead, 40-85 degree lenses).

``dev2`` is a second split to tune on, with the same templates and other seeds and rigs, one of
them mounted as low as 3.5 m (a pole by the kerb, where passing traffic hides stopped cars for
long): more and other scenes to find failures on, so that ``test`` stays the only report.

``dev3`` is a third split to tune on, through longer lenses (28-60 degrees): road users far away are
small, as they are in many real installations that watch a long stretch of road from a mast.

``dev4`` is a fourth split to tune on, drawn after the other three were tuned, to find what they did
not: lenses from 30 to 90 degrees, mounts from 3.5 to 12 m, limits from 40 to 80 km/h and a 12 fps
camera, so that a rule fitted to the first three's cameras shows here before it reaches ``test``.

``dev5`` is a fifth split to tune on, drawn after the first four were tuned: half its cameras hang
on gantries over the lanes and look along the road (traffic comes straight at them), one films at
1920x1080 and one at 10 fps.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Final

from detection.scenarios.camera_model import CameraGeometry, GeometryError


@dataclass(frozen=True)
class SplitRigs:
    """How one split's rigs are drawn, from its own seed."""

    seed: int
    # Per rig, in order: (width, height, fps, speed limit km/h).
    cameras: tuple[tuple[int, int, float, float], ...]
    # Mounting heights over 4-12 m, dealt out among the rigs and jittered per rig.
    heights: tuple[float, ...]
    lowest_m: float = 4.0
    hfov_deg: tuple[float, float] = (40.0, 85.0)  # the range the lenses are drawn from
    # The rigs (indices) mounted on a gantry over the lanes, looking along the road, instead of on a
    # pole beside it: traffic comes straight at the camera or drives straight away from it.
    gantries: tuple[int, ...] = ()


_PLANS: Final = {
    "dev": SplitRigs(
        11_000,
        (
            (800, 600, 25.0, 50.0),
            (1280, 720, 30.0, 60.0),
            (960, 720, 20.0, 40.0),
            (1280, 720, 15.0, 50.0),
            (800, 600, 30.0, 70.0),
            (960, 720, 10.0, 50.0),
        ),
        (4.0, 5.5, 7.0, 8.5, 10.0, 11.5),
    ),
    "dev2": SplitRigs(  # down to 3.5 m
        33_000,
        (
            (1280, 720, 25.0, 60.0),
            (960, 720, 30.0, 50.0),
            (800, 600, 20.0, 40.0),
            (1280, 720, 30.0, 70.0),
            (960, 720, 15.0, 50.0),
            (800, 600, 25.0, 60.0),
        ),
        (3.5, 5.0, 6.5, 8.0, 9.5, 11.0),
        lowest_m=3.5,
    ),
    "dev3": SplitRigs(  # the long lenses
        44_000,
        (
            (1280, 720, 25.0, 70.0),
            (800, 600, 30.0, 50.0),
            (960, 720, 25.0, 60.0),
            (1280, 720, 20.0, 50.0),
            (800, 600, 15.0, 40.0),
            (1280, 720, 30.0, 60.0),
        ),
        (4.5, 6.0, 7.5, 9.0, 10.5, 12.0),
        hfov_deg=(28.0, 60.0),
    ),
    "dev4": SplitRigs(  # the widest spread: found failures before test can show them
        55_000,
        (
            (1280, 720, 25.0, 80.0),
            (960, 720, 30.0, 40.0),
            (800, 600, 25.0, 50.0),
            (1280, 720, 30.0, 50.0),
            (960, 720, 12.0, 60.0),
            (800, 600, 20.0, 70.0),
        ),
        (3.5, 4.5, 6.0, 8.0, 9.5, 12.0),
        lowest_m=3.5,
        hfov_deg=(30.0, 90.0),
    ),
    "dev5": SplitRigs(  # gantries over the lanes, a 1080p camera, a 10 fps one
        66_000,
        (
            (1920, 1080, 25.0, 50.0),
            (1280, 720, 30.0, 80.0),
            (800, 600, 10.0, 50.0),
            (960, 720, 25.0, 40.0),
            (1280, 720, 20.0, 60.0),
            (1024, 768, 15.0, 50.0),
        ),
        (6.0, 7.5, 9.0, 5.0, 10.5, 4.5),
        hfov_deg=(30.0, 80.0),
        gantries=(0, 1, 3),
    ),
    "test": SplitRigs(
        22_000,
        (
            (960, 720, 30.0, 50.0),
            (1280, 720, 25.0, 60.0),
            (800, 600, 15.0, 40.0),
            (1280, 720, 20.0, 50.0),
            (960, 720, 25.0, 70.0),
            (800, 600, 12.0, 50.0),
        ),
        (4.0, 5.5, 7.0, 8.5, 10.0, 11.5),
    ),
}
SPLITS: Final = tuple(_PLANS)  # tune on dev to dev5, report on test


def rigs(split: str) -> list[CameraGeometry]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; splits are {', '.join(SPLITS)}")
    plan = _PLANS[split]
    rng = random.Random(plan.seed)  # noqa: S311 - reproducible rigs, not a secret
    heights = list(plan.heights)
    rng.shuffle(heights)
    out = []
    for index, camera in enumerate(plan.cameras):
        for _ in range(200):
            rig = _draw(rng, plan, f"{split}-cam{index + 1}", camera, heights[index], index in plan.gantries)
            try:
                near, far = rig.road_span()
            except GeometryError:
                continue
            if far - near >= 30.0:  # enough road to drive through and to stop on
                out.append(rig)
                break
        else:  # pragma: no cover - the ranges always give a usable rig within a few draws
            raise GeometryError(f"no usable rig for {split} #{index + 1}")
    return out


def _draw(
    rng: random.Random,
    plan: SplitRigs,
    name: str,
    camera: tuple[int, int, float, float],
    mount: float,
    gantry: bool = False,
) -> CameraGeometry:
    width, height, fps, limit = camera
    mount = min(12.0, max(plan.lowest_m, mount + rng.uniform(-0.6, 0.6)))
    ahead = rng.uniform(22.0, 45.0)  # where the optical axis meets the road
    if gantry:  # over the lanes (x from 0 to 8), looking nearly straight along the road
        x, yaw = rng.uniform(1.0, 7.0), rng.uniform(-4.0, 4.0)
    else:
        side = rng.choice((-1, 1))  # standing beyond x = 0 (left) or beyond x = 8 (right)
        x = -rng.uniform(1.5, 6.0) if side < 0 else 8.0 + rng.uniform(1.5, 6.0)
        yaw = -side * rng.uniform(4.0, 28.0)  # turned towards the road
    return CameraGeometry(
        name=name,
        width=width,
        height=height,
        fps=fps,
        mount_m=round(mount, 2),
        tilt_deg=round(math.degrees(math.atan2(mount, ahead)), 2),
        yaw_deg=round(yaw, 2),
        hfov_deg=round(rng.uniform(*plan.hfov_deg), 1),
        x_m=round(x, 2),
        speed_limit_kmh=limit,
    )
