"""Run a scenario through the live code path: the camera loop reading the file, detection on the
Celery detect workers, tracking and the rules, with the scenario's camera settings.

Offline runs lose nothing: the reader waits instead of dropping frames, and the loop waits for a
free detection slot instead of dropping (live cameras drop, and count it). The rules see the tracks
through a recorder that keeps every track's points, so a report can be explained afterwards.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2

from cameras.models import Camera
from cameras.sources import Source, SourceKind
from detection.capture.camera import CameraLoop, CaptureSettings
from detection.capture.reader import FrameReader, ReaderConfig
from detection.events import CandidateEvent, FrameTracks, RuleEngine
from detection.rules.engine import TrafficRules
from detection.scenarios.format import Scenario
from detection.scenarios.score import Report
from detection.tracking import TrackPoint

Progress = Callable[[int, int], None]
# A camera detects at most this many frames per second (the Camera model's limit); faster videos
# are sampled down to it by frame timestamps.
MAX_DETECT_FPS = 30.0
NO_PROGRESS_S = 180.0  # a run whose reader has read nothing new for this long has failed


class ScenarioRunError(RuntimeError):
    """The scenario could not be run to its end; the message says why."""


@dataclass
class TrackHistory:
    """One track as the rules saw it: its class and its point in every frame it was seen in."""

    track_id: int
    cls: str
    points: list[TrackPoint] = field(default_factory=list)


@dataclass(frozen=True)
class RunResult:
    reports: list[Report]
    events: list[CandidateEvent]
    frames: int
    seconds: float
    history: dict[int, TrackHistory] = field(default_factory=dict)
    size: tuple[int, int] = (0, 0)  # width, height in pixels
    detect_fps: float = 0.0
    # Track id -> the road user (its first track id, as events name it) that the rules joined it to.
    road_user: dict[int, int] = field(default_factory=dict)


class RecordingRules:
    """Wraps a camera's rule engine and keeps the point of every track in every frame, and which road
    user the rules made of each track (events name road users: a re-joined fragment keeps the first
    track's id)."""

    def __init__(self, inner: RuleEngine) -> None:
        self.inner = inner
        self.history: dict[int, TrackHistory] = {}
        self.road_user: dict[int, int] = {}
        self.size = (0, 0)

    def process(self, frame: FrameTracks) -> list[CandidateEvent]:
        self.size = frame.size
        for track in frame.tracks:
            history = self.history.setdefault(track.track_id, TrackHistory(track.track_id, track.cls))
            if not history.points or history.points[-1].ts != track.last.ts:
                history.points.append(track.last)
        events = self.inner.process(frame)
        if isinstance(self.inner, TrafficRules):
            for track in frame.tracks:
                user = self.inner.road_users.by_track.get(track.track_id)
                if user is not None:
                    self.road_user[track.track_id] = user.uid
        return events


def video_size(path: str) -> tuple[int, int]:
    """Width and height of a video's frames (0, 0 when OpenCV cannot open it)."""
    cap = cv2.VideoCapture(path)
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()


def video_info(path: str) -> tuple[float, int]:
    """Frame rate and frame count; a video OpenCV cannot open or decode is refused here, before a
    camera reader would retry it forever."""
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise ScenarioRunError(f"{path}: OpenCV cannot open this video")
        ok, _ = cap.read()
        if not ok:
            raise ScenarioRunError(f"{path}: the video has no frame OpenCV can decode")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        return (fps if fps > 0 else 25.0), int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
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
    if fps is not None and not 0.2 <= fps <= MAX_DETECT_FPS:
        raise ScenarioRunError(f"--fps must be between 0.2 and {MAX_DETECT_FPS:g}, got {fps:g}")
    detect_fps = fps or min(video_fps, MAX_DETECT_FPS)
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
    recorder = RecordingRules(worker.rules)
    worker.rules = recorder
    failure: list[BaseException] = []

    def loop(stop: threading.Event) -> None:
        try:
            worker.run(stop)
        except Exception as exc:  # handed to the caller's thread, which names the scenario
            failure.append(exc)

    started = time.perf_counter()
    stop = threading.Event()
    thread = threading.Thread(target=loop, args=(stop,), name=f"evaluate-{camera.pk}")
    thread.start()
    shown, progressed = -1, time.monotonic()
    try:
        while thread.is_alive():
            thread.join(0.25)
            if reader.frames_read != shown:
                shown, progressed = reader.frames_read, time.monotonic()
                if progress:
                    progress(shown, total)
            elif time.monotonic() - progressed > NO_PROGRESS_S:
                stop.set()
                thread.join(30)
                raise ScenarioRunError(
                    f"{scenario.name}: no frame read for {NO_PROGRESS_S:.0f} s ({reader.frames_read} of {total})"
                )
    finally:
        stop.set()
        camera.delete()
    if failure:
        raise ScenarioRunError(f"{scenario.name}: the camera loop failed: {failure[0]!r}") from failure[0]
    if worker.counts["lost"] or worker.counts["frame_error"]:
        raise ScenarioRunError(
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
    seconds = time.perf_counter() - started
    return RunResult(
        reports, events, reader.frames_read, seconds, recorder.history, recorder.size, detect_fps, recorder.road_user
    )
