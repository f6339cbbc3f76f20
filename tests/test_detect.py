"""The detect task on a real worker with the real YOLOv8n weights; bad frames get a clear error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from detection import framestore
from detection.assets import bundled_image
from detection.detect_job import run_detect_job
from detection.tasks import detect_frame as detect_frame_task
from tests.workers import WorkerProcess

# django_db: the worker these tests share needs the test database set up (see conftest).
pytestmark = [pytest.mark.slow, pytest.mark.django_db]
ROAD_USERS = ["person", "bicycle", "car", "motorcycle", "bus", "truck"]


def wait_results(reply_key: str, count: int, timeout_s: float = 60) -> list[dict]:
    results: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while len(results) < count and time.monotonic() < deadline:
        results += framestore.pop_results(reply_key)
        time.sleep(0.05)
    assert len(results) == count, f"got {len(results)} of {count} results"
    return results


def test_the_worker_finds_the_bus_and_the_people_in_bus_jpg(celery_worker: WorkerProcess) -> None:
    jpeg = bundled_image().read_bytes()
    fkey, rkey = framestore.frame_key(1, "bus", 0), framestore.reply_key(1, "bus")
    framestore.put_frame(fkey, jpeg)
    detect_frame_task.delay(camera_id=1, seq=0, frame_key=fkey, reply_key=rkey, confidence=0.4, classes=ROAD_USERS)
    [result] = wait_results(rkey, 1)
    classes = sorted(box["cls"] for box in result["boxes"])
    assert classes.count("bus") == 1
    assert classes.count("person") >= 3
    assert result["size"] == [810, 1080]
    bus = next(box for box in result["boxes"] if box["cls"] == "bus")
    x1, y1, x2, y2 = bus["xyxy"]
    assert 0 <= x1 < 0.2 and x2 > 0.9 and 0.15 < y1 < 0.35 and 0.7 < y2 < 0.85  # the bus spans the frame
    assert framestore.take_frame(fkey) is None  # consumed: each frame is detected once


def test_classes_and_confidence_of_the_camera_are_honoured() -> None:
    fkey, rkey = framestore.frame_key(2, "cls", 0), framestore.reply_key(2, "cls")
    framestore.put_frame(fkey, bundled_image().read_bytes())
    result = run_detect_job(camera_id=2, seq=0, frame_key=fkey, reply_key=rkey, confidence=0.8, classes=["bus"])
    assert [box["cls"] for box in result["boxes"]] == ["bus"]
    assert all(box["conf"] >= 0.8 for box in result["boxes"])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "the frame is empty (0 bytes)"),
        (b"GIF89a\x00\x00garbage" * 10, "the frame is not a decodable image (150 bytes, starting 4749463839610000)"),
        (None, "the frame is no longer in the frame store"),
    ],
)
def test_an_empty_corrupt_or_expired_frame_gets_a_clear_error(
    celery_worker: WorkerProcess, payload: bytes | None, message: str
) -> None:
    fkey, rkey = framestore.frame_key(3, "bad", 0), framestore.reply_key(3, "bad")
    if payload is not None:
        framestore.put_frame(fkey, payload)
    detect_frame_task.delay(camera_id=3, seq=7, frame_key=fkey, reply_key=rkey, confidence=0.4, classes=ROAD_USERS)
    [result] = wait_results(rkey, 1)
    assert result["seq"] == 7
    assert result["error"].startswith(message)
    assert "boxes" not in result


def test_a_truncated_jpeg_is_refused_not_half_detected() -> None:
    jpeg = bundled_image().read_bytes()
    fkey, rkey = framestore.frame_key(4, "cut", 0), framestore.reply_key(4, "cut")
    framestore.put_frame(fkey, jpeg[: len(jpeg) // 2])
    result = run_detect_job(camera_id=4, seq=0, frame_key=fkey, reply_key=rkey, confidence=0.4, classes=ROAD_USERS)
    assert result["error"].startswith(f"the frame is not a decodable image ({len(jpeg) // 2} bytes, starting ffd8")


def test_counters_of_both_prefork_children_add_up_in_one_scrape(celery_worker: WorkerProcess) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    def bad_frames() -> float:
        for family in text_string_to_metric_families(celery_worker.metrics()):
            for sample in family.samples:
                if sample.name == "trafficsite_detect_frames_total" and sample.labels == {"outcome": "bad_frame"}:
                    return sample.value
        return 0.0

    before = bad_frames()
    rkey = framestore.reply_key(5, "many")
    for seq in range(12):
        fkey = framestore.frame_key(5, "many", seq)
        framestore.put_frame(fkey, b"not a jpeg")
        detect_frame_task.delay(camera_id=5, seq=seq, frame_key=fkey, reply_key=rkey, confidence=0.4, classes=["car"])
    wait_results(rkey, 12)
    assert bad_frames() - before == 12
    # Both pool children counted (one value file per process), and the scrape above summed them.
    writers = list(Path(celery_worker.env["PROMETHEUS_MULTIPROC_DIR"]).glob("counter_*.db"))
    assert len(writers) >= 2, writers


def test_a_frame_sent_by_the_camera_loop_asks_for_no_result_subscription(
    celery_worker: WorkerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    from detection.capture.camera import celery_dispatch
    from trafficsite.celery import app

    # Celery's Redis backend SUBSCRIBEs to a result channel for each task sent (on_task_call) unless
    # told the result is ignored: two Redis round trips per frame, for a result that never comes.
    subscribed: list[str] = []
    monkeypatch.setattr(app.backend, "on_task_call", lambda producer, task_id: subscribed.append(task_id))
    rkey = framestore.reply_key(6, "nosub")
    for seq in range(3):
        celery_dispatch({"camera_id": 6, "seq": seq, "frame_key": framestore.frame_key(6, "nosub", seq),
                         "reply_key": rkey, "confidence": 0.4, "classes": ["car"]})  # fmt: skip
    assert sorted(result["seq"] for result in wait_results(rkey, 3)) == [0, 1, 2]  # detected all the same
    assert subscribed == []


def test_detect_tasks_send_no_task_events_and_other_tasks_still_do(celery_worker: WorkerProcess) -> None:
    """Frame-rate tasks publish no Celery events (core/topology.py, Route.events): neither the camera's
    task-sent nor the worker's received/started/succeeded. Flower keeps seeing every other task."""
    import threading

    from core.health import ping_queues
    from detection.capture.camera import celery_dispatch
    from trafficsite.celery import app

    seen: list[dict] = []
    with app.connection_for_read() as connection:
        receiver = app.events.Receiver(connection, handlers={"*": seen.append})
        listening = threading.Thread(target=lambda: receiver.capture(limit=None, timeout=None, wakeup=False))
        listening.start()
        try:
            time.sleep(1.0)  # subscribed before anything is published (events are not kept)
            rkey = framestore.reply_key(7, "quiet")
            for seq in range(2):
                fkey = framestore.frame_key(7, "quiet", seq)
                framestore.put_frame(fkey, b"not a frame")
                celery_dispatch({"camera_id": 7, "seq": seq, "frame_key": fkey, "reply_key": rkey,
                                 "confidence": 0.4, "classes": ["car"], "size": [800, 600]})  # fmt: skip
            frames = [{"seq": seq, "frame_key": framestore.frame_key(7, "quiet", seq), "size": None} for seq in (2, 3)]
            for frame in frames:
                framestore.put_frame(frame["frame_key"], b"not a frame")
            celery_dispatch(
                {"camera_id": 7, "frames": frames, "reply_key": rkey, "confidence": 0.4, "classes": ["car"]}
            )
            assert sorted(result["seq"] for result in wait_results(rkey, 4)) == [0, 1, 2, 3]
            assert ping_queues(("detect",), timeout_s=30)["detect"]["ok"]
            time.sleep(1.0)
        finally:
            receiver.should_stop = True
            listening.join(10)
    names = {event.get("name") for event in seen if event["type"].startswith("task-")}
    task_events = {event["type"] for event in seen if event["type"].startswith("task-")}
    assert {"task-sent", "task-received", "task-succeeded"} <= task_events  # the ping's
    assert names & {"detection.detect_frame", "detection.detect_frames"} == set(), names
