"""The camera loop step by step: sampling, motion gate, back-pressure, result ordering, groups."""

from __future__ import annotations

import json
import time
from typing import Any

import cv2
import numpy as np
import pytest

from cameras.geometry import fit_homography
from cameras.live import snapshot_key, stats_key
from cameras.sources import parse_source
from core.redisclient import get_redis
from detection import framestore
from detection.assets import CLIP_CARS_TRUCK, asset_path
from detection.capture.camera import CameraLoop, CaptureSettings
from detection.capture.motion import MotionGate
from detection.capture.reader import Frame, FrameReader, ReaderConfig
from detection.detector import Box
from detection.metrics import FRAMES_DROPPED, FRAMES_SKIPPED_MOTION
from detection.tracking import CameraTracker, traffic_groups
from tests.factories import make_camera

pytestmark = pytest.mark.django_db


def clip_frames(n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(asset_path(CLIP_CARS_TRUCK)))
    frames = [cap.read()[1] for _ in range(n)]
    cap.release()
    return frames


def reader_for(camera, **config: Any) -> FrameReader:
    return FrameReader(parse_source(camera.source_url), ReaderConfig(fps=camera.detect_fps, **config), str(camera.pk))


class Dispatched:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, kwargs: dict[str, Any]) -> None:
        self.calls.append(kwargs)


def metric(counter, *labels: str) -> float:
    return float(counter.labels(*labels)._value.get())


def test_sampling_keeps_one_frame_per_detect_interval_by_timestamp() -> None:
    camera = make_camera(detect_fps=10)
    reader = reader_for(camera)
    kept = [i for i in range(40) if reader._sample(i / 20)]  # a 20 fps source, 2 s
    assert kept == list(range(0, 40, 2))
    reader = reader_for(make_camera(detect_fps=7))
    assert sum(reader._sample(i / 20) for i in range(200)) == 70  # 10 s -> 70 frames, not 100 or 66


def test_the_motion_gate_ignores_a_static_scene_and_sees_a_moving_car() -> None:
    frames = clip_frames(10)
    gate = MotionGate(threshold=0.002)
    assert gate.has_motion(frames[0])  # nothing to compare with yet
    gate.accept()
    assert not gate.has_motion(frames[0].copy())
    noisy = np.clip(frames[0].astype(np.int16) + np.random.default_rng(1).integers(-6, 7, frames[0].shape), 0, 255)
    assert not gate.has_motion(noisy.astype(np.uint8))  # sensor noise is not motion
    assert gate.has_motion(frames[9])  # cars moved in half a second


def test_a_static_camera_sends_a_keepalive_frame_and_skips_the_rest() -> None:
    camera = make_camera(detect_fps=10, motion_gate=True)
    dispatch = Dispatched()
    worker = CameraLoop(camera, session="static", reader=reader_for(camera), dispatch=dispatch,
                          capture=CaptureSettings(max_in_flight=100, result_timeout_s=5, motion_keepalive_s=1.0,
                                                  stall_timeout_s=5))  # fmt: skip
    image = clip_frames(1)[0]
    skipped_before = metric(FRAMES_SKIPPED_MOTION, str(camera.pk))
    outcomes = [worker.submit(Frame(i, i / 10, time.time(), image)) for i in range(25)]  # 2.5 s of a still scene
    assert outcomes.count("sent") == 3  # t = 0, 1.0, 2.0
    assert outcomes.count("static") == 22
    assert metric(FRAMES_SKIPPED_MOTION, str(camera.pk)) - skipped_before == 22


def test_a_static_scene_with_nobody_in_it_is_detected_seldom_and_one_with_road_users_every_second() -> None:
    camera = make_camera(detect_fps=10, motion_gate=True)
    worker = CameraLoop(camera, session="empty", reader=reader_for(camera), dispatch=Dispatched(),
                        capture=CaptureSettings(max_in_flight=100, result_timeout_s=5, motion_keepalive_s=1.0,
                                                stall_timeout_s=5, motion_keepalive_empty_s=10.0))  # fmt: skip
    image = clip_frames(1)[0]

    def still(seconds: float, start: int, boxes: list[dict[str, Any]]) -> list[str]:
        """A still scene for a while, each frame sent answered at once with these boxes."""
        outcomes = []
        for i in range(start, start + int(seconds * 10)):
            outcomes.append(worker.submit(Frame(i, i / 10, time.time(), image)))
            if outcomes[-1] == "sent":
                framestore.push_result(worker.reply_key, {"seq": i, "boxes": boxes, "size": [800, 600]})
                assert worker.collect(block_s=1.0) == 1
        return outcomes

    # Nobody in view: the first frame goes (nothing to compare with), the next still one 10 s later.
    assert still(25, 0, []).count("sent") == 3  # t = 0, 10, 20
    # A car parked in view: it must stay tracked, so a still frame goes every second.
    car = {"cls": "car", "conf": 0.9, "xyxy": [0.1, 0.5, 0.2, 0.6]}
    worker.last_sent_ts = float("-inf")
    assert still(5, 250, [car]).count("sent") == 5  # t = 25, 26, 27, 28, 29


def test_frames_beyond_k_in_flight_are_dropped_and_counted() -> None:
    camera = make_camera(detect_fps=10, motion_gate=False)
    dispatch = Dispatched()
    worker = CameraLoop(camera, session="bp", reader=reader_for(camera), dispatch=dispatch,
                          capture=CaptureSettings(max_in_flight=2, result_timeout_s=5, motion_keepalive_s=1,
                                                  stall_timeout_s=5))  # fmt: skip
    dropped_before = metric(FRAMES_DROPPED, str(camera.pk), "backpressure")
    frames = clip_frames(5)
    outcomes = [worker.submit(Frame(i, i / 10, time.time(), f)) for i, f in enumerate(frames)]
    assert outcomes == ["sent", "sent", "backpressure", "backpressure", "backpressure"]
    assert metric(FRAMES_DROPPED, str(camera.pk), "backpressure") - dropped_before == 3
    sent = dispatch.calls[0]
    assert set(sent) == {"camera_id", "seq", "frame_key", "reply_key", "confidence", "classes", "size"}
    assert sent["size"] == [800, 600]
    stored = get_redis().get(sent["frame_key"])
    # The pixels, shrunk to the model's 640x480, are in the frame store, not in the task.
    assert stored is not None and stored[:6] == b"TSRAW1" and len(stored) == 10 + 640 * 480 * 3
    assert get_redis().pttl(sent["frame_key"]) > 0


def test_results_are_handled_in_frame_order_and_a_lost_one_is_skipped() -> None:
    camera = make_camera(detect_fps=10, motion_gate=False)
    handled: list[int] = []

    class Rules:
        def process(self, frame):
            handled.append(frame.seq)
            return []

    worker = CameraLoop(camera, session="order", reader=reader_for(camera), dispatch=Dispatched(), rules=Rules(),
                          capture=CaptureSettings(max_in_flight=10, result_timeout_s=0.5, motion_keepalive_s=1,
                                                  stall_timeout_s=5))  # fmt: skip
    frames = clip_frames(4)
    for i, f in enumerate(frames):
        worker.submit(Frame(i, i / 10, time.time(), f))
    box = {"cls": "car", "conf": 0.9, "xyxy": [0.1, 0.5, 0.2, 0.6]}
    for seq in (3, 2, 0):  # frame 1's result never comes
        framestore.push_result(worker.reply_key, {"seq": seq, "boxes": [box], "size": [800, 600]})
    worker.collect()
    assert handled == [0]  # 2 and 3 wait for 1
    time.sleep(0.6)
    worker.collect()
    assert handled == [0, 2, 3]
    assert worker.counts["lost"] == 1 and not worker.in_flight
    stats = json.loads(get_redis().get(stats_key(camera.pk)))
    assert stats["tracks"] == 1 and stats["counts"] == {"car": 1}
    assert get_redis().get(snapshot_key(camera.pk))[:2] == b"\xff\xd8"


def test_an_error_result_is_counted_and_the_camera_carries_on() -> None:
    camera = make_camera(detect_fps=10, motion_gate=False)
    worker = CameraLoop(camera, session="err", reader=reader_for(camera), dispatch=Dispatched())
    frames = clip_frames(2)
    for i, f in enumerate(frames):
        worker.submit(Frame(i, i / 10, time.time(), f))
    framestore.push_result(worker.reply_key, {"seq": 0, "error": "the frame is not a decodable image"})
    framestore.push_result(worker.reply_key, {"seq": 1, "boxes": [], "size": [800, 600]})
    assert worker.collect() == 2
    assert worker.counts["frame_error"] == 1 and worker.counts["detected"] == 1


def test_traffic_groups_join_road_users_close_enough_to_interact() -> None:
    tracker = CameraTracker(fps=10)
    car = Box("car", 0.9, (0.40, 0.50, 0.50, 0.60))
    cyclist = Box("bicycle", 0.8, (0.51, 0.52, 0.54, 0.61))
    far_car = Box("car", 0.9, (0.05, 0.10, 0.10, 0.15))
    tracks = []
    for i in range(3):
        tracks = tracker.update(i / 10, [car, cyclist, far_car])
    assert len(tracks) == 3
    [group] = traffic_groups(tracks, None)
    assert sorted(group.classes) == ["bicycle", "car"] and group.mixed
    assert group.box == pytest.approx((0.40, 0.50, 0.54, 0.61), abs=0.02)
    # With a calibration the gap is measured in metres on the road: 1 image unit = 50 m here, so the
    # ground points (0.45, 0.60) and (0.525, 0.61) are 3.8 m apart.
    scale = fit_homography([[0, 0], [1, 0], [1, 1], [0, 1]], [[0, 0], [50, 0], [50, 50], [0, 50]])
    assert traffic_groups(tracks, scale, max_gap_m=4.0)[0].track_ids == group.track_ids
    assert traffic_groups(tracks, scale, max_gap_m=1.0) == []


def test_the_camera_loop_remembers_each_detected_frame_as_a_small_jpeg_for_the_strip() -> None:
    """Frames travel raw and the keyframe is encoded only when a rule fires, so the history must make
    its own JPEG: a strip of empty frames would silently fall back to one still for the LLM."""
    from detection.capture.strip import STRIP_SIDE, FrameHistory

    camera = make_camera(detect_fps=10, motion_gate=False)
    history = FrameHistory()
    worker = CameraLoop(camera, session="strip", reader=reader_for(camera), dispatch=Dispatched(), history=history,
                        capture=CaptureSettings(max_in_flight=10, result_timeout_s=5, motion_keepalive_s=1,
                                                stall_timeout_s=5, frame_format="raw"))  # fmt: skip
    for i, f in enumerate(clip_frames(3)):
        worker.submit(Frame(i, i / 10, time.time(), f))
    box = {"cls": "car", "conf": 0.9, "xyxy": [0.1, 0.5, 0.2, 0.6]}
    for seq in range(3):
        framestore.push_result(worker.reply_key, {"seq": seq, "boxes": [box], "size": [800, 600]})
    worker.collect()
    assert [f.seq for f in history.frames] == [0, 1, 2]
    for past in history.frames:
        image = cv2.imdecode(np.frombuffer(past.jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and max(image.shape[:2]) == STRIP_SIDE
        assert past.boxes[0]["cls"] == "car"


def test_a_loop_with_no_frame_in_flight_does_not_ask_redis_for_results(monkeypatch: pytest.MonkeyPatch) -> None:
    camera = make_camera(detect_fps=10, motion_gate=False)
    worker = CameraLoop(camera, session="quiet", reader=reader_for(camera), dispatch=Dispatched(),
                        capture=CaptureSettings(max_in_flight=2, result_timeout_s=5, motion_keepalive_s=1,
                                                stall_timeout_s=5))  # fmt: skip
    asked: list[str] = []
    real_pop = framestore.pop_results
    monkeypatch.setattr(framestore, "pop_results", lambda key, *a, **kw: asked.append(key) or real_pop(key, *a, **kw))
    assert worker.collect() == 0 and asked == []  # an idle loop turns 50 times a second: no round trip each
    worker.submit(Frame(0, 0.0, time.time(), clip_frames(1)[0]))
    framestore.push_result(worker.reply_key, {"seq": 0, "boxes": [], "size": [800, 600]})
    assert worker.collect() == 1 and asked == [worker.reply_key]
    assert worker.collect() == 0 and asked == [worker.reply_key]


def test_an_idle_loop_waits_for_frames_without_asking_redis_for_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """Results only come for frames in flight: polling Redis 50 times a second while none is cost an
    idle camera more CPU than decoding its stream."""
    camera = make_camera(detect_fps=10, motion_gate=False)
    worker = CameraLoop(camera, session="idle", reader=reader_for(camera), dispatch=Dispatched())
    polls: list[float] = []
    real_pop = framestore.pop_results
    monkeypatch.setattr(framestore, "pop_results", lambda *a, **k: polls.append(1) or real_pop(*a, **k))
    started = time.monotonic()
    for _ in range(3):
        worker.step(idle_wait_s=0.1)
    assert polls == [] and time.monotonic() - started >= 0.3  # it waited on the frame queue instead
    worker.submit(Frame(0, 0.0, time.time(), clip_frames(1)[0]))
    framestore.push_result(worker.reply_key, {"seq": 0, "boxes": [], "size": [800, 600]})
    worker.step()
    assert polls and worker.counts["detected"] == 1 and not worker.in_flight


def test_the_reader_decodes_with_the_configured_number_of_threads() -> None:
    from detection.grab import open_stream

    camera = make_camera(detect_fps=10)
    for threads in (1, 3):
        cap, _ = open_stream(parse_source(camera.source_url), timeout_s=5, threads=threads)
        try:
            assert cap.get(cv2.CAP_PROP_N_THREADS) == threads
        finally:
            cap.release()
    assert ReaderConfig(fps=5).decode_threads == 1  # the cheapest per frame: the default


def test_a_camera_with_a_far_field_sends_its_frames_whole_and_the_tile_with_them() -> None:
    from detection.farfield import Tile
    from detection.scenarios.camera_model import CameraGeometry

    rig = CameraGeometry("far", 800, 600, 20.0, mount_m=6.0, tilt_deg=4.0, yaw_deg=3.0, hfov_deg=60.0, x_m=-2.0)
    corners = rig.ground_to_image([[0.0, 5.0], [8.0, 5.0], [8.0, 150.0], [0.0, 150.0]])
    road = {"name": "road", "kind": "lane", "polygon": np.clip(corners, 0, 1).tolist()}
    camera = make_camera(detect_fps=10, motion_gate=False, calibration=rig.calibration(), zones=[road])
    dispatch = Dispatched()
    worker = CameraLoop(camera, session="far", reader=reader_for(camera), dispatch=dispatch)
    assert worker.submit(Frame(0, 0.0, time.time(), clip_frames(1)[0])) == "sent"
    sent = dispatch.calls[0]
    tile = Tile.from_list(sent["tile"])
    assert tile == worker.far_field.tile((800, 600)) and tile.y2 < 0.9
    stored = get_redis().get(sent["frame_key"])
    # The worker crops the far road out of the frame at its full resolution.
    assert stored is not None and len(stored) == 10 + 800 * 600 * 3
