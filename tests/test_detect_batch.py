"""Several frames per detect task: the camera loop batches only while its worker is behind, and a batch
gives each frame its own result (order, bad frames) on a real worker through real Redis."""

from __future__ import annotations

import threading
import time
from typing import Any

import cv2
import numpy as np
import pytest

from cameras.sources import parse_source
from detection import framestore
from detection.assets import CLIP_CARS_TRUCK, asset_path, bundled_image
from detection.capture.camera import CameraLoop, CaptureSettings, celery_dispatch
from detection.capture.reader import Frame, FrameReader, ReaderConfig
from detection.detect_job import run_detect_batch, run_detect_job
from detection.events import CandidateEvent, FrameTracks
from detection.tasks import detect_frames as detect_frames_task
from tests.factories import make_camera
from tests.test_detect import ROAD_USERS, wait_results
from tests.workers import WorkerProcess

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def clip_frames(n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(asset_path(CLIP_CARS_TRUCK)))
    frames = [cap.read()[1] for _ in range(n)]
    cap.release()
    return frames


class Recorded:
    """The camera's dispatch, recording each task's kwargs before sending it for real."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, kwargs: dict[str, Any]) -> None:
        self.calls.append(kwargs)
        celery_dispatch(kwargs)


class Seqs:
    def __init__(self) -> None:
        self.seqs: list[int] = []

    def process(self, frame: FrameTracks) -> list[CandidateEvent]:
        self.seqs.append(frame.seq)
        return []


def test_a_batch_gives_each_frame_its_result_in_order_and_a_bad_frame_stops_nothing(
    celery_worker: WorkerProcess,
) -> None:
    jpeg = bundled_image().read_bytes()
    rkey = framestore.reply_key(20, "batch")
    frames = [{"seq": seq, "frame_key": framestore.frame_key(20, "batch", seq), "size": None} for seq in range(10, 14)]
    framestore.put_frame(frames[0]["frame_key"], jpeg)
    framestore.put_frame(frames[1]["frame_key"], b"GIF89a\x00\x00garbage" * 10)
    # frames[2] was never stored: expired before detection
    framestore.put_frame(frames[3]["frame_key"], jpeg)
    detect_frames_task.delay(camera_id=20, frames=frames, reply_key=rkey, confidence=0.4, classes=ROAD_USERS)
    results = wait_results(rkey, 4)
    assert [r["seq"] for r in results] == [10, 11, 12, 13]  # the order given
    good, garbage, expired, again = results
    assert garbage["error"].startswith("the frame is not a decodable image") and "boxes" not in garbage
    assert expired["error"].startswith("the frame is no longer in the frame store")
    assert sorted(b["cls"] for b in good["boxes"]).count("bus") == 1
    assert good["boxes"] == again["boxes"] and good["private"] == again["private"]
    assert good["size"] == [810, 1080]
    assert all(framestore.take_frame(f["frame_key"]) is None for f in frames)  # consumed, as one by one


def test_a_batch_gives_what_the_frames_give_one_by_one() -> None:
    images = clip_frames(3)
    rkey = framestore.reply_key(21, "same")
    keys = [framestore.frame_key(21, "same", seq) for seq in range(6)]
    for key, image in zip(keys, images * 2, strict=True):
        framestore.put_frame(key, cv2.imencode(".png", image)[1].tobytes())
    alone = [run_detect_job(camera_id=21, seq=seq, frame_key=keys[seq], reply_key=rkey, confidence=0.1,
                            classes=ROAD_USERS, size=[800, 600]) for seq in range(3)]  # fmt: skip
    batch = run_detect_batch(camera_id=21, frames=[{"seq": seq, "frame_key": keys[seq], "size": [800, 600]}
                                                   for seq in range(3, 6)],
                             reply_key=rkey, confidence=0.1, classes=ROAD_USERS)  # fmt: skip
    strip = ("seq", "task_ms", "inference_ms")
    assert [{k: v for k, v in r.items() if k not in strip} for r in alone] == [
        {k: v for k, v in r.items() if k not in strip} for r in batch
    ]
    assert sum(len(r["boxes"]) for r in batch) > 3
    assert [r["seq"] for r in framestore.pop_results(rkey)] == [0, 1, 2, 3, 4, 5]


def test_a_frames_far_field_tile_is_detected_with_it_and_a_malformed_one_only_ignored(caplog) -> None:
    from detection.farfield import Tile

    image = clip_frames(40)[-1]
    small = cv2.resize(image, (200, 150), interpolation=cv2.INTER_AREA)  # the street's cars at 10-20 px
    frame = np.full((720, 1280, 3), 110, np.uint8)
    frame[200:350, 600:800] = small
    rkey = framestore.reply_key(22, "tile")
    keys = [framestore.frame_key(22, "tile", seq) for seq in range(3)]
    for key in keys:
        framestore.put_frame(key, cv2.imencode(".png", frame)[1].tobytes())
    tile = Tile(500 / 1280, 150 / 720, 900 / 1280, 400 / 720, 352).as_list()
    whole, tiled, malformed = run_detect_batch(
        camera_id=22, reply_key=rkey, confidence=0.1, classes=ROAD_USERS,
        frames=[{"seq": 0, "frame_key": keys[0], "size": None},
                {"seq": 1, "frame_key": keys[1], "size": None, "tile": tile},
                {"seq": 2, "frame_key": keys[2], "size": None, "tile": [0.9, 0.1, 0.2, 0.5, 352]}],
    )  # fmt: skip
    assert len(tiled["boxes"]) > len(whole["boxes"])
    assert malformed["boxes"] == whole["boxes"] and "error" not in malformed
    assert "far-field tile ignored: not a far-field tile" in caplog.text


def test_frames_go_one_to_a_task_until_the_worker_is_behind_then_together(celery_worker: WorkerProcess) -> None:
    camera = make_camera(detect_fps=10, motion_gate=False)
    reader = FrameReader(parse_source(camera.source_url), ReaderConfig(fps=10), str(camera.pk))
    dispatch = Recorded()
    rules = Seqs()
    worker = CameraLoop(camera, session="nagle", reader=reader, dispatch=dispatch, rules=rules,
                        capture=CaptureSettings(max_in_flight=6, result_timeout_s=30, motion_keepalive_s=1,
                                                stall_timeout_s=5, max_tasks_in_flight=1))  # fmt: skip
    images = clip_frames(4)
    assert worker.submit(Frame(0, 0.0, time.time(), images[0])) == "sent"
    assert len(dispatch.calls) == 1 and "seq" in dispatch.calls[0]  # nothing unanswered: a task of its own
    # While that task is unanswered the next frames wait (stored, counted in flight) ...
    for seq in (1, 2, 3):
        assert worker.submit(Frame(seq, seq / 10, time.time(), images[seq])) == "sent"
    assert len(dispatch.calls) == 1 and worker.held == [1, 2, 3] and len(worker.in_flight) == 4
    # ... and go together in one task once it answers.
    deadline = time.monotonic() + 60
    while len(dispatch.calls) < 2 and time.monotonic() < deadline:
        worker.collect(block_s=0.1)
    assert [f["seq"] for f in dispatch.calls[1]["frames"]] == [1, 2, 3]
    assert all(f["size"] == [800, 600] for f in dispatch.calls[1]["frames"])
    while worker.in_flight and time.monotonic() < deadline:
        worker.collect(block_s=0.1)
    assert rules.seqs == [0, 1, 2, 3]
    assert worker.counts["detected"] == 4 and worker.counts["batched"] == 3
    assert not worker.open_tasks and not worker.held


def test_a_camera_loop_on_a_clip_detects_every_frame_in_order_with_batches(celery_worker: WorkerProcess) -> None:
    """The whole path as the benchmark drives it (the reader faster than the worker): frames wait and
    go several to a task, and every frame is detected once, in order, with no task left open."""
    camera = make_camera(source_url=str(asset_path(CLIP_CARS_TRUCK)), detect_fps=20, motion_gate=False)
    config = ReaderConfig(fps=20, realtime=False, loop_files=False, drop_when_busy=False)
    reader = FrameReader(parse_source(camera.source_url), config, str(camera.pk))
    dispatch = Recorded()
    rules = Seqs()
    worker = CameraLoop(camera, session="clip", reader=reader, dispatch=dispatch, rules=rules,
                        capture=CaptureSettings(max_in_flight=4, result_timeout_s=60, motion_keepalive_s=1,
                                                stall_timeout_s=30, wait_when_full=True,
                                                max_tasks_in_flight=1))  # fmt: skip
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    thread.join(240)
    stop.set()
    assert not thread.is_alive()
    assert rules.seqs == sorted(rules.seqs) and len(rules.seqs) == len(set(rules.seqs)) == worker.counts["sent"] > 40
    sent = [len(call.get("frames", [call])) for call in dispatch.calls]
    assert sum(sent) == len(rules.seqs) and max(sent) > 1, sent
    assert worker.counts["batched"] == sum(n for n in sent if n > 1)
    assert worker.counts["lost"] == 0 and not worker.open_tasks and not worker.held
