"""Alerts counted as they are recorded, by type, severity and LLM verdict, whichever process records
them (the alerts worker): a model signal, so the alerts code needs no metrics call.

The label values come from fixed lists (event types, severities, verifications); anything else is
counted as ``other``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from prometheus_client import Counter

from alerts.models import Alert
from cameras.config import EVENT_TYPES

ALERTS_RECORDED = Counter(
    "trafficsite_alerts_recorded",
    "Alerts recorded (committed), by event type, severity and verification",
    ["event_type", "severity", "verification"],
)


def severity_label(value: int) -> str:
    try:
        return str(Alert.Severity(value).label).lower()
    except ValueError:
        return "other"


def _count_alert(sender: Any, instance: Any, created: bool = False, **_: Any) -> None:
    if not created:
        return
    event_type = instance.event_type if instance.event_type in EVENT_TYPES else "other"
    verification = instance.verification if instance.verification in Alert.Verification.values else "other"
    labels = (event_type, severity_label(instance.severity), verification)
    # Counted when the row is committed: a rolled-back insert (a duplicate event) is no alert.
    transaction.on_commit(lambda: ALERTS_RECORDED.labels(*labels).inc())


def connect() -> None:
    post_save.connect(_count_alert, sender=Alert, dispatch_uid="trafficsite:count-alert")
