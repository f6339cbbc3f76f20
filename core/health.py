"""Is every part of the system there? Queues with a worker, capture supervisors, queue lengths.

Used by ``manage.py ping_workers``, by ``/readyz`` (core/readiness.py) and by the periodic gauges
(core/gauges.py).
"""

from __future__ import annotations

import time
from typing import Any

import redis
from celery.exceptions import TaskRevokedError
from celery.exceptions import TimeoutError as CeleryTimeoutError

from core.redisclient import key
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


def queue_depths(client: redis.Redis, queues: tuple[str, ...] = QUEUES) -> dict[str, int]:
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
