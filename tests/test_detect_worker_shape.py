"""The detect worker as deployed (core/processes.py): one process whose threads share one model."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from cameras.config import ROAD_USER_CLASSES
from core.processes import DETECT_ENV, detect_worker_argv
from detection import framecodec, framestore
from detection.assets import CLIP_CARS_CYCLIST, verify
from detection.detector import detect
from detection.tasks import detect_frame as detect_frame_task
from tests.workers import WorkerProcess

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
QUEUE = f"detect-shape-{os.getpid()}"  # its own queue: the session's shared worker also serves detect


@pytest.fixture(scope="module")
def deployed_worker(test_database_url: str) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(queues=QUEUE, name="shape", database_url=test_database_url, extra_env=dict(DETECT_ENV))
    argv = detect_worker_argv("shape", 2, "--without-gossip", "--without-mingle")
    argv[argv.index("-Q") + 1] = QUEUE
    worker.argv = argv
    worker.start()
    try:
        worker.wait_ready((QUEUE,))
        yield worker
    finally:
        worker.stop()


def clip_frames(count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(verify(CLIP_CARS_CYCLIST)))
    frames: list[np.ndarray] = []
    while len(frames) < count and (read := cap.read())[0]:
        frames.append(read[1])
    cap.release()
    return frames


def test_the_worker_is_one_process_and_its_threads_detect_frames_as_the_detector_does(
    deployed_worker: WorkerProcess,
) -> None:
    assert deployed_worker.proc is not None
    pid = deployed_worker.proc.pid
    assert Path(f"/proc/{pid}/task/{pid}/children").read_text().split() == []  # no pool children
    frames = clip_frames(12)
    rkey = framestore.reply_key(21, "shape")
    for seq, image in enumerate(frames):
        fkey = framestore.frame_key(21, "shape", seq)
        payload = framecodec.encode(image, "raw")
        assert payload is not None
        framestore.put_frame(fkey, payload)
        kwargs = {"camera_id": 21, "seq": seq, "frame_key": fkey, "reply_key": rkey, "confidence": 0.4,
                  "classes": ROAD_USER_CLASSES, "size": [800, 600]}  # fmt: skip
        detect_frame_task.apply_async(kwargs=kwargs, queue=QUEUE)
    results: dict[int, dict] = {}
    deadline = time.monotonic() + 120
    while len(results) < len(frames) and time.monotonic() < deadline:
        results.update((r["seq"], r) for r in framestore.pop_results(rkey, block_s=0.5))
    assert sorted(results) == list(range(len(frames))), deployed_worker.log()
    found = 0
    for seq, image in enumerate(frames):
        # The same pixels as the worker got (the shrunk frame), detected here in this process.
        expected = detect(framecodec.shrink(image), confidence=0.4, classes=ROAD_USER_CLASSES).boxes
        got = results[seq]["boxes"]
        assert [b["cls"] for b in got] == [b.cls for b in expected], seq
        for box, ref in zip(got, expected, strict=True):
            assert np.allclose(box["xyxy"], ref.xyxy, atol=1e-4) and abs(box["conf"] - ref.conf) < 1e-3
        found += len(got)
    assert found >= len(frames)  # real boxes were compared, not empty lists
