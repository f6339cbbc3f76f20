"""The shape of the task system, stated once: queues, Redis key prefixes, routes and time limits.

Free of Django and Celery imports, so everything can read it: settings, the Celery configuration,
the task decorator, whoever sends a task by name, the launcher (before any settings exist), and the
compose validation. A pipeline stage reaches the next one only through a :class:`Route` from here.
"""

from __future__ import annotations

from dataclasses import dataclass

# Every Redis key of ours starts with this, so one Redis can serve several installations.
REDIS_KEY_PREFIX = "trafficsite:"
# The Celery broker's keys (kombu's global_keyprefix), inside ours.
BROKER_KEY_PREFIX = REDIS_KEY_PREFIX + "celery:"

DETECT = "detect"  # YOLO on one frame; latency-bound, never acks-late (a lost frame is stale)
LLM = "llm"  # DashScope verification of a candidate event; seconds, idempotent per event
ALERTS = "alerts"  # persisting and fanning out alerts; idempotent per event key
MAINTENANCE = "maintenance"  # beat's periodic work and health pings
QUEUES: tuple[str, ...] = (DETECT, LLM, ALERTS, MAINTENANCE)


@dataclass(frozen=True)
class Route:
    """A task's name, queue and time limits: the decorator registers it, senders address it."""

    name: str
    queue: str
    soft_time_limit: float
    time_limit: float
    # Seconds after which a waiting message is dropped instead of run (None: never).
    expires: float | None = None
    # Celery's task events (sent, received, started, succeeded: what Flower lists). Off where tasks
    # come at frame rate: Flower cannot show tens a second usefully, and the events cost the worker
    # and the sender CPU on every task; the task metrics (core/task_metrics.py) still count them.
    events: bool = True


DETECT_FRAME = Route("detection.detect_frame", DETECT, soft_time_limit=20, time_limit=30, expires=30, events=False)
# Several frames of one camera (at most CAPTURE_MAX_IN_FLIGHT, 64) in one task; same queue and expiry.
DETECT_FRAMES = Route("detection.detect_frames", DETECT, soft_time_limit=50, time_limit=60, expires=30, events=False)
ANALYZE_EVENT = Route("analysis.analyze_event", LLM, soft_time_limit=100, time_limit=120)
RECORD_ALERT = Route("alerts.record_alert", ALERTS, soft_time_limit=30, time_limit=45)
# Cuts an alert's clip from its camera's rolling cache once the post-roll has passed; it waits (retries)
# for the segment that covers the clip's end, so its hard limit covers one ffmpeg remux, not the wait.
CUT_CLIP = Route("alerts.cut_clip", ALERTS, soft_time_limit=60, time_limit=75)
PUSH_CAMERA_STATUS = Route("alerts.push_camera_status", ALERTS, soft_time_limit=10, time_limit=15, expires=60)
# Their limits follow WEBHOOK_TIMEOUT_S / MQTT_TIMEOUT_S (settings, at most 60 s); these are the most
# those settings can make them.
DELIVER_WEBHOOK = Route("alerts.deliver_webhook", ALERTS, soft_time_limit=130, time_limit=140)
# The admin's "send a test event": the web request only queues it (one attempt, never retried).
TEST_WEBHOOK = Route("alerts.test_webhook", ALERTS, soft_time_limit=70, time_limit=80, expires=120)
PUBLISH_MQTT = Route("alerts.publish_mqtt", ALERTS, soft_time_limit=190, time_limit=200)
PURGE_EXPIRED = Route("alerts.purge_expired", MAINTENANCE, soft_time_limit=100, time_limit=120)
PING = Route("core.ping", MAINTENANCE, soft_time_limit=10, time_limit=15, expires=30)
COLLECT_GAUGES = Route("core.collect_gauges", MAINTENANCE, soft_time_limit=20, time_limit=30)
ROUTES: tuple[Route, ...] = (DETECT_FRAME, DETECT_FRAMES, ANALYZE_EVENT, RECORD_ALERT, PUSH_CAMERA_STATUS,
                             DELIVER_WEBHOOK, TEST_WEBHOOK, PUBLISH_MQTT, PURGE_EXPIRED, PING, COLLECT_GAUGES,
                             CUT_CLIP)  # fmt: skip

# Defaults for a task that states no limits of its own.
DEFAULT_SOFT_TIME_LIMIT_S = 50
DEFAULT_TIME_LIMIT_S = 60
# Longest hard limit of any task, and the longest countdown of a retry (the LLM step's back-off cap).
LONGEST_TASK_S = max(route.time_limit for route in ROUTES)
# Tasks whose sender publishes no task-sent event (trafficsite/celery.py; their workers none either).
QUIET_TASKS = frozenset(route.name for route in ROUTES if not route.events)
LONGEST_RETRY_BACKOFF_S = 300
# With Redis an unacknowledged (acks-late) message is redelivered after this long, and a task held
# for a retry countdown is unacknowledged too: it must exceed both together, with margin.
VISIBILITY_TIMEOUT_S = 3600
assert VISIBILITY_TIMEOUT_S > 2 * (LONGEST_TASK_S + LONGEST_RETRY_BACKOFF_S)
