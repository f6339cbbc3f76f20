"""Shared pieces of the LLM tests: candidate events on a real picture, LLM workers, waiting."""

from __future__ import annotations

import socket
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import redis
from django.conf import settings

from cameras.payload import EventPayload
from detection.assets import bundled_image
from detection.capture import dispatch as candidates
from detection.events import CameraContext, CandidateEvent, FrameTracks
from detection.tracking import Track, TrackPoint
from tests.support.rtsp import free_port
from tests.workers import WorkerProcess

T = TypeVar("T")

KEY_A = "sk-test-alpha-0000000000000001"
KEY_B = "sk-test-bravo-0000000000000002"

# Road users in Ultralytics' bus.jpg (810 x 1080), normalized xyxy: three pedestrians and the bus.
PERSON_BOX = (0.059, 0.369, 0.302, 0.836)
BUS_BOX = (0.021, 0.214, 0.990, 0.711)
OTHER_PEOPLE = [(0.827, 0.352, 1.0, 0.811), (0.273, 0.376, 0.426, 0.794)]


def make_payload(camera_id: int, *, person: int = 7, bus: int = 8, event_type: str = "near_miss",
                 severity: int = 3) -> EventPayload:  # fmt: skip
    """A candidate event on bus.jpg with its evidence in Redis, as the camera process builds it."""
    now = time.time()
    people = [Track(person, "person", deque([TrackPoint(10.0, PERSON_BOX, 0.9)]))]
    people += [Track(900 + i, "person", deque([TrackPoint(10.0, box, 0.8)])) for i, box in enumerate(OTHER_PEOPLE)]
    vehicle = Track(bus, "bus", deque([TrackPoint(10.0, BUS_BOX, 0.9)]))
    context = CameraContext(camera_id, 50.0, [], {}, None)
    frame = FrameTracks(context, 100, 10.0, now, (810, 1080), [*people, vehicle], [])
    event = CandidateEvent(camera_id, event_type, (person, bus), started_at=9.6, triggered_at=10.0,
                           measurements={"ttc_s": 0.9, "distance_m": 2.1}, severity=severity)  # fmt: skip
    return candidates.build_payload(event, frame, bundled_image().read_bytes(), session=uuid.uuid4().hex)


def clear_llm_state() -> None:
    """Forget key states, budgets, caps and claims: each test starts with a fresh pool."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    names = list(client.scan_iter("trafficsite:llm:*", count=500))
    if names:
        client.delete(*names)


@contextmanager
def only_these_llm_consumers(*queues: str) -> Iterator[None]:
    """Other workers (the session's shared one) stop consuming ``llm`` (or ``queues``) while LLM
    workers run here.

    They have no DashScope settings; if they took an analyze task it would be judged without keys.
    Remote control reaches them through Redis; they consume the queues again afterwards.
    """
    from trafficsite.celery import app

    paused: dict[str, list[str]] = {}
    for queue in queues or ("llm",):
        replies = app.control.cancel_consumer(queue, reply=True, timeout=2) or []
        paused[queue] = [name for reply in replies for name in reply]
    try:
        yield
    finally:
        for queue, names in paused.items():
            if names:
                app.control.add_consumer(queue, destination=names, reply=True, timeout=2)


def wait_consuming(worker: WorkerProcess, queue: str = "llm", timeout_s: float = 90.0) -> None:
    """Until this very worker reports that it consumes ``queue`` (a ping could be answered by another)."""
    from trafficsite.celery import app

    node = f"{worker.name}@{socket.gethostname()}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.proc is not None and worker.proc.poll() is not None:
            raise RuntimeError(f"worker {worker.name} exited early:\n{worker.log()}")
        queues = (app.control.inspect([node], timeout=1).active_queues() or {}).get(node, [])
        if any(q["name"] == queue for q in queues):
            return
    raise RuntimeError(f"worker {worker.name} does not consume {queue} after {timeout_s} s:\n{worker.log()}")


def llm_worker(name: str, database_url: str, metrics_dir: Path, *, keys: list[str], base_url: str,
               concurrency: int = 2, **conf: str) -> WorkerProcess:  # fmt: skip
    """A real prefork worker on the llm and alerts queues, configured like a deployment would be."""
    env = {
        "DASHSCOPE_API_KEYS": ",".join(keys),
        "DASHSCOPE_BASE_URL": base_url,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "METRICS_PORT": str(free_port()),
        **conf,
    }
    return WorkerProcess(
        queues="llm,alerts",
        name=f"{name}-{uuid.uuid4().hex[:6]}",
        database_url=database_url,
        concurrency=concurrency,
        extra_env=env,
    )
