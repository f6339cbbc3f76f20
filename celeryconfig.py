"""Celery configuration (loaded by ``trafficsite.celery``).

Queues and their contracts:

- ``detect``: YOLO on one frame. Not acks-late: a frame that was lost with its worker is stale
  by the time it would be redelivered; the camera process counts it as dropped instead.
- ``llm``: DashScope verification of a candidate event. Slow (seconds), idempotent per event, so
  acks-late with reject-on-worker-lost: a killed worker's call is redelivered, not lost.
- ``alerts``: persisting and fanning out alerts. Idempotent per event key, acks-late as well.
- ``maintenance``: periodic housekeeping from beat and the health ping.

Queue names, routes and time limits live in core/topology.py; per-task settings (acks-late,
retries) sit on the task decorators in each app; the values here are the defaults and the
broker-wide guarantees they rely on.

The broker is Redis unless CELERY_BROKER_URL names RabbitMQ (core/broker.py says why and how the
queues are declared there); results stay in Redis either way.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from kombu import Exchange, Queue

from core import broker
from core.topology import (
    BROKER_KEY_PREFIX,
    DEFAULT_SOFT_TIME_LIMIT_S,
    DEFAULT_TIME_LIMIT_S,
    MAINTENANCE,
    QUEUES,
    VISIBILITY_TIMEOUT_S,
)

broker_url = settings.CELERY_BROKER_URL
result_backend = settings.CELERY_RESULT_BACKEND
result_backend_transport_options = {"global_keyprefix": BROKER_KEY_PREFIX}
broker_transport_options: dict[str, Any]
task_queues: list[Queue]
if broker.is_amqp(broker_url):
    # RabbitMQ gives a dead consumer's unacknowledged messages back at once: no visibility timeout.
    broker_transport_options = {"confirm_publish": True}  # a publish returns once the broker has it
    broker_heartbeat = broker.HEARTBEAT_S
    task_queues = broker.amqp_queues(QUEUES)
    task_default_exchange_type = "topic"  # native delayed delivery needs it (core/broker.py)
    # Quorum queues have no global QoS: each worker's prefetch is per consumer (Celery detects it).
    worker_detect_quorum_queues = True
    broker_native_delayed_delivery_queue_type = "quorum"
else:
    broker_transport_options = {
        "visibility_timeout": VISIBILITY_TIMEOUT_S,
        "global_keyprefix": BROKER_KEY_PREFIX,
        # Lower numbers are served first inside one queue (kombu emulates priorities on Redis).
        "queue_order_strategy": "priority",
        # kombu's BRPOP waits 1 s; an explicit socket timeout well above it (redis-py's own default is
        # 5 s in version 8) lets a publish on a dead connection fail instead of hanging for ever.
        "socket_timeout": 30,
        "socket_connect_timeout": 5,
    }
    _exchange = Exchange(broker.EXCHANGE, type="direct")
    task_queues = [Queue(name, _exchange, routing_key=name) for name in QUEUES]
broker_connection_retry_on_startup = True
worker_cancel_long_running_tasks_on_connection_loss = True

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]
result_expires = 3600
timezone = "UTC"
enable_utc = True

task_default_queue = MAINTENANCE
task_default_exchange = broker.EXCHANGE
task_default_routing_key = MAINTENANCE
# No task_routes: each task's queue is stated once, on its route (core/topology.py), which its
# decorator and every sender use.

# Defaults are the safe side; idempotent tasks opt in to acks_late on their decorator.
task_acks_late = False
task_reject_on_worker_lost = False
task_soft_time_limit = DEFAULT_SOFT_TIME_LIMIT_S
task_time_limit = DEFAULT_TIME_LIMIT_S
task_track_started = True
task_send_sent_event = True
worker_send_task_events = True
# Long tasks must not sit reserved behind a busy child while another worker is idle.
worker_prefetch_multiplier = 1
worker_max_tasks_per_child = 1000
worker_hijack_root_logger = False
