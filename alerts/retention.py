"""Retention: alerts older than their camera's ``alert_retention_days`` are deleted with their images and clips.

Alerts an operator confirmed are kept whatever their age: they are the evidence someone acted on.
Deletion goes in batches (short transactions, bounded memory) within a time budget; what is left
is taken by the next run. Images are removed after the rows' deletion commits, so a rolled-back
batch never loses its evidence.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from alerts.models import Alert
from cameras.models import Camera

logger = logging.getLogger(__name__)


def expired(camera: Camera, now: datetime) -> Any:
    """The alerts of ``camera`` that retention removes at ``now`` (a queryset)."""
    if camera.alert_retention_days is None:
        return Alert.objects.none()
    cutoff = now - timedelta(days=camera.alert_retention_days)
    return Alert.objects.filter(camera=camera, detected_at__lt=cutoff).exclude(review_status=Alert.Review.CONFIRMED)


def purge_expired(*, now: datetime | None = None, batch_size: int = 500, time_budget_s: float = 60.0) -> dict[str, Any]:
    now = now or timezone.now()
    deadline = time.monotonic() + time_budget_s
    deleted = 0
    files: list[str] = []
    complete = True
    for camera in Camera.objects.filter(alert_retention_days__isnull=False):
        while True:
            if time.monotonic() >= deadline:
                complete = False
                break
            rows = list(
                expired(camera, now).order_by("detected_at").values_list("pk", "keyframe", "crop", "clip")[:batch_size]
            )
            if not rows:
                break
            names = [name for _, *files in rows for name in files if name]
            with transaction.atomic():
                # Alerts only: the count of delete() also has their review history (AlertReview) in it.
                _, by_model = Alert.objects.filter(pk__in=[row[0] for row in rows]).delete()
                count = by_model.get(Alert._meta.label, 0)
                transaction.on_commit(lambda names=names: _delete_files(names))  # type: ignore[misc]
            deleted += count
            files += names
    if deleted:
        logger.info("retention: deleted %d alert(s) and %d image(s)%s", deleted, len(files),
                    "" if complete else "; more left for the next run")  # fmt: skip
    purge_records(now)
    return {"deleted": deleted, "images": len(files), "complete": complete}


def purge_records(now: datetime) -> dict[str, int]:
    """LLM analyses (raw replies, request ids) and failed jobs (task arguments) are kept a bounded
    time too: analyses that an alert still links to stay with it."""
    from analysis.models import LLMAnalysis
    from core.models import FailedJob

    analyses_before = now - timedelta(days=settings.LLM_ANALYSIS_RETENTION_DAYS)
    jobs_before = now - timedelta(days=settings.FAILED_JOB_RETENTION_DAYS)
    analyses, _ = LLMAnalysis.objects.filter(created_at__lt=analyses_before, alert__isnull=True).delete()
    jobs, _ = FailedJob.objects.filter(failed_at__lt=jobs_before).delete()
    if analyses or jobs:
        logger.info("retention: deleted %d LLM analysis row(s) and %d failed job(s)", analyses, jobs)
    return {"analyses": analyses, "failed_jobs": jobs}


def _delete_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("retention: could not delete %s", name, exc_info=True)
