"""Capture from a real RTSP server through a real detect worker: online, detected, tracked, reconnects."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from cameras.models import Camera
from detection.assets import CLIP_CARS_TRUCK, asset_path
from detection.capture.camera import CameraLoop, CaptureSettings
from detection.capture.reader import FrameReader, ReaderConfig
from detection.events import CandidateEvent, FrameTracks
from tests.factories import make_camera
from tests.support.rtsp import RtspServer, looped_clip
from tests.support.waiting import wait_for
from tests.workers import WorkerProcess

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class RecordingRules:
    """A rule engine that keeps every frame it is given (the interface the rules issue implements)."""

    def __init__(self) -> None:
        self.frames: list[FrameTracks] = []

    def process(self, frame: FrameTracks) -> list[CandidateEvent]:
        self.frames.append(frame)
        return []


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return looped_clip(asset_path(CLIP_CARS_TRUCK), tmp_path_factory.mktemp("clips") / "loop.mp4", loops=20)


@pytest.fixture
def rtsp_server(long_clip: Path) -> Iterator[RtspServer]:
    server = RtspServer(long_clip).start()
    yield server
    server.kill()


def start_worker(
    camera: Camera, rules: RecordingRules, *, stall_timeout_s: float = 3.0
) -> tuple[CameraLoop, threading.Event, threading.Thread]:
    reader = FrameReader(
        camera.source,
        ReaderConfig(fps=camera.detect_fps, stall_timeout_s=stall_timeout_s, backoff_initial_s=0.3, backoff_max_s=1.0),
        camera_label=str(camera.pk),
    )
    capture = CaptureSettings(
        max_in_flight=3, result_timeout_s=10, motion_keepalive_s=1, stall_timeout_s=stall_timeout_s
    )
    worker = CameraLoop(camera, session="test", reader=reader, rules=rules, capture=capture)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    return worker, stop, thread


def test_an_rtsp_camera_goes_online_and_its_cars_and_truck_keep_their_ids(
    celery_worker: WorkerProcess, rtsp_server: RtspServer
) -> None:
    camera = make_camera(source_url=rtsp_server.url, detect_fps=10, motion_gate=False)
    rules = RecordingRules()
    worker, stop, thread = start_worker(camera, rules)
    try:
        wait_for(lambda: Camera.objects.get(pk=camera.pk).status == "online", 20, "the camera to go online")
        wait_for(lambda: len(rules.frames) >= 28, 60, "28 detected frames")
    finally:
        stop.set()
        thread.join(15)
    seqs = [f.seq for f in rules.frames]
    assert seqs == sorted(seqs), "results must reach the tracker in frame order"
    timestamps = [f.ts for f in rules.frames]
    assert all(b > a for a, b in pairwise(timestamps))
    classes = Counter(t.cls for f in rules.frames for t in f.tracks)
    assert classes["car"] > 20 and classes["truck"] > 5, classes
    frames_per_track: dict[tuple[int, str], int] = defaultdict(int)
    for frame in rules.frames:
        for track in frame.tracks:
            frames_per_track[(track.track_id, track.cls)] += 1
    # The 3 s clip loops on the server, so a road user is in view for at most ~30 frames at 10 fps.
    assert sum(1 for (_, cls), n in frames_per_track.items() if cls == "car" and n >= 20) >= 2, frames_per_track
    assert any(cls == "truck" and n >= 10 for (_, cls), n in frames_per_track.items()), frames_per_track
    assert worker.counts["sent"] >= 28 and worker.counts["frame_error"] == 0


def test_a_dead_stream_goes_offline_with_the_error_and_comes_back(
    celery_worker: WorkerProcess, rtsp_server: RtspServer
) -> None:
    camera = make_camera(source_url=rtsp_server.url, detect_fps=5, motion_gate=True)
    rules = RecordingRules()
    _, stop, thread = start_worker(camera, rules, stall_timeout_s=2.0)
    try:
        wait_for(lambda: Camera.objects.get(pk=camera.pk).status == "online", 20, "the camera to go online")
        rtsp_server.kill()
        killed = time.monotonic()
        offline = wait_for(
            lambda: (c := Camera.objects.get(pk=camera.pk)).status == "offline" and c, 15, "the camera to go offline"
        )
        assert time.monotonic() - killed < 10
        assert offline.last_error and "rtsp://127.0.0.1" in offline.last_error
        assert offline.reconnect_count >= 1
        detected_before = len(rules.frames)
        rtsp_server.start()
        back = wait_for(lambda: (c := Camera.objects.get(pk=camera.pk)).status == "online" and c, 20, "it to return")
        assert back.last_error == "" and back.last_frame_at is not None
        wait_for(lambda: len(rules.frames) > detected_before + 3, 20, "detections after the reconnect")
    finally:
        stop.set()
        thread.join(15)
    assert Camera.objects.get(pk=camera.pk).status == "unknown"  # a stopped capture says so


def test_an_mjpeg_http_camera_is_captured_and_detected(celery_worker: WorkerProcess) -> None:
    from tests.support.mjpeg_server import MjpegServer

    server = MjpegServer(asset_path(CLIP_CARS_TRUCK), fps=10).start()
    camera = make_camera(source_url=server.url, detect_fps=5, motion_gate=False)
    rules = RecordingRules()
    _, stop, thread = start_worker(camera, rules)
    try:
        wait_for(lambda: Camera.objects.get(pk=camera.pk).status == "online", 20, "the camera to go online")
        wait_for(lambda: sum(len(f.tracks) for f in rules.frames) >= 10, 30, "tracked road users")
    finally:
        stop.set()
        thread.join(15)
        server.stop()
    assert {t.cls for f in rules.frames for t in f.tracks} >= {"car"}
