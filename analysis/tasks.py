"""Tasks of the llm queue: thin wrappers over ``analysis.analyze``."""

from __future__ import annotations

from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from analysis import analyze, metrics
from analysis.client import CallFailed
from cameras.payload import EventPayload
from core import topology
from core.taskbase import task


@task(
    topology.ANALYZE_EVENT,
    bind=True,
    # Idempotent per event (one analysis row, one alert): a call lost with its worker is redelivered.
    acks_late=True,
    reject_on_worker_lost=True,
    # Our own retries are bounded in analyze.retry_countdown (errors) and by the event's deadline
    # (waits); Celery must not stop them early. Infrastructure errors retry a few times on their own.
    max_retries=None,
    autoretry_for=(RedisConnectionError, OperationalError),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    retry_kwargs={"max_retries": 5},
)
def analyze_event(self: Any, payload: EventPayload) -> dict[str, Any]:
    try:
        result = analyze.analyze_event(payload, task_id=self.request.id)
    except SoftTimeLimitExceeded as exc:
        later = analyze.RetryLater(exc, counted=True)
        raise self.retry(exc=exc, countdown=_countdown(self, later)) from None
    except analyze.RetryLater as later:
        raise self.retry(exc=later.cause, countdown=_countdown(self, later)) from None
    except (analyze.MalformedVerdict, CallFailed):
        metrics.TASKS_PROCESSED.labels("failed").inc()
        raise  # permanent: the task base records a failed job an operator can replay
    metrics.TASKS_PROCESSED.labels(result.outcome).inc()
    return {"outcome": result.outcome, "analysis_id": result.analysis_id}


def _countdown(task: Any, later: analyze.RetryLater) -> float:
    try:
        countdown = analyze.retry_countdown(later, task.request.id)
    except BaseException:
        metrics.TASKS_PROCESSED.labels("failed").inc()
        raise
    metrics.TASKS_PROCESSED.labels("retried").inc()
    return countdown
