"""Tasks of the alerts queue (and retention on maintenance): thin wrappers over plain functions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import OperationalError
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError

from alerts import clips, live, mqtt, record, retention, webhooks
from alerts.models import WebhookDestination
from alerts.notifications import TransportError
from cameras.payload import EventPayload
from core import backoff
from core.taskbase import task
from core.topology import (
    CUT_CLIP,
    DELIVER_WEBHOOK,
    PUBLISH_MQTT,
    PURGE_EXPIRED,
    PUSH_CAMERA_STATUS,
    RECORD_ALERT,
    TEST_WEBHOOK,
)


@task(
    RECORD_ALERT,
    acks_late=True,  # idempotent per event key: a redelivered task finds the row and stops
    reject_on_worker_lost=True,
    autoretry_for=(ConnectionError, TimeoutError, RedisConnectionError, OperationalError, BrokerError),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def record_alert(
    payload: EventPayload,
    verdict: dict[str, Any] | None = None,
    analysis_id: int | None = None,
    note: str | None = None,
) -> int:
    alert, _ = record.record_alert(payload, verdict, analysis_id, note)
    return alert.pk


@task(PUSH_CAMERA_STATUS)
def push_camera_status(camera_id: int) -> bool:
    """A camera's new status to open dashboards; not retried (the next heartbeat or reconnect has it)."""
    return live.push_camera_status(camera_id)


def backoff_s(retries: int, hint_s: float | None = None) -> float:
    """Seconds before the next try of a notification (``retries`` made so far): exponential with
    equal jitter (at least half the step); a receiver's Retry-After wins if longer, up to the cap."""
    cap = float(settings.NOTIFY_RETRY_BACKOFF_MAX_S)
    delay = backoff.exponential_s(retries + 1, base_s=float(settings.NOTIFY_RETRY_BACKOFF_S), cap_s=cap, jitter=0.5)
    return min(cap, max(delay, hint_s or 0.0))


@task(
    DELIVER_WEBHOOK,
    bind=True,
    acks_late=True,  # a delivery lost with its worker is sent again; receivers dedupe on the delivery id
    reject_on_worker_lost=True,
    max_retries=settings.NOTIFY_MAX_RETRIES,
    soft_time_limit=settings.WEBHOOK_TIMEOUT_S * 2 + 10,
    time_limit=settings.WEBHOOK_TIMEOUT_S * 2 + 20,
)
def deliver_webhook(self: Any, alert_id: int, destination_id: int) -> str:
    try:
        return webhooks.deliver(alert_id, destination_id)
    except TransportError as exc:
        if exc.permanent:
            raise  # a FailedJob, replayable once the receiver is fixed
        raise self.retry(exc=exc, countdown=backoff_s(self.request.retries, exc.retry_after)) from None


@task(TEST_WEBHOOK, soft_time_limit=settings.WEBHOOK_TIMEOUT_S + 5, time_limit=settings.WEBHOOK_TIMEOUT_S + 15)
def test_webhook(destination_id: int) -> str:
    """The admin's test event: one attempt; the outcome is recorded on the destination, not retried."""
    destination = WebhookDestination.objects.filter(pk=destination_id).first()
    if destination is None:
        return "destination gone"
    try:
        webhooks.send_test(destination)
    except TransportError as exc:
        return f"failed: {exc}"
    return "accepted"


@task(
    PUBLISH_MQTT,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=settings.NOTIFY_MAX_RETRIES,
    soft_time_limit=settings.MQTT_TIMEOUT_S * 3 + 10,
    time_limit=settings.MQTT_TIMEOUT_S * 3 + 20,
)
def publish_mqtt(self: Any, alert_id: int) -> str:
    try:
        return mqtt.publish_alert(alert_id)
    except TransportError as exc:
        if exc.permanent:
            raise  # e.g. the broker refused our credentials: a FailedJob to replay once fixed
        raise self.retry(exc=exc, countdown=backoff_s(self.request.retries, exc.retry_after)) from None


@task(PURGE_EXPIRED)
def purge_expired() -> dict[str, Any]:
    """Retention (beat, see core/schedule.py): each camera's old alerts and their images."""
    return retention.purge_expired(time_budget_s=60.0)


@task(
    CUT_CLIP,
    bind=True,
    acks_late=True,  # idempotent: the clip is stored by a conditional update on a pending alert
    reject_on_worker_lost=True,
    max_retries=120,  # waits for the segment that covers the clip's end, bounded by CLIP_WAIT_S
)
def cut_clip(self: Any, alert_id: int) -> str:
    try:
        return clips.cut_clip(alert_id)
    except clips.NotYet as wait:
        raise self.retry(countdown=wait.countdown) from None
