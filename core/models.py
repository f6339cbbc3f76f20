"""Operational records shared by every app: tasks that failed for good and can be replayed."""

from __future__ import annotations

from typing import Any

from celery import current_app as celery_app
from django.conf import settings
from django.db import models
from django.utils import timezone

from core.redact import redact_text


class FailedJob(models.Model):
    """A task that exhausted its retries or failed permanently: Redis has no dead-letter queue.

    The row keeps everything needed to run the task again (name, queue, JSON arguments), so an
    operator can replay it from the admin once the cause is fixed.
    """

    task_name = models.CharField(max_length=200, db_index=True)
    task_id = models.CharField(max_length=64, unique=True)
    queue = models.CharField(max_length=64)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    error_type = models.CharField(max_length=200)
    error = models.TextField()
    traceback = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=1)
    failed_at = models.DateTimeField(default=timezone.now, db_index=True)
    replayed_at = models.DateTimeField(null=True, blank=True)
    replay_task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-failed_at"]

    def __str__(self) -> str:
        return f"{self.task_name} {self.task_id} ({self.error_type})"

    def replay(self) -> str | None:
        """Send the task again with its original arguments, once. Returns the new task id.

        The claim is a conditional UPDATE so two operators clicking at once replay it once.
        """
        claimed = FailedJob.objects.filter(pk=self.pk, replayed_at__isnull=True).update(replayed_at=timezone.now())
        if not claimed:
            return None
        try:
            result = celery_app.send_task(self.task_name, args=self.args, kwargs=self.kwargs, queue=self.queue)
        except Exception:
            FailedJob.objects.filter(pk=self.pk).update(replayed_at=None)
            raise
        FailedJob.objects.filter(pk=self.pk).update(replay_task_id=result.id)
        self.refresh_from_db()
        return str(result.id)

    @classmethod
    def record(
        cls,
        *,
        task_name: str,
        task_id: str,
        queue: str,
        args: Any,
        kwargs: Any,
        exc: BaseException,
        traceback: str,
        attempts: int,
    ) -> FailedJob:
        secrets = settings.DASHSCOPE_API_KEYS
        job, _ = cls.objects.update_or_create(
            task_id=task_id,
            defaults={
                "task_name": task_name,
                "queue": queue,
                "args": list(args or []),
                "kwargs": dict(kwargs or {}),
                "error_type": type(exc).__name__,
                "error": redact_text(str(exc), secrets)[:4000],
                "traceback": redact_text(traceback, secrets)[-20000:],
                "attempts": attempts,
                "failed_at": timezone.now(),
            },
        )
        return job
