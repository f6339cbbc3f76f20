"""Celery configuration (loaded by ``trafficsite.celery``).

Queues and their contracts:

- ``detect``: YOLO on one frame. Not acks-late: a frame that was lost with its worker is stale
  by the time it would be redelivered; the camera process counts it as dropped instead.
- ``llm``: DashScope verification of a candidate event. Slow (seconds), idempotent per event, so
  acks-late with reject-on-worker-lost: a killed worker's call is redelivered, not lost.
- ``alerts``: persisting and fanning out alerts. Idempotent per event key, acks-late as well.
- ``maintenance``: periodic housekeeping from beat and the health ping.

Per-task settings (time limits, acks-late, retries) sit on the task decorators in each app;
the values here are the defaults and the broker-wide guarantees they rely on.
"""

from __future__ import annotations

from django.conf import settings
from kombu import Exchange, Queue

# Longest task (LLM hard limit 120 s) plus the longest retry countdown (300 s), with margin.
# With Redis an unacknowledged message is redelivered after this long, and tasks held for a
# retry countdown are unacknowledged too, so it must exceed both together.
LONGEST_TASK_S = 120
LONGEST_RETRY_BACKOFF_S = 300
VISIBILITY_TIMEOUT_S = 3600
assert VISIBILITY_TIMEOUT_S > 2 * (LONGEST_TASK_S + LONGEST_RETRY_BACKOFF_S)

QUEUES = ("detect", "llm", "alerts", "maintenance")

broker_url = settings.CELERY_BROKER_URL
result_backend = settings.CELERY_BROKER_URL
broker_transport_options = {
    "visibility_timeout": VISIBILITY_TIMEOUT_S,
    "global_keyprefix": "trafficsite:celery:",
    # Lower numbers are served first inside one queue (kombu emulates priorities on Redis).
    "queue_order_strategy": "priority",
}
result_backend_transport_options = {"global_keyprefix": "trafficsite:celery:"}
broker_connection_retry_on_startup = True
worker_cancel_long_running_tasks_on_connection_loss = True

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]
result_expires = 3600
timezone = "UTC"
enable_utc = True

_exchange = Exchange("trafficsite", type="direct")
task_queues = [Queue(name, _exchange, routing_key=name) for name in QUEUES]
task_default_queue = "maintenance"
task_default_exchange = "trafficsite"
task_default_routing_key = "maintenance"
# Tasks are named "<app>.<verb>"; the app decides the queue unless the decorator says otherwise.
task_routes = {
    "detection.*": {"queue": "detect", "routing_key": "detect"},
    "analysis.*": {"queue": "llm", "routing_key": "llm"},
    "alerts.*": {"queue": "alerts", "routing_key": "alerts"},
    "core.*": {"queue": "maintenance", "routing_key": "maintenance"},
}

# Defaults are the safe side; idempotent tasks opt in to acks_late on their decorator.
task_acks_late = False
task_reject_on_worker_lost = False
task_soft_time_limit = 50
task_time_limit = 60
task_track_started = True
task_send_sent_event = True
worker_send_task_events = True
# Long tasks must not sit reserved behind a busy child while another worker is idle.
worker_prefetch_multiplier = 1
worker_max_tasks_per_child = 1000
worker_hijack_root_logger = False
