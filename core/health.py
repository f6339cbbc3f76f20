"""Is every part of the system there? Queues with a worker, capture supervisors, queue lengths.

Used by ``manage.py ping_workers``, by ``/readyz`` (core/readiness.py) and by the periodic gauges
(core/gauges.py).
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from celery.exceptions import TaskRevokedError
from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.conf import settings

from core import broker
from core.redisclient import get_redis, key
from core.tasks import ping
from core.topology import BROKER_KEY_PREFIX, QUEUES

# kombu's Redis transport keeps one list per priority step of a queue: "<queue>" for priority 0 and
# "<queue>\x06\x16<step>" for the others (kombu.transport.redis, Channel._q_for_pri).
_PRIORITY_STEPS = (0, 3, 6, 9)
_PRIORITY_SEP = "\x06\x16"


def ping_queues(queues: tuple[str, ...] = QUEUES, timeout_s: float = 10.0) -> dict[str, dict[str, Any]]:
    """One ping per queue, sent at once; each entry is the worker's answer or an error."""
    started = time.monotonic()
    pending = {queue: ping.apply_async(queue=queue, expires=timeout_s) for queue in queues}
    answers: dict[str, dict[str, Any]] = {}
    for queue, result in pending.items():
        remaining = max(0.1, timeout_s - (time.monotonic() - started))
        try:
            answers[queue] = {"ok": True, **result.get(timeout=remaining)}
        except (CeleryTimeoutError, TaskRevokedError):  # no answer, or it expired unread in a busy queue
            answers[queue] = {"ok": False, "error": f"no worker answered on queue {queue!r} within {timeout_s:g} s"}
        finally:
            result.forget()
    return answers


def queue_depths(queues: tuple[str, ...] = QUEUES) -> dict[str, int]:
    """Messages waiting in each queue of the broker in use (RabbitMQ or Redis); not those reserved."""
    url = settings.CELERY_BROKER_URL
    if broker.is_amqp(url):
        return broker.amqp_queue_depths(url, queues)
    if url == settings.CELERY_RESULT_BACKEND:  # the usual case: the broker is our own Redis
        return redis_queue_depths(get_redis(), queues)
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        return redis_queue_depths(client, queues)
    finally:
        client.close()


def watched_queues() -> tuple[str, ...]:
    """The queues whose depth is a gauge: every task queue, and on RabbitMQ the dead-letter queue."""
    return (*QUEUES, broker.DEAD_LETTER) if broker.is_amqp(settings.CELERY_BROKER_URL) else QUEUES


def redis_queue_depths(client: redis.Redis, queues: tuple[str, ...] = QUEUES) -> dict[str, int]:
    """Messages waiting in each queue, all priority steps together (what kombu's qsize counts)."""
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        for step in _PRIORITY_STEPS:
            pipe.llen(BROKER_KEY_PREFIX + queue + (f"{_PRIORITY_SEP}{step}" if step else ""))
    lengths = pipe.execute()
    per_queue = len(_PRIORITY_STEPS)
    return {queue: int(sum(lengths[i * per_queue : (i + 1) * per_queue])) for i, queue in enumerate(queues)}


def live_supervisors(client: redis.Redis) -> dict[str, list[int]]:
    """Capture supervisors whose heartbeat has not expired, with the camera ids each holds.

    Each supervisor rewrites ``trafficsite:supervisor:<owner>`` (camera ids, comma-separated) on
    every reconcile with a TTL of CAPTURE_LEASE_TTL_S (detection/capture/supervisor.py).
    """
    prefix = key("supervisor", "")
    names = [name.decode() if isinstance(name, bytes) else str(name) for name in client.scan_iter(f"{prefix}*", 100)]
    if not names:
        return {}
    values = client.mget(names)
    found: dict[str, list[int]] = {}
    for name, value in zip(names, values, strict=True):
        if value is None:  # expired between SCAN and MGET
            continue
        text = value.decode() if isinstance(value, bytes) else str(value)
        found[name.removeprefix(prefix)] = [int(part) for part in text.split(",") if part.strip().isdigit()]
    return found


# What each camera process says of itself (status, error), rewritten every CAPTURE_STATE_EVERY_S with
# a TTL of a few periods, and the enabled cameras as the supervisors see them in the database: /readyz
# compares the two, so a camera that should capture and does not (offline, crash-looping, degraded) is
# named there. Redis keys, so that this layer needs neither the cameras app nor the database.
CAPTURE_STATE_EVERY_S = 2.0
CAPTURE_STATE_TTL_S = 4 * CAPTURE_STATE_EVERY_S


def capture_state_key(camera_id: int) -> str:
    return key("capture", "state", camera_id)


def enabled_cameras_key() -> str:
    return key("capture", "enabled")


def publish_enabled_cameras(client: redis.Redis, cameras: dict[int, str], ttl_s: float) -> None:
    client.set(enabled_cameras_key(), json.dumps({str(k): v for k, v in cameras.items()}), px=int(ttl_s * 1000))


def publish_capture_state(client: redis.Redis, camera_id: int, status: str, error: str) -> None:
    state = json.dumps({"status": status, "error": error, "at": time.time()})
    client.set(capture_state_key(camera_id), state, px=int(CAPTURE_STATE_TTL_S * 1000))


def cameras_not_capturing(client: redis.Redis) -> list[str]:
    """One line per enabled camera whose process is not capturing, naming the camera and why."""
    raw = client.get(enabled_cameras_key())
    if raw is None:
        return []
    enabled: dict[str, str] = json.loads(raw)
    if not enabled:
        return []
    states = client.mget([capture_state_key(int(camera_id)) for camera_id in enabled])
    problems = []
    for (camera_id, name), value in zip(enabled.items(), states, strict=True):
        if value is None:
            problems.append(f"camera {camera_id} ({name}): no capture process is running")
            continue
        state = json.loads(value)
        if state.get("status") != "online":
            reason = f"{state.get('status')}: {state.get('error')}" if state.get("error") else str(state.get("status"))
            problems.append(f"camera {camera_id} ({name}): {reason}")
    return problems
