"""Cameras: where frames come from, how they are judged, and how the stream is doing."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from cameras import config as camera_config
from cameras.geometry import Homography, fit_homography
from cameras.signals import camera_status_changed
from cameras.sources import Source, parse_source, validate_source_url
from core.redact import mask_url


def default_classes() -> list[str]:
    return list(camera_config.ROAD_USER_CLASSES)


def validate_rule_names(value: Any) -> None:
    """A list of rule (event type) names, each once."""
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValidationError('Expected a list of rule names, e.g. ["wrong_way"].')
    unknown = [name for name in value if name not in camera_config.EVENT_TYPES]
    if unknown:
        raise ValidationError(
            f"Unknown rule(s): {', '.join(unknown)}; rules are {', '.join(camera_config.EVENT_TYPES)}."
        )
    if len(set(value)) != len(value):
        raise ValidationError("A rule is listed twice.")


class Camera(models.Model):
    class Status(models.TextChoices):
        UNKNOWN = "unknown", "Not started"
        ONLINE = "online", "Online"
        OFFLINE = "offline", "Offline"
        # Frames arrive, but Redis or the broker is unreachable: they are dropped until it returns.
        DEGRADED = "degraded", "Degraded"
        ERROR = "error", "Error"

    class Transport(models.TextChoices):
        AUTO = "auto", "Automatic (TCP, then UDP)"
        TCP = "tcp", "TCP"
        UDP = "udp", "UDP"

    name = models.CharField(max_length=100, unique=True)
    source_url = models.CharField(
        "source",
        max_length=2000,
        validators=[validate_source_url],
        help_text="rtsp://user:password@host:554/stream, http(s)://host/video.mjpg, or an absolute path of a "
        "video file under CAMERA_FILE_ROOTS (files loop). Credentials are never shown in lists or logs.",
    )
    rtsp_transport = models.CharField(
        "RTSP transport",
        max_length=4,
        choices=Transport.choices,
        default=Transport.AUTO,
        help_text="How RTP travels from an RTSP camera: TCP (inside the RTSP connection; passes NAT and firewalls) "
        "or UDP (what some cameras and VLC's server only speak). Automatic tries TCP, then UDP.",
    )
    enabled = models.BooleanField(default=True, db_index=True)
    detect_fps = models.FloatField(
        default=5.0,
        validators=[MinValueValidator(0.2), MaxValueValidator(30.0)],
        help_text="Frames per second sent to the detector (sampled by frame timestamps).",
    )
    confidence_threshold = models.FloatField(
        default=camera_config.DEFAULT_CONFIDENCE, validators=[MinValueValidator(0.05), MaxValueValidator(0.95)]
    )
    classes = models.JSONField(
        "classes of interest",
        default=default_classes,
        validators=[camera_config.validate_classes],
        help_text="COCO class names to detect and track.",
    )
    motion_gate = models.BooleanField(
        default=True,
        help_text="Skip detection on frames without motion (a static frame is still checked every few seconds).",
    )
    motion_threshold = models.FloatField(
        default=0.002,
        validators=[MinValueValidator(0.0001), MaxValueValidator(0.5)],
        help_text="Share of the picture that must change for a frame to count as motion.",
    )
    speed_limit_kmh = models.PositiveSmallIntegerField(
        default=50, validators=[MinValueValidator(5), MaxValueValidator(300)]
    )
    calibration = models.JSONField(
        default=dict,
        blank=True,
        validators=[camera_config.validate_calibration],
        help_text='Road-plane calibration: {"image_points": [[x, y], ...], "world_points": [[X, Y], ...]}, '
        "image points normalized 0..1, world points in metres, at least four pairs.",
    )
    zones = models.JSONField(
        default=list,
        blank=True,
        validators=[camera_config.validate_zones],
        help_text='Lanes, crosswalks and no-stopping areas: [{"name": ..., "kind": "lane", "polygon": [[x, y], ...], '
        '"flow": [[x, y], [x, y]]}, ...].',
    )
    rules = models.JSONField(
        default=dict,
        blank=True,
        validators=[camera_config.validate_rules],
        help_text='Per-rule overrides of the default thresholds, e.g. {"tailgating": {"headway_s": 1.0}}.',
    )

    # LLM verification: read by the analysis worker only (not part of the capture fingerprint).
    llm_enabled = models.BooleanField(
        "verify with the LLM",
        default=True,
        help_text="Send this camera's candidate events to DashScope Qwen-VL for verification (when a key is set).",
    )
    llm_conclusive_rules = models.JSONField(
        "rules trusted without the LLM",
        default=list,
        blank=True,
        validators=[validate_rule_names],
        help_text='Rules whose events are conclusive here and skip the LLM, e.g. ["wrong_way"] on a one-way street.',
    )
    llm_calls_per_hour = models.PositiveIntegerField(
        "LLM calls per hour",
        default=120,
        validators=[MinValueValidator(1), MaxValueValidator(100_000)],
        help_text="Cost cap for this camera (rolling hour); further events are alerted unverified.",
    )
    llm_privacy_blur = models.BooleanField(
        "pixelate faces and plates",
        default=True,
        help_text="Pixelate heads and licence-plate areas (from the person and vehicle boxes) in the images sent "
        "to the cloud. Evidence stored here is kept as captured.",
    )

    # Evidence clip of each alert, cut from the camera's rolling cache of compressed video (no re-encoding
    # of an H.264 source): from pre_roll_s before the event's start to post_roll_s after its detection.
    pre_roll_s = models.FloatField(
        "clip pre-roll (s)",
        default=5.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(30.0)],
        help_text="Seconds of video before the event's start in each alert's clip.",
    )
    post_roll_s = models.FloatField(
        "clip post-roll (s)",
        default=5.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(30.0)],
        help_text="Seconds of video after the detection in each alert's clip; the clip follows the alert this "
        "much later.",
    )

    # Alerts of this camera older than this are removed by alerts.purge_expired (beat), except confirmed ones.
    # Empty (NULL) keeps them forever; blank also lets a form that omits the field keep the stored value.
    alert_retention_days = models.PositiveIntegerField(
        "keep alerts for (days)",
        default=30,
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="Alerts and their evidence images older than this are deleted, except alerts an operator "
        "confirmed. Leave empty to keep them forever.",
    )

    # Live status, written by the capture process.
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNKNOWN, db_index=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    last_frame_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    reconnect_count = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Written by the capture process and the database, never by an operator (admin and API).
    LIVE_STATUS_FIELDS = ("status", "status_changed_at", "last_frame_at", "last_error", "reconnect_count",
                          "created_at", "updated_at")  # fmt: skip

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(detect_fps__gte=0.2) & Q(detect_fps__lte=30.0), name="camera_detect_fps_range"
            ),
            models.CheckConstraint(
                condition=Q(confidence_threshold__gte=0.05) & Q(confidence_threshold__lte=0.95),
                name="camera_confidence_range",
            ),
            models.CheckConstraint(condition=~Q(name=""), name="camera_name_not_empty"),
            models.CheckConstraint(
                condition=Q(pre_roll_s__gte=0) & Q(pre_roll_s__lte=30) & Q(post_roll_s__gte=0) & Q(post_roll_s__lte=30),
                name="camera_clip_roll_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def masked_source(self) -> str:
        return mask_url(self.source_url)

    @property
    def source(self) -> Source:
        return parse_source(self.source_url)

    def capture_fingerprint(self) -> str:
        """Changes whenever a setting that the camera process uses changes: it is then restarted."""
        fields = ["source_url", "rtsp_transport", "detect_fps", "confidence_threshold", "classes", "motion_gate",
                  "motion_threshold", "speed_limit_kmh", "calibration", "zones", "rules"]  # fmt: skip
        payload = json.dumps({f: getattr(self, f) for f in fields}, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def homography(self) -> Homography | None:
        if not self.calibration:
            return None
        return fit_homography(self.calibration["image_points"], self.calibration["world_points"])

    def set_status(self, status: str, *, error: str = "", **extra: Any) -> bool:
        """Record a status change from the capture process; returns whether it changed.

        A conditional UPDATE, so a stale process cannot flip a camera back and the web process
        never races a read-modify-write with the capture process.
        """
        now = timezone.now()
        fields: dict[str, Any] = {"status": status, "status_changed_at": now, "last_error": mask_url(error), **extra}
        changed = (
            Camera.objects.filter(pk=self.pk).exclude(status=status, last_error=fields["last_error"]).update(**fields)
        )
        if changed:
            for key, value in fields.items():
                setattr(self, key, value)
            # Open dashboards see the change at once (alerts connects to it); robust receivers only.
            camera_status_changed.send_robust(sender=Camera, camera=self)
        return bool(changed)
