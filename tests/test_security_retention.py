"""Issue 12, Low: LLM analyses and failed jobs are purged after their retention, and an alert whose
insert fails leaves no evidence files behind."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import DataError
from django.utils import timezone

from alerts.record import record_alert
from alerts.retention import purge_expired
from analysis.models import LLMAnalysis
from core.models import FailedJob
from tests.factories import make_alert, make_camera
from tests.support.alert_events import event_payload

pytestmark = pytest.mark.django_db


def analysis(key: str, days_old: int) -> LLMAnalysis:
    row = LLMAnalysis.objects.create(
        event_key=key, camera=make_camera(), status="malformed", model="m", prompt_version="v1"
    )
    LLMAnalysis.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=days_old))
    return row


def test_old_analyses_and_failed_jobs_are_purged_and_those_an_alert_links_to_kept() -> None:
    old, linked, recent = analysis("old", 120), analysis("linked", 120), analysis("recent", 5)
    make_alert(analysis=linked)
    now = timezone.now()
    FailedJob.objects.create(task_name="t", task_id="old", queue="q", error_type="E", error="e",
                             failed_at=now - timedelta(days=40))  # fmt: skip
    FailedJob.objects.create(task_name="t", task_id="new", queue="q", error_type="E", error="e")
    purge_expired()
    # Rows of other tests' real workers may share the table: look only at this test's own.
    keys = set(LLMAnalysis.objects.values_list("event_key", flat=True))
    assert {"linked", "recent"} <= keys and "old" not in keys
    jobs = set(FailedJob.objects.values_list("task_id", flat=True))
    assert "new" in jobs and "old" not in jobs
    assert not LLMAnalysis.objects.filter(pk=old.pk).exists() and recent.pk


def test_a_failed_alert_insert_leaves_no_evidence_files() -> None:
    media = Path(settings.MEDIA_ROOT)
    before = {p for p in media.rglob("*") if p.is_file()}
    payload = event_payload(make_camera().pk)
    verdict = {"dangerous": True, "severity": 99999, "confidence": 0.9, "description": "x", "risk_types": []}
    with pytest.raises(DataError):  # the severity does not fit its column: the insert fails
        record_alert(payload, verdict, None, None)
    assert {p for p in media.rglob("*") if p.is_file()} == before
