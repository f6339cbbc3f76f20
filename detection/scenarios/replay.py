"""Dev-only: detect once, then replay tracking and the rules on scenarios in seconds.

Tuning the rules with ``manage.py evaluate`` re-runs YOLO on every frame of every scenario each
time. Here the detections of each scenario's video are made once, exactly as the live path makes
them, and cached on disk; the tracker and the rules then run in-process on the cached detections.

What is the same as the live path (detection.scenarios.runner + detection.capture.camera):
- frames: the same FrameReader on the file, sampled at the same detect fps (the video's own rate
  unless ``fps`` is given), numbered and timestamped by it;
- detection: each frame JPEG-encoded at the camera loop's quality, decoded and detected by
  detection.detector.detect down to the camera's detection floor, with its classes (a Camera row built
  like the runner's, with the model's defaults);
- tracking and rules: CameraTracker at the camera's detect fps, traffic_groups, then TrafficRules on
  FrameTracks built as CameraLoop.handle builds them.
Where they may differ: the live detect worker runs ONNX Runtime with the worker's thread count, and
a different thread count may change a box coordinate in its last bits; boxes are rounded to 1e-5 of
the frame, so this shows only when a value falls on a rounding edge. Frames are never dropped in
either (the evaluation waits instead of dropping).

The cache key is the video's sha256, the model's (the weights' sha256; for int8 also the
quantization recipe's inputs key) and every setting above, so a changed
video, model or setting is detected anew and a stale cache is never read.
"""

from __future__ import annotations

import hashlib
import json
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from cameras.config import detection_floor
from cameras.models import Camera
from cameras.sources import Source, SourceKind
from detection import framecodec
from detection.assets import ASSETS, YOLO_WEIGHTS
from detection.capture.reader import FrameReader, ReaderConfig
from detection.detector import Box, decode_frame, detect
from detection.events import CameraContext, CandidateEvent, FrameTracks, RuleEngine
from detection.farfield import VERSION as FAR_FIELD_VERSION
from detection.farfield import FarField
from detection.rules.engine import TrafficRules
from detection.scenarios.format import Scenario
from detection.scenarios.runner import video_info, video_size
from detection.scenarios.score import Report
from detection.tracking import CameraTracker, traffic_groups

CACHE_VERSION = 3


@dataclass(frozen=True)
class CachedFrame:
    seq: int
    ts: float
    wall_time: float
    size: tuple[int, int]
    boxes: list[Box]


@dataclass(frozen=True)
class Replay:
    reports: list[Report]
    events: list[CandidateEvent]
    frames: int
    seconds: float
    engine: RuleEngine


def scenario_camera(scenario: Scenario, fps: float | None = None) -> Camera:
    """An unsaved camera with the scenario's settings, as detection.scenarios.runner creates it."""
    video_fps, _ = video_info(str(scenario.video))
    return Camera(
        name=f"replay {scenario.name}",
        source_url=str(scenario.video),
        enabled=False,
        detect_fps=fps or video_fps,
        motion_gate=False,
        calibration=scenario.calibration,
        zones=scenario.zones,
        rules=scenario.rules,
        speed_limit_kmh=round(scenario.speed_limit_kmh),
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_key() -> str:
    """Which model detects: the bundled weights' sha256 for fp32; for int8 the quantized model's
    inputs key, so that a changed quantization recipe is detected anew (fp32 keys are unchanged)."""
    if settings.DETECT_PRECISION == "int8":
        from detection.quantize import inputs_key

        return f"int8:{inputs_key()}"
    return ASSETS[YOLO_WEIGHTS].sha256


def cache_key(scenario: Scenario, camera: Camera) -> str:
    width, height = video_size(str(scenario.video))
    tile = FarField(camera.homography, camera.zones, settings.DETECT_FAR_FIELD).tile((width, height))
    inputs = {
        "version": CACHE_VERSION,
        "video": _sha256(scenario.video),
        "weights": model_key(),
        "fps": camera.detect_fps,
        "confidence": detection_floor(camera.confidence_threshold),
        "classes": list(camera.classes),
        # How frames reach the detector (CameraLoop.submit) and which model detects them.
        "frame_format": settings.CAPTURE_FRAME_FORMAT,
        "precision": settings.DETECT_PRECISION,
        "canvas": settings.DETECT_CANVAS,
        # The camera's far-field tile for the video's frame size (None: off, or no far road).
        "far_field": tile.as_list() if tile is not None else None,
        "far_field_version": FAR_FIELD_VERSION,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:32]


def detect_video(scenario: Scenario, camera: Camera) -> list[CachedFrame]:
    """Every frame the live path would detect, with its detections (YOLO runs here, in-process)."""
    reader = FrameReader(
        Source(SourceKind.FILE, str(scenario.video)),
        ReaderConfig(fps=camera.detect_fps, realtime=False, loop_files=False, drop_when_busy=False),
        camera_label=f"replay-{scenario.name}",
    )
    far_field = FarField(camera.homography, camera.zones, settings.DETECT_FAR_FIELD)
    reader.start()
    frames: list[CachedFrame] = []
    try:
        while not (reader.finished.is_set() and reader.frames.empty()):
            try:
                frame = reader.frames.get(timeout=0.1)
            except queue.Empty:  # the reader is still decoding
                continue
            height, width = frame.image.shape[:2]
            tile = far_field.tile((width, height))
            payload = framecodec.encode(frame.image, settings.CAPTURE_FRAME_FORMAT, full=tile is not None)
            if payload is None:
                raise RuntimeError(f"{scenario.name}: frame {frame.seq} could not be encoded")
            image = decode_frame(payload)
            found = detect(
                image, confidence=detection_floor(camera.confidence_threshold), classes=list(camera.classes), tile=tile
            )
            frames.append(CachedFrame(frame.seq, frame.ts, frame.wall_time, (width, height), found.boxes))
    finally:
        reader.stop()
        reader.join(timeout=10)
    return frames


def cached_detections(scenario: Scenario, camera: Camera, cache_dir: Path) -> list[CachedFrame]:
    path = cache_dir / f"{scenario.name}-{cache_key(scenario, camera)}.json"
    if path.is_file():
        raw = json.loads(path.read_text())
        return [
            CachedFrame(f["seq"], f["ts"], f["wall_time"], (f["size"][0], f["size"][1]),
                        [Box.from_json(b) for b in f["boxes"]])
            for f in raw["frames"]
        ]  # fmt: skip
    frames = detect_video(scenario, camera)
    cache_dir.mkdir(parents=True, exist_ok=True)
    document = {
        "scenario": scenario.name,
        "frames": [
            {"seq": f.seq, "ts": f.ts, "wall_time": f.wall_time, "size": list(f.size),
             "boxes": [b.to_json() for b in f.boxes]}
            for f in frames
        ],
    }  # fmt: skip
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document))
    tmp.replace(path)  # a run killed half-way leaves no half-written cache behind
    return frames


def replay(
    scenario: Scenario,
    frames: list[CachedFrame],
    camera: Camera,
    engine_factory: Callable[[CameraContext], RuleEngine] = TrafficRules,
) -> Replay:
    """Tracking, traffic groups and the rules on cached detections, as CameraLoop.handle runs them."""
    started = time.perf_counter()
    context = CameraContext(
        camera_id=camera.pk or 0,
        speed_limit_kmh=float(camera.speed_limit_kmh),
        zones=list(camera.zones),
        rules=dict(camera.rules),
        homography=camera.homography,
    )
    engine = engine_factory(context)
    tracker = CameraTracker(camera.detect_fps, confidence=camera.confidence_threshold)
    events: list[CandidateEvent] = []
    for frame in frames:
        tracks = tracker.update(frame.ts, frame.boxes)
        groups = traffic_groups(tracks, context.homography)
        events += engine.process(FrameTracks(context, frame.seq, frame.ts, frame.wall_time, frame.size, tracks, groups))
    reports = [
        Report(e.event_type, e.triggered_at, e.track_ids,
               e.measurements.get("speed_kmh") if e.event_type == "speeding" else None)
        for e in events
    ]  # fmt: skip
    return Replay(reports, events, len(frames), time.perf_counter() - started, engine)


def event_summary(event: CandidateEvent) -> dict[str, Any]:
    return {
        "type": event.event_type,
        "trigger": round(event.triggered_at, 3),
        "track_ids": list(event.track_ids),
        "measurements": event.measurements,
    }
