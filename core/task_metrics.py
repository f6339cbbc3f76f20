"""Metrics of every Celery task, from Celery's signals (no change to the tasks themselves).

Which process counts what, so that each number is counted exactly once:

- ``sent``: the process that publishes (web, capture, beat, a worker sending the next task).
- ``received``, ``revoked``, ``rejected``: the worker's main process (the consumer).
- ``succeeded``, ``failed``, ``retried``, the runtime and the wait in the queue: the pool child that
  ran the task.

Workers and the capture supervisor run in prometheus_client's multiprocess mode (core/metrics.py):
each process writes its own file and the worker's exporter adds the main process and all pool
children up in one scrape. Labels are the task's registered name (anything else is counted as
``other``, so a stray message cannot create series) and its queue (one of four).
"""

from __future__ import annotations

import re
import time
from typing import Any

from celery import current_app as celery_app
from prometheus_client import Counter, Gauge, Histogram

from core.topology import QUEUES

# Seconds: a detect task takes ~40 ms, an LLM call seconds, a retry back-off minutes.
RUNTIME_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
OUTCOMES = ("succeeded", "failed", "retried", "rejected", "revoked")
# Set by the publisher; the worker measures the time spent in the queue from it. Wall clocks of
# two hosts: keep them in NTP sync (a negative wait is counted as zero).
SENT_AT_HEADER = "trafficsite_sent_at"

TASKS_SENT = Counter("trafficsite_celery_tasks_sent", "Tasks published to the broker", ["task", "queue"])
TASKS_RECEIVED = Counter(
    "trafficsite_celery_tasks_received", "Tasks taken from the broker by a worker", ["task", "queue"]
)
TASKS_FINISHED = Counter(
    "trafficsite_celery_tasks_finished",
    "Task executions that ended, by outcome: succeeded, failed (for good or before a retry is "
    "refused), retried (a retry was scheduled), rejected, revoked (never ran)",
    ["task", "queue", "outcome"],
)
TASK_RUNTIME = Histogram(
    "trafficsite_celery_task_runtime_seconds", "Time a task ran in the worker, any outcome", ["task", "queue"],
    buckets=RUNTIME_BUCKETS,
)  # fmt: skip
TASK_WAIT = Histogram(
    "trafficsite_celery_task_wait_seconds", "Time from publishing a task to its start in a worker", ["task", "queue"],
    buckets=WAIT_BUCKETS,
)  # fmt: skip
TASKS_ACTIVE = Gauge(
    "trafficsite_celery_tasks_active", "Tasks running now in the pool children", ["task", "queue"],
    multiprocess_mode="livesum",
)  # fmt: skip

_TASK_NAME = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+){1,3}")
# Start times of the tasks running in this process, by task id.
_started: dict[str, float] = {}


def task_label(name: object) -> str:
    """The task's name, or ``other``: label values must stay a short, known list."""
    text = str(name)
    # A worker has finalized its app (the attribute is missing from celery-types): it counts only
    # registered names, so a stray message on the broker cannot add series.
    if getattr(celery_app, "finalized", False):
        return text if text in celery_app.tasks else "other"
    # A publisher (web, a camera process) sends names written in our code. Looking them up would
    # finalize the app, importing every tasks module into every camera process on its first frame.
    return text if _TASK_NAME.fullmatch(text) else "other"


def queue_label(queue: object) -> str:
    text = str(queue or "")
    return text if text in QUEUES else "other"


def _task_queue(task: Any) -> str:
    delivery = getattr(task.request, "delivery_info", None) or {}
    return queue_label(delivery.get("routing_key"))


def on_before_publish(sender: str | None = None, headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        headers[SENT_AT_HEADER] = time.time()


def on_after_publish(sender: str | None = None, routing_key: str | None = None, **_: Any) -> None:
    TASKS_SENT.labels(task_label(sender), queue_label(routing_key)).inc()


def on_received(request: Any = None, **_: Any) -> None:
    delivery = getattr(request, "delivery_info", None) or {}
    TASKS_RECEIVED.labels(task_label(request.name), queue_label(delivery.get("routing_key"))).inc()


def on_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task is None or task_id is None:
        return
    now = time.time()
    _started[task_id] = time.monotonic()
    name, queue = task_label(task.name), _task_queue(task)
    TASKS_ACTIVE.labels(name, queue).inc()
    sent_at = getattr(task.request, SENT_AT_HEADER, None)
    if isinstance(sent_at, int | float):
        TASK_WAIT.labels(name, queue).observe(max(0.0, now - sent_at))


def on_postrun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    started = _started.pop(task_id or "", None)
    if task is None or started is None:
        return
    name, queue = task_label(task.name), _task_queue(task)
    TASKS_ACTIVE.labels(name, queue).dec()
    TASK_RUNTIME.labels(name, queue).observe(time.monotonic() - started)


def on_success(sender: Any = None, **_: Any) -> None:
    if sender is not None:
        TASKS_FINISHED.labels(task_label(sender.name), _task_queue(sender), "succeeded").inc()


def on_failure(sender: Any = None, **_: Any) -> None:
    if sender is not None:
        TASKS_FINISHED.labels(task_label(sender.name), _task_queue(sender), "failed").inc()


def on_retry(sender: Any = None, **_: Any) -> None:
    if sender is not None:
        TASKS_FINISHED.labels(task_label(sender.name), _task_queue(sender), "retried").inc()


def on_rejected(message: Any = None, **_: Any) -> None:
    headers = getattr(message, "headers", None) or {}
    delivery = getattr(message, "delivery_info", None) or {}
    TASKS_FINISHED.labels(task_label(headers.get("task")), queue_label(delivery.get("routing_key")), "rejected").inc()


def on_revoked(request: Any = None, sender: Any = None, **_: Any) -> None:
    if request is None:
        return
    # The request is a Context that may lack the task's name (an expired message): the sender has it.
    name = getattr(sender, "name", None) or getattr(request, "name", None) or getattr(request, "task", None)
    delivery = getattr(request, "delivery_info", None) or {}
    TASKS_FINISHED.labels(task_label(name), queue_label(delivery.get("routing_key")), "revoked").inc()
