"""Gauges of the system as a whole, set every GAUGES_INTERVAL_S by ``core.collect_gauges``.

Beat sends the task to the maintenance queue (core/schedule.py); it sets what no single process
knows: the length of every queue, the live capture supervisors and the cameras they hold, the time
of the run itself (an old value means beat or the maintenance worker is down), and whatever the
apps above core register with ``core.collectors.register`` in their ``ready()`` (cameras enabled, open alerts),
so this base layer reads no app's tables.

Only the task imports this module. Unlabelled gauges write a zero value file in every process that
defines them (multiprocess mode), and a zero from the capture or the detect worker would look like a
real reading next to the maintenance worker's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.utils.module_loading import import_string
from prometheus_client import Gauge

from core.collectors import COLLECTORS
from core.health import live_supervisors, queue_depths, watched_queues
from core.redisclient import get_redis

# One maintenance worker child sets these; "mostrecent" keeps the latest write across children.
QUEUE_DEPTH = Gauge(
    "trafficsite_queue_depth", "Messages waiting in a Celery queue", ["queue"], multiprocess_mode="mostrecent"
)
CAPTURE_SUPERVISORS = Gauge(
    "trafficsite_capture_supervisors", "Capture supervisors with a live heartbeat", multiprocess_mode="mostrecent"
)
CAPTURE_CAMERAS = Gauge(
    "trafficsite_capture_cameras", "Cameras held by a live capture supervisor", multiprocess_mode="mostrecent"
)
GAUGES_COLLECTED = Gauge(
    "trafficsite_gauges_collected_timestamp_seconds",
    "Unix time of the last periodic collection of these gauges (beat + maintenance worker alive)",
    multiprocess_mode="mostrecent",
)


def collect() -> dict[str, Any]:
    """Set the periodic gauges; returns what it set (the task's result, handy in a shell)."""
    client = get_redis()
    depths = queue_depths(watched_queues())
    for queue, depth in depths.items():
        QUEUE_DEPTH.labels(queue).set(depth)
    supervisors = live_supervisors(client)
    held = sorted({camera for cameras in supervisors.values() for camera in cameras})
    CAPTURE_SUPERVISORS.set(len(supervisors))
    CAPTURE_CAMERAS.set(len(held))
    result: dict[str, Any] = {"queue_depth": depths, "supervisors": len(supervisors), "cameras_held": len(held)}
    for name, path in COLLECTORS.items():
        collector: Callable[[], Any] = import_string(path)
        result[name] = collector()
    now = time.time()
    GAUGES_COLLECTED.set(now)
    result["collected_at"] = now
    return result
