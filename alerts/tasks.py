"""Tasks of the alerts queue: thin wrappers over plain functions."""

from __future__ import annotations

from typing import Any

from django.db import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from alerts import record
from core.taskbase import task


@task(
    "alerts.record_alert",
    queue="alerts",
    acks_late=True,  # idempotent per event key: a redelivered task finds the row and stops
    reject_on_worker_lost=True,
    autoretry_for=(ConnectionError, TimeoutError, RedisConnectionError, OperationalError),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=30,
    time_limit=45,
)
def record_alert(
    payload: dict[str, Any],
    verdict: dict[str, Any] | None = None,
    analysis_id: int | None = None,
    note: str | None = None,
) -> int:
    alert, _ = record.record_alert(payload, verdict, analysis_id, note)
    return alert.pk
