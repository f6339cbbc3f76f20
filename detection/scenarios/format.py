"""Reading scenarios in the format fixed by ../shared/SCENARIOS.md (format 1).

A scenario is a folder with ``video.mp4`` and ``scenario.json``; extra keys are allowed and
ignored anywhere (a scenario set written for a newer engine, with settings this one lacks, still
reads): they are dropped before the camera block is validated with the same validators as a camera
edited in the admin, so what reaches the camera is only what this engine knows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError

from cameras import config as camera_config


class ScenarioError(ValueError):
    """The scenario folder or its JSON does not follow the format; the message says where."""


@dataclass(frozen=True)
class TruthEvent:
    type: str
    start: float
    end: float
    cls: str
    speed_kmh: float | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    folder: Path
    video: Path
    calibration: dict[str, Any]
    speed_limit_kmh: float
    zones: list[dict[str, Any]]
    rules: dict[str, dict[str, Any]]
    events: list[TruthEvent] = field(default_factory=list)


def scenario_folders(paths: list[str]) -> list[Path]:
    """The scenario folders named, or inside the folders named (one level down), in order."""
    folders: list[Path] = []
    for item in paths:
        path = Path(item)
        if (path / "scenario.json").is_file():
            folders.append(path)
        elif path.is_dir():
            folders += sorted(p.parent for p in path.glob("*/scenario.json"))
        else:
            raise ScenarioError(f"{path}: not a scenario folder")
    if not folders:
        raise ScenarioError("no scenarios found")
    return folders


def load_scenario(folder: Path | str) -> Scenario:
    folder = Path(folder)
    spec_path, video = folder / "scenario.json", folder / "video.mp4"
    if not spec_path.is_file():
        raise ScenarioError(f"{folder}: no scenario.json")
    if not video.is_file():
        raise ScenarioError(f"{folder}: no video.mp4")
    try:
        spec = json.loads(spec_path.read_text())
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{spec_path}: not valid JSON ({exc})") from None
    if not isinstance(spec, dict) or spec.get("format") != 1:
        raise ScenarioError(
            f"{spec_path}: format must be 1, got {spec.get('format') if isinstance(spec, dict) else spec!r}"
        )
    camera = spec.get("camera")
    if not isinstance(camera, dict) or "calibration" not in camera:
        raise ScenarioError(f"{spec_path}: camera.calibration is required")
    calibration = _known(camera["calibration"], ("image_points", "world_points"))
    zones = camera.get("zones", [])
    if isinstance(zones, list):
        zones = [_known(zone, ZONE_KEYS) for zone in zones]
    rules = _known_rules(camera.get("rules", {}))
    try:
        camera_config.validate_calibration(calibration)
        camera_config.validate_zones(zones)
        camera_config.validate_rules(rules)
    except ValidationError as exc:
        raise ScenarioError(f"{spec_path}: {exc.messages[0]}") from None
    limit = camera.get("speed_limit_kmh", 50)
    if not isinstance(limit, int | float) or isinstance(limit, bool) or limit <= 0:
        raise ScenarioError(f"{spec_path}: camera.speed_limit_kmh must be a positive number")
    events = [_event(spec_path, i, raw) for i, raw in enumerate(spec.get("events", []), start=1)]
    return Scenario(
        name=str(spec.get("name") or folder.name),
        folder=folder,
        video=video,
        calibration=calibration,
        speed_limit_kmh=float(limit),
        zones=zones,
        rules=rules,
        events=events,
    )


ZONE_KEYS = ("name", "kind", "polygon", "flow", "speed_limit_kmh")


def _known(value: Any, keys: tuple[str, ...]) -> Any:
    """An object with only the keys this engine reads (anything else is passed on for validation)."""
    return {k: v for k, v in value.items() if k in keys} if isinstance(value, dict) else value


def _known_rules(value: Any) -> Any:
    """Rule overrides without the rules and settings this engine does not have."""
    if not isinstance(value, dict):
        return value
    known = {}
    for rule, overrides in value.items():
        if rule in camera_config.RULE_DEFAULTS:
            known[rule] = _known(overrides, tuple(camera_config.RULE_DEFAULTS[rule]))
    return known


def _event(path: Path, index: int, raw: Any) -> TruthEvent:
    where = f"{path}: event {index}"
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected an object")
    kind = raw.get("type")
    if kind not in camera_config.EVENT_TYPES:
        raise ScenarioError(f"{where}: type must be one of {', '.join(camera_config.EVENT_TYPES)}, got {kind!r}")
    try:
        start, end = float(raw["start"]), float(raw["end"])
    except (KeyError, TypeError, ValueError):
        raise ScenarioError(f"{where}: start and end (seconds) are required numbers") from None
    if end < start:
        raise ScenarioError(f"{where}: end {end} is before start {start}")
    speed = raw.get("speed_kmh")
    if kind == "speeding" and not isinstance(speed, int | float):
        raise ScenarioError(f"{where}: a speeding event needs speed_kmh")
    return TruthEvent(kind, start, end, str(raw.get("class", "")), float(speed) if speed is not None else None)
