"""Issue 12, Low: a "harmless" LLM verdict (which a picture could talk the model into) does not
silence webhooks and MQTT for an event its rule rated high; the message says the model disagreed."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.models import Alert, WebhookDestination
from alerts.notifications import message, wants_mqtt, webhook_destinations
from alerts.record import record_alert
from tests.factories import make_alert, make_camera
from tests.support.alert_events import event_payload

pytestmark = pytest.mark.django_db


def test_a_rejected_alert_that_its_rule_rated_high_is_still_sent_and_marked(settings: Any) -> None:
    settings.MQTT_URL = "mqtt://127.0.0.1:1883"
    pager = WebhookDestination.objects.create(name="Pager", url="https://hooks.example.org/x", secret="s" * 20,
                                              min_severity=3)  # fmt: skip
    high = make_alert(severity=1, rule_severity=4, verification=Alert.Verification.REJECTED)
    assert webhook_destinations(high) == [pager] and wants_mqtt(high)
    assert "judged this harmless" in message("alert.created", high)["alert"]["llm_disagrees"]
    low = make_alert(severity=1, rule_severity=2, verification=Alert.Verification.REJECTED)
    assert webhook_destinations(low) == [] and not wants_mqtt(low)
    settings.NOTIFY_REJECTED_MIN_SEVERITY = 5  # an operator who wants the old behaviour
    assert webhook_destinations(high) == []


def test_recording_a_rejected_verdict_keeps_the_rule_severity() -> None:
    payload = {**event_payload(make_camera().pk, severity=4)}
    verdict = {"dangerous": False, "severity": 1, "confidence": 0.9, "description": "a poster", "risk_types": []}
    alert, _ = record_alert(payload, verdict, None, None)
    assert (alert.verification, alert.severity, alert.rule_severity) == ("rejected", 1, 4)
