"""Run a scenario through the live code path: the camera loop reading the file, detection on the
Celery detect workers, tracking and the rules, with the scenario's camera settings.

Offline runs lose nothing: the reader waits instead of dropping frames, and the loop waits for a
free detection slot instead of dropping (live cameras drop, and count it).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import cv2

from cameras.models import Camera
from cameras.sources import Source, SourceKind
from detection.capture.camera import CameraLoop, CaptureSettings
from detection.capture.reader import FrameReader, ReaderConfig
from detection.events import CandidateEvent, FrameTracks
from detection.scenarios.format import Scenario
from detection.scenarios.score import Report

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RunResult:
    reports: list[Report]
    events: list[CandidateEvent]
    frames: int
    seconds: float


def video_info(path: str) -> tuple[float, int]:
    cap = cv2.VideoCapture(path)
    try:
        return float(cap.get(cv2.CAP_PROP_FPS) or 25.0), int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()


def run_scenario(
    scenario: Scenario,
    *,
    fps: float | None = None,
    realtime: bool = False,
    in_flight: int = 4,
    progress: Progress | None = None,
) -> RunResult:
    video_fps, total = video_info(str(scenario.video))
    detect_fps = fps or video_fps
    # A camera row like an operator's, disabled so that no capture supervisor picks it up.
    camera = Camera.objects.create(
        name=f"evaluate {scenario.name} {uuid.uuid4().hex[:8]}",
        source_url=str(scenario.video),
        enabled=False,
        detect_fps=detect_fps,
        motion_gate=False,
        calibration=scenario.calibration,
        zones=scenario.zones,
        rules=scenario.rules,
        speed_limit_kmh=round(scenario.speed_limit_kmh),
    )
    events: list[CandidateEvent] = []

    def sink(event: CandidateEvent, frame: FrameTracks, jpeg: bytes) -> None:
        events.append(event)

    reader = FrameReader(
        Source(SourceKind.FILE, str(scenario.video)),
        ReaderConfig(fps=detect_fps, realtime=realtime, loop_files=False, drop_when_busy=False),
        camera_label=str(camera.pk),
    )
    worker = CameraLoop(
        camera,
        session=uuid.uuid4().hex[:12],
        reader=reader,
        sink=sink,
        capture=CaptureSettings(
            max_in_flight=in_flight,
            result_timeout_s=120,
            motion_keepalive_s=1,
            stall_timeout_s=30,
            wait_when_full=True,
            snapshot_every_s=3600,
        ),
    )
    started = time.perf_counter()
    thread = threading.Thread(target=worker.run, args=(threading.Event(),), name=f"evaluate-{camera.pk}")
    thread.start()
    shown = -1
    try:
        while thread.is_alive():
            thread.join(0.25)
            if progress and reader.frames_read != shown:
                shown = reader.frames_read
                progress(shown, total)
    finally:
        camera.delete()
    if worker.counts["lost"] or worker.counts["frame_error"]:
        raise RuntimeError(
            f"{scenario.name}: {worker.counts['lost']} frame(s) got no detection result and "
            f"{worker.counts['frame_error']} failed; is a detect worker running?"
        )
    reports = [
        Report(
            e.event_type,
            e.triggered_at,
            e.track_ids,
            e.measurements.get("speed_kmh") if e.event_type == "speeding" else None,
        )
        for e in events
    ]
    return RunResult(reports, events, reader.frames_read, time.perf_counter() - started)
