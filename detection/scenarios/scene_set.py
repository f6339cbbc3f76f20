"""The generated scenario set: about 75 scenes per split, ``dev`` to tune on and ``test`` to report.

Every scene is drawn from its own seed (split, index, attempt) with its split's camera rigs
(``rigs.py``), so no two splits share a camera or a scene. A drawn scene is kept only when the
truth computed from its script says what the template meant: the intended event type(s) and no
other for an event scene, nothing at all for normal traffic; otherwise the next attempt's seed is
drawn. Each split also gets one of the two real intersection clips, unmodified, as a negative.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detection.assets import CLIP_CARS_CYCLIST, CLIP_CARS_TRUCK, asset_path
from detection.scenarios import library
from detection.scenarios.camera_model import CameraGeometry
from detection.scenarios.compose import Image, Sprite, detectable, extract_sprites
from detection.scenarios.render import render_video, road_plate, sprite_pool
from detection.scenarios.rigs import SPLITS, rigs
from detection.scenarios.script import Actor, FloatArray, RoadBox, TrueEvent, true_events
from detection.scenarios.traffic import PLAN, Road, Scene, make_road

VERSION = 3  # 2: only cut-outs the detector recognizes on their own; 3: tailgaters keep 2 m bumper to bumper
MAX_ATTEMPTS = 40
REAL_CLIPS = {
    "dev": CLIP_CARS_TRUCK,
    "dev2": CLIP_CARS_TRUCK,
    "dev3": CLIP_CARS_TRUCK,
    "dev4": CLIP_CARS_TRUCK,
    "dev5": CLIP_CARS_TRUCK,
    "test": CLIP_CARS_CYCLIST,
}
Detect = Callable[[Image], list[tuple[str, float, tuple[float, float, float, float]]]]


@dataclass(frozen=True)
class Drawn:
    name: str
    split: str
    rig: CameraGeometry
    seed: str  # the seed of the attempt that was kept
    scene: Scene
    road: Road
    events: list[TrueEvent]


def plan(split: str) -> list[tuple[str, Callable[[random.Random, Road], Scene], CameraGeometry]]:
    """Names, templates and rigs of a split's scenes, in a fixed order."""
    cameras = rigs(split)
    out = []
    index = 0
    for t, (template, count) in enumerate(PLAN):
        for k in range(count):
            index += 1
            rig = cameras[(t + k) % len(cameras)]
            kind = template.__name__.replace("_", "-")
            out.append((f"{split}-{index:03d}-{kind}-{rig.name.split('-')[-1]}", template, rig))
    return out


def visibility(rig: CameraGeometry) -> Callable[[Actor, FloatArray], np.ndarray]:
    def visible(actor: Actor, pos: FloatArray) -> np.ndarray:
        return rig.in_view(actor.cls, pos, np.broadcast_to(actor.heading, pos.shape))

    return visible


def draw(split: str, name: str, template: Callable[[random.Random, Road], Scene], rig: CameraGeometry) -> Drawn:
    """The first attempt whose truth is what the template meant."""
    found: list[str] = []
    for attempt in range(MAX_ATTEMPTS):
        seed = f"{split}/{name}/{attempt}"
        rng = random.Random(seed)  # noqa: S311 - reproducible scenes, not a secret
        road = make_road(rng, rig)
        scene = template(rng, road)
        events = true_events(scene.actors, scene.zones, visibility(rig), scene.duration, rig.speed_limit_kmh)
        found = sorted({e.type for e in events})
        if set(found) == scene.expect:
            return Drawn(name, split, rig, seed, scene, road, events)
    raise RuntimeError(f"{name}: no attempt gave {sorted(scene.expect) or 'no event'} (last gave {found})")


def scenario_document(drawn: Drawn) -> dict[str, Any]:
    rig, scene = drawn.rig, drawn.scene
    return {
        "format": 1,
        "name": drawn.name,
        "camera": {
            "calibration": rig.calibration(),
            "speed_limit_kmh": rig.speed_limit_kmh,
            "zones": [_zone(rig, zone, drawn.road) for zone in scene.zones],
        },
        "events": [
            {"type": e.type, "start": round(e.start, 3), "end": round(e.end, 3), "class": e.cls}
            | ({"speed_kmh": e.speed_kmh} if e.type == "speeding" else {})
            for e in drawn.events
        ],
        "generator": {
            "tool": "manage.py make_scenarios",
            "version": VERSION,
            "split": drawn.split,
            "template": scene.kind,
            "seed": drawn.seed,
            "expected_types": sorted(scene.expect),
            "rig": {
                "name": rig.name,
                "frame": [rig.width, rig.height],
                "fps": rig.fps,
                "mount_m": rig.mount_m,
                "tilt_deg": rig.tilt_deg,
                "yaw_deg": rig.yaw_deg,
                "hfov_deg": rig.hfov_deg,
                "position_m": [rig.x_m, rig.y_m],
            },
        },
    }


def _zone(rig: CameraGeometry, box: RoadBox, road: Road) -> dict[str, Any]:
    corners = rig.ground_to_image([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]])
    zone: dict[str, Any] = {"name": box.name, "kind": box.kind, "polygon": np.round(corners, 5).tolist()}
    if box.kind == "lane":
        mid = (box.x0 + box.x1) / 2
        ends = [[mid, box.y0 + 2.0], [mid, box.y1 - 2.0]]
        zone["flow"] = np.round(rig.ground_to_image(ends if box.flow > 0 else ends[::-1]), 5).tolist()
    return zone


def write_scene(drawn: Drawn, plate: Image, sprites: dict[str, list[Sprite]], folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    frames = render_video(drawn.rig, drawn.scene.actors, drawn.scene.duration, plate, sprites, folder / "video.mp4")
    (folder / "scenario.json").write_text(json.dumps(scenario_document(drawn), indent=2) + "\n")
    return frames


def write_real_clip(split: str, folder: Path) -> str:
    """One real intersection clip, unmodified, with the street's calibration and no zones: nothing
    happens in it. The shipped set's lanes and crosswalk were drawn for composed traffic; whether
    the real road users keep to those lanes' flows nobody checked, so no lane is claimed."""
    name = f"{split}-real-intersection"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(asset_path(REAL_CLIPS[split]), folder / "video.mp4")
    document = {
        "format": 1,
        "name": name,
        "camera": {"calibration": library.CALIBRATION, "speed_limit_kmh": library.LIMIT_KMH, "zones": []},
        "events": [],
        "generator": {"tool": "manage.py make_scenarios", "version": VERSION, "split": split, "template": "real_clip"},
    }
    (folder / "scenario.json").write_text(json.dumps(document, indent=2) + "\n")
    return name


def generate_split(
    out: Path,
    split: str,
    detect: Detect,
    only: list[str] | None = None,
    progress: Callable[[Drawn], None] | None = None,
    jobs: int = 1,
) -> list[Drawn]:
    """Draw, render and write a split's scenes into ``out/split/NAME``. Deterministic whatever
    ``jobs`` is: each scene depends only on its own seed."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; splits are {', '.join(SPLITS)}")
    chosen = [
        (split, name, template, rig, out / split / name)
        for name, template, rig in plan(split)
        if not only or name in only
    ]
    _, found = extract_sprites(detect)
    sprites = sprite_pool(detectable(found, detect))
    _use_sprites(sprites)
    results = []
    if jobs > 1:
        # Forked workers get the sprites without pickling them; each returns its drawn scene.
        with multiprocessing.get_context("fork").Pool(jobs, initializer=_use_sprites, initargs=(sprites,)) as pool:
            for drawn in pool.imap(_make, chosen):
                results.append(drawn)
                if progress:
                    progress(drawn)
    else:
        for item in chosen:
            results.append(_make(item))
            if progress:
                progress(results[-1])
    if only is None:
        write_real_clip(split, out / split / f"{split}-real-intersection")
    return results


_SPRITES: dict[str, list[Sprite]] = {}  # the sprites of this process's current generate_split


def _use_sprites(sprites: dict[str, list[Sprite]]) -> None:
    global _SPRITES  # the state of one worker process of the pool
    _SPRITES = sprites


def _make(item: tuple[str, str, Callable[[random.Random, Road], Scene], CameraGeometry, Path]) -> Drawn:
    split, name, template, rig, folder = item
    drawn = draw(split, name, template, rig)
    plate = road_plate(rig, drawn.road.crosswalk, seed=_int_seed(drawn.seed))
    write_scene(drawn, plate, _SPRITES, folder)
    return drawn


def _int_seed(seed: str) -> int:
    return random.Random(seed).randrange(2**32)  # noqa: S311 - reproducible, not a secret


def write_readme(out: Path, commit: str) -> None:
    """Say what is in ``out``: the generator version, the commit that made it, the split rule."""
    lines = [
        f"Generated scenario set, generator version {VERSION} (commit {commit}).",
        "Made by: manage.py make_scenarios OUT --split all (detection/scenarios/scene_set.py).",
        "",
        "dev/   tune on these.",
        "dev2/  tune on these too: other seeds and rigs (one mounted 3.5 m up).",
        "dev3/  tune on these too: other seeds and rigs, long lenses (far road users are small).",
        "dev4/  tune on these too: other seeds and rigs, the widest spread of lenses, mounts and limits.",
        "dev5/  tune on these too: other seeds and rigs, half of them on gantries over the lanes.",
        "test/  report only; never tune on them. Its scenes come from other camera rigs and other seeds.",
        "",
        "Each scene: video.mp4 (mp4v) + scenario.json in the format of docs/scenario-format.md;",
        "the 'generator' block (extra key) names the template, seed and camera rig.",
        "Truth: computed from the scripted trajectories with the format's thresholds and visibility rule",
        "(detection/scenarios/contract.py), not from the rule engine's settings.",
        "",
    ]
    for split in SPLITS:
        folder = out / split
        if folder.is_dir():
            lines.append(f"{split}: {sum(1 for _ in folder.glob('*/scenario.json'))} scenarios")
    (out / "README.txt").write_text("\n".join(lines) + "\n")
