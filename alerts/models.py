"""Alerts: dangerous-driving events that operators see, review and act on."""

from __future__ import annotations

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from alerts.signals import alerts_reviewed
from cameras.config import EVENT_TYPE_CHOICES


class AlertQuerySet(models.QuerySet["Alert"]):
    def review(self, status: str, user: object, note: str = "") -> int:
        """Set the review outcome of every alert here (admin, dashboard and API all call this).

        Every open dashboard is told after the commit, whichever of them (or the admin) reviewed.
        """
        if status not in Alert.Review.values:
            raise ValueError(f"unknown review status {status!r}")
        is_new = status == Alert.Review.NEW
        fields: dict[str, object] = {
            "review_status": status,
            "reviewed_by": None if is_new else user,
            "reviewed_at": None if is_new else timezone.now(),
        }
        if note:
            fields["review_note"] = note
        previous = dict(self.values_list("pk", "review_status"))
        ids = list(previous)
        count = Alert.objects.filter(pk__in=ids).update(**fields)
        # Append-only history: an un-confirm (after which retention may delete the evidence) or a
        # changed note never erases who decided what before.
        reviewer_id = getattr(user, "pk", None)
        AlertReview.objects.bulk_create(
            AlertReview(alert_id=pk, status=status, previous_status=old, reviewer_id=reviewer_id, note=note)
            for pk, old in previous.items()
        )
        if ids:
            transaction.on_commit(lambda: alerts_reviewed.send(sender=Alert, alert_ids=ids))
        return count


class Alert(models.Model):
    class Severity(models.IntegerChoices):
        # Integers so that "high or worse" is a simple comparison in filters and notification rules.
        LOW = 1, "Low"
        MEDIUM = 2, "Medium"
        HIGH = 3, "High"
        CRITICAL = 4, "Critical"

    class Verification(models.TextChoices):
        PENDING = "pending", "Awaiting LLM"
        CONFIRMED = "confirmed", "Confirmed by LLM"
        REJECTED = "rejected", "Judged harmless by LLM"
        UNVERIFIED = "unverified", "Not verified (rules only)"

    class ClipStatus(models.TextChoices):
        PENDING = "pending", "Clip follows"
        READY = "ready", "Clip ready"
        UNAVAILABLE = "unavailable", "No clip"

    class Review(models.TextChoices):
        NEW = "new", "New"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        CONFIRMED = "confirmed", "Confirmed"
        FALSE_POSITIVE = "false_positive", "False positive"
        RESOLVED = "resolved", "Resolved"

    # Derived from the event (camera, rule, track, event start): the same event recorded twice is one row.
    idempotency_key = models.CharField(max_length=128, unique=True)
    camera = models.ForeignKey("cameras.Camera", on_delete=models.PROTECT, related_name="alerts")
    event_type = models.CharField(max_length=32, choices=EVENT_TYPE_CHOICES, db_index=True)
    risk_types = models.JSONField(default=list, blank=True, help_text="All risk types named by the rule and the LLM.")
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.MEDIUM, db_index=True)
    # The rule's own severity, kept when a verdict replaces ``severity``: a "harmless" verdict (which a
    # picture could talk the model into) does not silence the pagers for what the rule rated high.
    rule_severity = models.PositiveSmallIntegerField(choices=Severity.choices, null=True, blank=True)
    confidence = models.FloatField(default=0.5)
    track_ids = models.JSONField(default=list, blank=True)

    event_started_at = models.DateTimeField(help_text="When the rule's definition was first met (frame time).")
    detected_at = models.DateTimeField(help_text="When the rule fired.")
    notified_at = models.DateTimeField(null=True, blank=True, help_text="When operators were first notified.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    keyframe = models.ImageField(upload_to="alerts/%Y/%m/%d/", blank=True)
    crop = models.ImageField(upload_to="alerts/%Y/%m/%d/", blank=True)
    measurements = models.JSONField(default=dict, blank=True, help_text="The values that made the rule fire.")

    # The video clip follows the alert once the camera's post-roll has passed (alerts/clips.py).
    clip = models.FileField(upload_to="clips/%Y/%m/%d/", blank=True)
    clip_status = models.CharField(max_length=16, choices=ClipStatus.choices, default=ClipStatus.PENDING)
    clip_started_at = models.DateTimeField(null=True, blank=True, help_text="Capture time of the clip's first frame.")
    clip_duration_s = models.FloatField(null=True, blank=True)
    clip_expected_at = models.DateTimeField(
        null=True, blank=True, help_text="When the clip should be ready (detection + the camera's post-roll)."
    )
    clip_note = models.CharField(max_length=300, blank=True, help_text="How the clip was made, or why there is none.")
    track = models.JSONField(
        default=list,
        blank=True,
        help_text="Tracked boxes of the seconds up to the detection (the player's overlay).",
    )

    verification = models.CharField(
        max_length=16, choices=Verification.choices, default=Verification.PENDING, db_index=True
    )
    analysis = models.OneToOneField(
        "analysis.LLMAnalysis", null=True, blank=True, on_delete=models.SET_NULL, related_name="alert"
    )
    description = models.TextField(blank=True)

    review_status = models.CharField(max_length=16, choices=Review.choices, default=Review.NEW, db_index=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviewed_alerts"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-detected_at"]
        indexes = [models.Index(fields=["camera", "-detected_at"], name="alert_camera_recent")]
        constraints = [
            models.CheckConstraint(condition=Q(confidence__gte=0) & Q(confidence__lte=1), name="alert_confidence_0_1"),
            models.CheckConstraint(
                condition=Q(detected_at__gte=F("event_started_at")), name="alert_detected_after_start"
            ),
            # Every review beyond "new" says when it happened.
            models.CheckConstraint(
                condition=Q(review_status="new") | Q(reviewed_at__isnull=False), name="alert_review_has_time"
            ),
            models.CheckConstraint(condition=Q(severity__gte=1) & Q(severity__lte=4), name="alert_severity_range"),
        ]

    def __str__(self) -> str:
        return f"{self.get_event_type_display()} #{self.pk} at {self.detected_at:%Y-%m-%d %H:%M:%S}"


class WebhookDestination(models.Model):
    """An HTTPS endpoint that receives alerts at or above a severity, signed with its own secret.

    Delivery outcomes are kept on the row (counters, last error) so an operator sees in the admin
    which receiver is failing and why, without reading logs.
    """

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500, help_text="Receives a POST with the alert as JSON.")
    secret = models.CharField(
        max_length=200,
        help_text="Shared secret for the HMAC-SHA256 signature (X-Trafficsite-Signature). Never shown again.",
    )
    enabled = models.BooleanField(default=True, db_index=True)
    min_severity = models.PositiveSmallIntegerField(
        "minimum severity", choices=Alert.Severity.choices, default=Alert.Severity.HIGH
    )
    cameras = models.ManyToManyField(
        "cameras.Camera", blank=True, related_name="+", help_text="Only these cameras' alerts; none selected: all."
    )

    deliveries_ok = models.PositiveIntegerField(default=0)
    deliveries_failed = models.PositiveIntegerField(default=0, help_text="Failed attempts, retries included.")
    consecutive_failures = models.PositiveIntegerField(default=0, help_text="Failed attempts since the last success.")
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(min_severity__gte=1) & Q(min_severity__lte=4), name="webhook_severity"),
            models.CheckConstraint(condition=~Q(secret=""), name="webhook_secret_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name

    def wants(self, alert: Alert) -> bool:
        """Whether this destination receives ``alert`` (enabled, severity, cameras)."""
        if not self.enabled or alert.severity < self.min_severity:
            return False
        camera_ids = {c.pk for c in self.cameras.all()}
        return not camera_ids or alert.camera_id in camera_ids

    def record_success(self) -> None:
        WebhookDestination.objects.filter(pk=self.pk).update(
            deliveries_ok=F("deliveries_ok") + 1, consecutive_failures=0, last_success_at=timezone.now()
        )

    def record_failure(self, error: str) -> None:
        # F() expressions: several workers may deliver to one destination at once.
        WebhookDestination.objects.filter(pk=self.pk).update(
            deliveries_failed=F("deliveries_failed") + 1,
            consecutive_failures=F("consecutive_failures") + 1,
            last_failure_at=timezone.now(),
            last_error=error[:2000],
        )


class AlertReview(models.Model):
    """One review decision, appended by ``AlertQuerySet.review`` and never changed or deleted by hand."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="reviews")
    status = models.CharField(max_length=20, choices=Alert.Review.choices)
    previous_status = models.CharField(max_length=20, choices=Alert.Review.choices)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    note = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.previous_status} -> {self.status}"
