"""Which notifications an alert sends, and the message they carry (webhooks and MQTT alike).

Alerts the LLM judged harmless are shown on the dashboard but sent nowhere (a pager that rings for
them would be muted by the people it is meant to wake), except when the rule itself rated the event
at least NOTIFY_REJECTED_MIN_SEVERITY: a picture can carry text that talks the model into "harmless"
(visual prompt injection), so for those the rule decides, and the message says the model disagreed.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from django.conf import settings
from django.utils import timezone

from alerts.models import Alert, WebhookDestination

logger = logging.getLogger(__name__)

ALERT_CREATED = "alert.created"


class TransportError(Exception):
    """A notification that could not be delivered (a webhook POST, an MQTT publish).

    ``permanent``: retrying the same request cannot help (the receiver refused it, the broker refused
    our credentials); the task gives up and leaves a failed job to replay once it is fixed.
    ``retry_after``: seconds the receiver asked us to wait (HTTP ``Retry-After``), if it said.
    """

    # Defaults, so that Celery can rebuild the exception from its message alone (a FailedJob's error).
    def __init__(self, message: str, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


def routing_severity(alert: Alert) -> int | None:
    """The severity notifications are routed by, or None when the alert is sent nowhere."""
    if alert.verification != Alert.Verification.REJECTED:
        return int(alert.severity)
    rule = int(alert.rule_severity or 0)
    return rule if rule >= settings.NOTIFY_REJECTED_MIN_SEVERITY else None


def notifiable(alert: Alert) -> bool:
    return routing_severity(alert) is not None


def webhook_destinations(alert: Alert) -> list[WebhookDestination]:
    severity = routing_severity(alert)
    if severity is None:
        return []
    routed = copy.copy(alert)
    routed.severity = severity
    candidates = WebhookDestination.objects.filter(enabled=True, min_severity__lte=severity)
    return [d for d in candidates.prefetch_related("cameras") if d.wants(routed)]


def wants_mqtt(alert: Alert) -> bool:
    severity = routing_severity(alert)
    return bool(settings.MQTT_URL) and severity is not None and severity >= settings.MQTT_MIN_SEVERITY


def enqueue(alert: Alert) -> int:
    """Queue one delivery task per webhook destination, and the MQTT publish; returns how many."""
    from alerts.tasks import deliver_webhook, publish_mqtt

    sent = 0
    for destination in webhook_destinations(alert):
        deliver_webhook.delay(alert.pk, destination.pk)
        sent += 1
    if wants_mqtt(alert):
        publish_mqtt.delay(alert.pk)
        sent += 1
    if sent:
        logger.info("alert #%s: %d notification(s) queued", alert.pk, sent)
    return sent


def message(event: str, alert: Alert) -> dict[str, Any]:
    """The JSON body of a webhook and of an MQTT message: the event, when, and the alert."""
    from alerts.live import alert_data

    (data,) = alert_data([alert])
    for field in ("keyframe_url", "crop_url", "clip_url"):
        # With an object store these are signed URLs: anyone holding one sees the evidence until it
        # expires, without a login. Receivers (and whoever reads the MQTT topic) get none; they follow
        # dashboard_url and log in.
        if data.get(field) and not str(data[field]).startswith("/"):
            data[field] = None
    if settings.SITE_URL:
        # Links a receiver can follow (evidence still needs a staff login).
        for field in ("keyframe_url", "crop_url", "clip_url", "dashboard_url"):
            if data.get(field):
                data[field] = settings.SITE_URL + data[field]
    if alert.verification == Alert.Verification.REJECTED:
        data["llm_disagrees"] = (
            f"The model judged this harmless; sent because the rule rated it {alert.get_rule_severity_display()}."
        )
    return {"event": event, "sent_at": timezone.now().isoformat(), "alert": data}
