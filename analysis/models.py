"""One row per multimodal-LLM call that judged a candidate event."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class LLMAnalysis(models.Model):
    class Status(models.TextChoices):
        OK = "ok", "Verdict"
        MALFORMED = "malformed", "Malformed reply"
        BLOCKED = "blocked", "Blocked by content inspection"
        THROTTLED = "throttled", "Throttled"
        ERROR = "error", "Error"
        SKIPPED = "skipped", "Skipped (rules only)"

    # The candidate event's idempotency key: analysing one event twice yields one row.
    event_key = models.CharField(max_length=128, unique=True)
    camera = models.ForeignKey("detection.Camera", on_delete=models.PROTECT, related_name="analyses")
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    model = models.CharField(max_length=100)
    prompt_version = models.CharField(max_length=32)
    api_key_id = models.CharField(
        max_length=16, blank=True, help_text="Short hash of the API key used (never the key itself)."
    )
    request_id = models.CharField(max_length=100, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    tokens_image = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=1)
    raw_reply = models.TextField(blank=True)
    verdict = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "LLM analysis"
        verbose_name_plural = "LLM analyses"
        constraints = [
            # A verdict is stored exactly when the call produced one.
            models.CheckConstraint(
                condition=Q(status="ok", verdict__isnull=False) | ~Q(status="ok"), name="analysis_ok_has_verdict"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_key} ({self.status})"
