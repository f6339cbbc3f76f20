"""The shipped scenario set: every event type several times over, and normal traffic with no event.

The road is the main street of the real intersection clips: 8 m wide (two lanes), 45 m of it
calibrated, a painted crosswalk across it. Road positions are metres: x across the road (0 at the
far kerb, 8 at the near one), y along it (0 at the left edge of the picture, 45 towards the back).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cameras.geometry import fit_homography
from detection.scenarios.compose import (
    APPARENT_HEIGHT,
    HEIGHT,
    WIDTH,
    Image,
    Sprite,
    paint_crosswalk,
    paste,
    pixels_per_metre,
)
from detection.scenarios.script import Actor, RoadBox, TrueEvent, box_view, true_events

FPS = 20.0
LIMIT_KMH = 50
CALIBRATION = {
    "image_points": [[0.0, 0.44], [0.02, 0.81], [0.8, 0.25], [0.72, 0.14]],
    "world_points": [[0.0, 0.0], [8.0, 0.0], [8.0, 45.0], [0.0, 45.0]],
}
HOMOGRAPHY = fit_homography(CALIBRATION["image_points"], CALIBRATION["world_points"])
VIEW = RoadBox("view", "view", -2.5, 10.5, 0.0, 45.0)  # road users are visible on the road and pavements
EAST = RoadBox("eastbound", "lane", 4.0, 8.0, 0.0, 45.0, flow=+1)
WEST = RoadBox("westbound", "lane", 0.0, 4.0, 0.0, 45.0, flow=-1)
CROSSWALK = RoadBox("crosswalk", "crosswalk", 0.0, 8.0, 10.0, 13.0)
ZONES = [EAST, WEST, CROSSWALK]
UP, DOWN, ACROSS_NEAR, ACROSS_FAR = (0.0, 1.0), (0.0, -1.0), (1.0, 0.0), (-1.0, 0.0)


def _zone_json(box: RoadBox) -> dict[str, Any]:
    corners = HOMOGRAPHY.to_image([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]])
    zone: dict[str, Any] = {"name": box.name, "kind": box.kind, "polygon": np.round(corners, 4).tolist()}
    if box.kind == "lane":
        mid = (box.x0 + box.x1) / 2
        ends = [[mid, 5.0], [mid, 40.0]] if box.flow > 0 else [[mid, 40.0], [mid, 5.0]]
        zone["flow"] = np.round(HOMOGRAPHY.to_image(ends), 4).tolist()
    return zone


@dataclass
class Spec:
    name: str
    duration: float
    actors: list[Actor]
    expect: set[str] = field(default_factory=set)  # event types the script is meant to produce


def car(
    lane: RoadBox,
    y: float,
    kmh: float,
    *,
    t0: float = 0.0,
    cls: str = "car",
    sprite: int = 0,
    changes: list[tuple[float, float]] | None = None,
    wrong_way: bool = False,
) -> Actor:
    heading = UP if (lane.flow > 0) != wrong_way else DOWN
    return Actor(cls, ((lane.x0 + lane.x1) / 2, y), heading, kmh, t0, changes or [], sprite)


def walker(
    y: float, kmh: float, *, t0: float = 0.0, cls: str = "person", sprite: int = 0, near_side: bool = False
) -> Actor:
    start, heading = ((9.5, y), ACROSS_FAR) if near_side else ((-1.5, y), ACROSS_NEAR)
    return Actor(cls, start, heading, kmh, t0, [], sprite)


def stop_and_go(
    v_kmh: float,
    stop_at_y: float,
    start_y: float,
    decel: float,
    wait: float,
    t_brake: float | None = None,
    go: float = 2.0,
) -> tuple[float, list[tuple[float, float]]]:
    """Braking that ends at ``stop_at_y``: returns the time braking starts and the acceleration changes."""
    v = v_kmh / 3.6
    braking_distance = v * v / (2 * decel)
    t_brake = (stop_at_y - start_y - braking_distance) / v if t_brake is None else t_brake
    t_stop = t_brake + v / decel
    return t_brake, [(t_brake, -decel), (t_stop, 0.0), (t_stop + wait, go), (t_stop + wait + 6, 0.0)]


def specs() -> list[Spec]:
    out: list[Spec] = []
    for i, (kmh, lane) in enumerate([(75, EAST), (85, WEST), (95, EAST), (110, EAST), (80, WEST)]):
        start = 0.0 if lane is EAST else 45.0
        actors = [car(lane, start, kmh, sprite=i, cls="truck" if i == 4 else "car")]
        other = WEST if lane is EAST else EAST
        actors.append(car(other, 45.0 if other is WEST else 0.0, 38, t0=0.5, sprite=i + 3))
        out.append(Spec(f"speeding-{i + 1:02d}-{kmh}kmh", 5.0, actors, {"speeding"}))
    for i, (kmh, lane) in enumerate([(30, EAST), (40, EAST), (35, WEST), (45, WEST)]):
        start = 42.0 if lane is EAST else 2.0
        out.append(
            Spec(f"wrong-way-{i + 1:02d}", 6.0, [car(lane, start, kmh, wrong_way=True, sprite=i)], {"wrong_way"})
        )
    for i, (kmh, headway) in enumerate([(50, 0.45), (52, 0.55), (45, 0.5), (48, 0.6)]):
        lane = EAST if i % 2 == 0 else WEST
        start, sign = (0.0, 1) if lane is EAST else (45.0, -1)
        gap = headway * kmh / 3.6
        leader = car(lane, start + sign * gap, kmh, sprite=i)
        follower = car(lane, start, kmh, t0=0.0, sprite=i + 2)
        # The leader starts ahead: both enter together and keep the gap through the whole view.
        out.append(Spec(f"tailgating-{i + 1:02d}", 4.5, [leader, follower], {"tailgating"}))
    for i, (kmh, walk, who) in enumerate(
        [(40, 5.0, "person"), (45, 5.5, "person"), (40, 14.0, "bicycle"), (35, 4.5, "person")]
    ):
        # The walker is 1.2 m from the car's path (x = 4.8, the car at x = 6) just as the car passes.
        y = 11.5
        to_meet = y / (kmh / 3.6)  # the car's drive to the crossing point
        to_walk = (4.8 + 1.5) / (walk / 3.6)  # the walker's, from the far pavement
        car_t0 = max(0.0, to_walk - to_meet) + 0.5
        actors = [
            car(EAST, 0.0, kmh, t0=car_t0, sprite=i),
            walker(y, walk, t0=car_t0 + to_meet - to_walk, cls=who, sprite=i),
        ]
        out.append(Spec(f"near-miss-{i + 1:02d}-{who}", car_t0 + to_meet + 3.0, actors, {"near_miss"}))
    for i, (kmh, decel) in enumerate([(50, 8.0), (52, 9.0), (48, 7.5), (50, 8.5)]):
        _, changes = stop_and_go(kmh, 30.0, 0.0, decel, wait=2.0)
        out.append(
            Spec(f"hard-braking-{i + 1:02d}", 6.5, [car(EAST, 0.0, kmh, changes=changes, sprite=i)], {"hard_braking"})
        )
    for i, (kmh, stop_y) in enumerate([(30, 26.0), (25, 30.0), (35, 24.0), (30, 33.0)]):
        _, changes = stop_and_go(kmh, stop_y, 0.0, 2.0, wait=1000.0)
        out.append(
            Spec(f"stalled-{i + 1:02d}", 17.0, [car(EAST, 0.0, kmh, changes=changes, sprite=i)], {"stalled_vehicle"})
        )
    for i, (kmh, decel) in enumerate([(25, 2.5), (20, 2.0), (30, 3.5), (28, 3.0)]):
        _, changes = stop_and_go(kmh, 11.5, 0.0, decel, wait=5.0)
        out.append(
            Spec(
                f"crosswalk-stop-{i + 1:02d}",
                11.0,
                [car(EAST, 0.0, kmh, changes=changes, sprite=i)],
                {"crosswalk_stop"},
            )
        )
    normal = [
        [car(EAST, 0.0, 45, sprite=0), car(WEST, 45.0, 40, t0=1.0, sprite=1)],
        [car(EAST, 0.0, 40, sprite=2), car(EAST, 0.0, 40, t0=2.2, sprite=3)],  # 2.2 s apart
        [car(WEST, 45.0, 48, sprite=4), walker(11.5, 5.0, t0=3.5, sprite=1)],  # crosses after the car passed
        [car(EAST, 0.0, 35, sprite=5, cls="truck"), car(WEST, 45.0, 42, t0=0.5, sprite=6)],
        [walker(11.0, 4.5, sprite=0), walker(12.0, 5.0, t0=1.0, near_side=True, sprite=1)],
        [car(EAST, 0.0, 50, sprite=1), car(WEST, 45.0, 30, sprite=2), car(EAST, 0.0, 48, t0=2.5, sprite=3)],
    ]
    for i, actors in enumerate(normal):
        out.append(Spec(f"normal-{i + 1:02d}", 7.0, actors, set()))
    return out


DEMO = "demo-street"


def demo_spec() -> Spec:
    """Twenty seconds of street for the demo camera (it loops): a speeder, a tailgating pair, a
    near miss with a pedestrian, and ordinary traffic in between. Not part of the scored set."""
    to_walk = (4.8 + 1.5) / (5.0 / 3.6)
    actors = [
        car(EAST, 0.0, 85, t0=1.0, sprite=1),  # speeding
        car(WEST, 45.0, 40, t0=2.0, sprite=2),
        car(EAST, 0.0, 48, t0=6.0, sprite=3),  # tailgating: 0.5 s behind its leader, on the near lane
        car(EAST, 0.5 * 48 / 3.6, 48, t0=6.0, sprite=4),
        car(EAST, 0.0, 40, t0=12.0 + to_walk - 11.5 / (40 / 3.6), sprite=5),  # near miss with the walker
        walker(11.5, 5.0, t0=12.0, sprite=0),
        car(WEST, 45.0, 35, t0=15.0, sprite=6, cls="truck"),
    ]
    return Spec(DEMO, 20.0, actors, {"speeding", "tailgating", "near_miss"})


def camera_block() -> dict[str, Any]:
    return {"calibration": CALIBRATION, "speed_limit_kmh": LIMIT_KMH, "zones": [_zone_json(z) for z in ZONES]}


def render(spec: Spec, plate: Image, sprites: dict[str, list[Sprite]], folder: Path) -> list[TrueEvent]:
    """Write video.mp4 and scenario.json into ``folder``; returns the true events."""
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for actor in spec.actors:
        times, positions, speeds = actor.trajectory(spec.duration)
        positions[~box_view(VIEW)(actor, positions)] = np.nan
        samples.append((times, positions, speeds))
    frames = round(spec.duration * FPS)
    writer = cv2.VideoWriter(str(folder / "video.mp4"), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    for index in range(frames):
        t = index / FPS
        canvas = plate.copy()
        placed = []
        for actor, (times, positions, _) in zip(spec.actors, samples, strict=True):
            k = min(round(t / (times[1] - times[0])), len(times) - 1)
            if np.isnan(positions[k, 0]):
                continue
            placed.append((actor, (float(positions[k, 0]), float(positions[k, 1]))))
        # Farther road users first (smaller ground-plane scale), so nearer ones cover them.
        placed.sort(key=lambda item: pixels_per_metre(HOMOGRAPHY, item[1]))
        for actor, world in placed:
            choices = sprites[actor.cls]
            sprite = choices[actor.sprite % len(choices)]
            u, v = HOMOGRAPHY.to_image([world])[0]
            moving_right = _image_direction(actor) > 0
            flip = sprite.facing != 0 and (sprite.facing > 0) != moving_right
            paste(
                canvas,
                sprite,
                (float(u), float(v)),
                APPARENT_HEIGHT[actor.cls] * pixels_per_metre(HOMOGRAPHY, world),
                flip,
            )
        writer.write(canvas)
    writer.release()
    events = true_events(spec.actors, ZONES, box_view(VIEW), spec.duration, LIMIT_KMH)
    document = {
        "format": 1,
        "name": spec.name,
        "camera": camera_block(),
        "events": [
            {"type": e.type, "start": round(e.start, 3), "end": round(e.end, 3), "class": e.cls}
            | ({"speed_kmh": e.speed_kmh} if e.type == "speeding" else {})
            for e in events
        ],
        "generator": {"tool": "manage.py make_scenarios", "expected_types": sorted(spec.expect)},
    }
    (folder / "scenario.json").write_text(json.dumps(document, indent=2) + "\n")
    return events


def _image_direction(actor: Actor) -> float:
    a, b = HOMOGRAPHY.to_image(
        [list(actor.start), [actor.start[0] + actor.heading[0], actor.start[1] + actor.heading[1]]]
    )
    return float(b[0] - a[0])


def generate(
    target: Path,
    detect: Callable[[Image], list[tuple[str, float, tuple[float, float, float, float]]]],
    only: list[str] | None = None,
) -> list[tuple[Spec, list[TrueEvent]]]:
    """Render every scenario (or those named in ``only``) into ``target``. Deterministic."""
    from detection.scenarios.compose import extract_sprites

    chosen = [s for s in [*specs(), demo_spec()] if (only is None and s.name != DEMO) or (only and s.name in only)]
    if only is not None and len(chosen) != len(only):
        unknown = sorted(set(only) - {s.name for s in chosen})
        raise ValueError(f"unknown scenario name(s): {', '.join(unknown)}")
    plate, found = extract_sprites(detect)
    plate = paint_crosswalk(plate, HOMOGRAPHY, CROSSWALK.y0, CROSSWALK.y1, CROSSWALK.x0, CROSSWALK.x1)
    by_class: dict[str, list[Sprite]] = {}
    for sprite in found:
        by_class.setdefault(sprite.cls, []).append(sprite)
    for cls in APPARENT_HEIGHT:
        if cls not in by_class:
            by_class[cls] = by_class["car"] if cls in {"truck", "bus"} else by_class["person"]
    # Largest first: the most detailed cut-outs are the ones scaled least.
    for sprites in by_class.values():
        sprites.sort(key=lambda s: -s.rgb.shape[0] * s.rgb.shape[1])
    results = []
    for spec in chosen:
        events = render(spec, plate, by_class, target / spec.name)
        results.append((spec, events))
    return results
