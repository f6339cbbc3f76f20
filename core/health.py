"""Is every queue consumed? Sends ``core.ping`` to each queue and waits for the answers."""

from __future__ import annotations

import time
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeoutError

from core.tasks import ping

QUEUES = ("detect", "llm", "alerts", "maintenance")


def ping_queues(queues: tuple[str, ...] = QUEUES, timeout_s: float = 10.0) -> dict[str, dict[str, Any]]:
    """One ping per queue, sent at once; each entry is the worker's answer or an error."""
    started = time.monotonic()
    pending = {queue: ping.apply_async(queue=queue, expires=timeout_s) for queue in queues}
    answers: dict[str, dict[str, Any]] = {}
    for queue, result in pending.items():
        remaining = max(0.1, timeout_s - (time.monotonic() - started))
        try:
            answers[queue] = {"ok": True, **result.get(timeout=remaining)}
        except CeleryTimeoutError:
            answers[queue] = {"ok": False, "error": f"no worker answered on queue {queue!r} within {timeout_s:.0f} s"}
        finally:
            result.forget()
    return answers
