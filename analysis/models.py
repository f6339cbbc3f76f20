"""One row per candidate event that went through the LLM step: its verdict, or why it has none."""

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

    class Reason(models.TextChoices):
        """Why an event went out without a fresh LLM verdict (blank when it got one)."""

        NO_KEY = "no_key", "No API key configured"
        KEYS_DISABLED = "keys_disabled", "Every API key disabled"
        KEYS_THROTTLED = "keys_throttled", "Every API key throttled"
        RATE_LIMITED = "rate_limited", "Global budget used up"
        CAMERA_CAP = "camera_cap", "Camera's hourly cap reached"
        GLOBAL_CAP = "global_cap", "Hourly cap reached"
        CAMERA_OFF = "camera_off", "LLM off for the camera"
        RULE_CONCLUSIVE = "rule_conclusive", "Rule trusted on its own"
        DUPLICATE = "duplicate", "Same tracks judged moments ago"
        BLOCKED = "blocked", "Refused by content inspection"
        NO_EVIDENCE = "no_evidence", "Evidence images expired"

    # The candidate event's idempotency key: analysing one event twice yields one row.
    event_key = models.CharField(max_length=128, unique=True)
    camera = models.ForeignKey("cameras.Camera", on_delete=models.PROTECT, related_name="analyses")
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
    reason = models.CharField(max_length=16, choices=Reason.choices, blank=True, db_index=True)
    cost = models.FloatField(default=0.0, help_text="Estimated cost of the calls (LLM_PRICE_* currency).")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "LLM analysis"
        verbose_name_plural = "LLM analyses"
        permissions = [("manage_keypool", "Can enable DashScope API keys again")]
        constraints = [
            # A verdict is stored exactly when the call produced one.
            models.CheckConstraint(
                condition=Q(status="ok", verdict__isnull=False) | ~Q(status="ok"), name="analysis_ok_has_verdict"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_key} ({self.status})"
