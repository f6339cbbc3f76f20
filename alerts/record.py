"""Persist a candidate event as an Alert, exactly once per event key.

Called by ``alerts.record_alert`` with the payload built in ``detection.capture.dispatch`` and, when the
LLM judged it, the id of its LLMAnalysis row and the verdict. Redelivery or a second call for the
same event finds the existing row and changes nothing. The call that creates the row announces it
after the commit (dashboards, webhooks, MQTT), once.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts import clips
from alerts.models import Alert
from cameras.payload import EventPayload, evidence_keys
from core.redisclient import get_redis

logger = logging.getLogger(__name__)

UNVERIFIED_NOTE = "Not verified: no LLM is configured (rules only)."


# How sure a rule alone is, until an LLM verdict says otherwise.
RULES_CONFIDENCE = 0.6


def record_alert(payload: EventPayload, verdict: dict[str, Any] | None = None,
                 analysis_id: int | None = None, note: str | None = None) -> tuple[Alert, bool]:  # fmt: skip
    """Returns the alert and whether this call created it.

    Without a verdict the alert is unverified and ``note`` says why (default: no LLM configured).
    """
    existing = Alert.objects.filter(idempotency_key=payload["event_key"]).first()
    if existing is not None:
        logger.info("alert for event %s exists already (#%s)", payload["event_key"][:12], existing.pk)
        if existing.notified_at is None:
            # An earlier attempt stored it but could not tell operators (Redis down): finish that now.
            announce(existing.pk)
        return existing, False
    alert = Alert(
        idempotency_key=payload["event_key"],
        camera_id=payload["camera_id"],
        event_type=payload["event_type"],
        risk_types=[payload["event_type"]],
        severity=payload.get("severity", Alert.Severity.MEDIUM),
        rule_severity=payload.get("severity", Alert.Severity.MEDIUM),
        confidence=RULES_CONFIDENCE,
        track_ids=payload.get("track_ids", []),
        event_started_at=datetime.fromisoformat(payload["started_at"]),
        detected_at=datetime.fromisoformat(payload["detected_at"]),
        measurements=payload.get("measurements", {}),
        track=payload.get("track", []),
    )
    if verdict is None:
        alert.verification = Alert.Verification.UNVERIFIED
        alert.description = note or UNVERIFIED_NOTE
    else:
        alert.verification = Alert.Verification.CONFIRMED if verdict.get("dangerous") else Alert.Verification.REJECTED
        alert.description = str(verdict.get("description", ""))
        alert.severity = int(verdict.get("severity", alert.severity))
        alert.confidence = float(verdict.get("confidence", alert.confidence))
        alert.risk_types = sorted({payload["event_type"], *verdict.get("risk_types", [])})
    clips.initial_state(alert)  # the clip follows when the camera's post-roll has passed
    # The analysis row says what the LLM step did, verdict or not (blocked, capped, keys out...).
    alert.analysis_id = analysis_id
    client = get_redis()
    for field, evidence_key in zip(("keyframe", "crop"), evidence_keys(payload), strict=True):
        data = client.get(evidence_key) if evidence_key else None
        if isinstance(data, bytes) and data:
            getattr(alert, field).save(f"{payload['event_key'][:16]}-{field}.jpg", ContentFile(data), save=False)
    try:
        with transaction.atomic():
            alert.save()
            # After the commit, and only for the call that created the row: one broadcast per event.
            transaction.on_commit(lambda: announce(alert.pk))
            transaction.on_commit(lambda: clips.schedule(alert))
    except Exception as exc:
        # The evidence files were saved before the insert: without a row they belong to nobody.
        for field in ("keyframe", "crop"):
            getattr(alert, field).delete(save=False)
        if not isinstance(exc, IntegrityError):
            raise
        # Only a row with this event key makes it a duplicate (another worker recorded the event
        # between our check and our insert); any other violation (an unknown camera, a value out of
        # range) is a real error and fails the task into a FailedJob.
        winner = Alert.objects.filter(idempotency_key=payload["event_key"]).first()
        if winner is None:
            raise
        return winner, False
    logger.info("alert #%s: %s on camera %s (%s)", alert.pk, alert.event_type, alert.camera_id, alert.verification)
    return alert, True


def announce(alert_id: int) -> bool:
    """Tell operators about a stored alert exactly once: dashboards, then webhooks and MQTT.

    ``notified_at`` is claimed with a conditional UPDATE, so concurrent or repeated calls for one
    alert announce it once. If the push fails the claim is released and the error propagates: the
    task is retried, and the retry finds the alert stored but not announced.
    """
    from alerts import live, notifications

    now = timezone.now()
    if not Alert.objects.filter(pk=alert_id, notified_at__isnull=True).update(notified_at=now):
        return False
    try:
        alert = Alert.objects.select_related("camera", "reviewed_by").get(pk=alert_id)
        live.broadcast_created(alert)
        notifications.enqueue(alert)
    except Exception:
        Alert.objects.filter(pk=alert_id, notified_at=now).update(notified_at=None)
        raise
    return True
