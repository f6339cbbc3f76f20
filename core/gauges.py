"""Gauges of the system as a whole, set every GAUGES_INTERVAL_S by ``core.collect_gauges``.

Beat sends the task to the maintenance queue (core/schedule.py); it sets what no single process
knows: the length of every queue, the live capture supervisors and the cameras they hold against the
cameras enabled, the alerts awaiting review, and the time of the run itself (an old value means beat
or the maintenance worker is down).

Only the task imports this module. Unlabelled gauges write a zero value file in every process that
defines them (multiprocess mode), and a zero from the capture or the detect worker would look like a
real reading next to the maintenance worker's.
"""

from __future__ import annotations

import time
from typing import Any

from django.db.models import Count
from prometheus_client import Gauge

from core.health import QUEUES, live_supervisors, queue_depths
from core.redisclient import get_redis
from detection.metrics import QUEUE_DEPTH

# One maintenance worker child sets these; "mostrecent" keeps the latest write across children.
CAPTURE_SUPERVISORS = Gauge(
    "trafficsite_capture_supervisors", "Capture supervisors with a live heartbeat", multiprocess_mode="mostrecent"
)
CAPTURE_CAMERAS = Gauge(
    "trafficsite_capture_cameras", "Cameras held by a live capture supervisor", multiprocess_mode="mostrecent"
)
CAMERAS_ENABLED = Gauge(
    "trafficsite_cameras_enabled", "Cameras enabled in the database", multiprocess_mode="mostrecent"
)
ALERTS_OPEN = Gauge(
    "trafficsite_alerts_open", "Alerts not reviewed yet (status new)", ["severity"], multiprocess_mode="mostrecent"
)
GAUGES_COLLECTED = Gauge(
    "trafficsite_gauges_collected_timestamp_seconds",
    "Unix time of the last periodic collection of these gauges (beat + maintenance worker alive)",
    multiprocess_mode="mostrecent",
)


def collect() -> dict[str, Any]:
    """Set the periodic gauges; returns what it set (the task's result, handy in a shell)."""
    from alerts.models import Alert
    from detection.models import Camera

    client = get_redis()
    depths = queue_depths(client, QUEUES)
    for queue, depth in depths.items():
        QUEUE_DEPTH.labels(queue).set(depth)
    supervisors = live_supervisors(client)
    held = sorted({camera for cameras in supervisors.values() for camera in cameras})
    CAPTURE_SUPERVISORS.set(len(supervisors))
    CAPTURE_CAMERAS.set(len(held))
    enabled = Camera.objects.filter(enabled=True).count()
    CAMERAS_ENABLED.set(enabled)
    open_counts = dict(
        Alert.objects.filter(review_status=Alert.Review.NEW)
        .values_list("severity")
        .annotate(n=Count("id"))
        .values_list("severity", "n")
    )
    open_alerts = {str(s.label).lower(): int(open_counts.get(s.value, 0)) for s in Alert.Severity}
    for severity, count in open_alerts.items():
        ALERTS_OPEN.labels(severity).set(count)
    now = time.time()
    GAUGES_COLLECTED.set(now)
    return {
        "queue_depth": depths,
        "supervisors": len(supervisors),
        "cameras_held": len(held),
        "cameras_enabled": enabled,
        "alerts_open": open_alerts,
        "collected_at": now,
    }
