"""JSON forms of cameras and alerts. ``AlertSerializer`` is also the body of websocket pushes,
webhooks and MQTT messages, so every client parses one shape.

A camera's source is only ever shown masked (``rtsp://user:***@host/...``); it can be written, and a
masked URL sent back unchanged keeps the stored password, as in the admin form.
"""

from __future__ import annotations

import copy
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alerts.models import Alert
from cameras.models import Camera
from cameras.sources import validate_source_url
from core.redact import restore_masked_url


class AlertSerializer(serializers.ModelSerializer[Alert]):
    camera_name = serializers.CharField(source="camera.name", read_only=True)
    event_label = serializers.CharField(source="get_event_type_display", read_only=True)
    severity_label = serializers.CharField(source="get_severity_display", read_only=True)
    verification_label = serializers.CharField(source="get_verification_display", read_only=True)
    review_label = serializers.CharField(source="get_review_status_display", read_only=True)
    reviewed_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    keyframe_url = serializers.SerializerMethodField()
    crop_url = serializers.SerializerMethodField()
    dashboard_url = serializers.SerializerMethodField()
    clip_url = serializers.SerializerMethodField()
    clip_status_label = serializers.CharField(source="get_clip_status_display", read_only=True)
    clip_marks = serializers.SerializerMethodField()
    track_url = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = [
            "id",
            "camera",
            "camera_name",
            "event_type",
            "event_label",
            "risk_types",
            "severity",
            "severity_label",
            "confidence",
            "track_ids",
            "event_started_at",
            "detected_at",
            "notified_at",
            "created_at",
            "measurements",
            "verification",
            "verification_label",
            "description",
            "analysis",
            "review_status",
            "review_label",
            "reviewed_by",
            "reviewed_at",
            "review_note",
            "keyframe_url",
            "crop_url",
            "dashboard_url",
            "clip_status",
            "clip_status_label",
            "clip_url",
            "clip_expected_at",
            "clip_started_at",
            "clip_duration_s",
            "clip_note",
            "clip_marks",
            "track_url",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_clip_url(self, obj: Alert) -> str | None:
        return obj.clip.url if obj.clip else None

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_clip_marks(self, obj: Alert) -> dict[str, float] | None:
        """Where the event starts and where it was detected, in seconds from the clip's start."""
        if not obj.clip_started_at:
            return None
        return {
            "event_start_s": round((obj.event_started_at - obj.clip_started_at).total_seconds(), 3),
            "detection_s": round((obj.detected_at - obj.clip_started_at).total_seconds(), 3),
        }

    def get_track_url(self, obj: Alert) -> str:
        return reverse("alerts:alert_track", args=[obj.pk])

    @extend_schema_field(OpenApiTypes.STR)
    def get_keyframe_url(self, obj: Alert) -> str | None:
        return obj.keyframe.url if obj.keyframe else None

    @extend_schema_field(OpenApiTypes.STR)
    def get_crop_url(self, obj: Alert) -> str | None:
        return obj.crop.url if obj.crop else None

    def get_dashboard_url(self, obj: Alert) -> str:
        return f"{reverse('alerts:dashboard')}#alert-{obj.pk}"


class ReviewSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=Alert.Review.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class BulkReviewSerializer(ReviewSerializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=500)


class BulkReviewResultSerializer(serializers.Serializer[Any]):
    updated = serializers.IntegerField()


class CameraStatusSerializer(serializers.ModelSerializer[Camera]):
    """What dashboards show of a camera: its name and stream health (never its source)."""

    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Camera
        fields = [
            "id",
            "name",
            "enabled",
            "status",
            "status_label",
            "status_changed_at",
            "last_frame_at",
            "last_error",
            "reconnect_count",
        ]
        read_only_fields = fields


class LiveStatsSerializer(serializers.Serializer[Any]):
    """Counters written every second by the camera's capture process; absent when it is not captured."""

    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Tracked road users by class.")
    tracks = serializers.IntegerField()
    groups = serializers.IntegerField(help_text="Traffic groups (road users close enough to interact).")
    fps_in = serializers.FloatField(help_text="Frames read per second.")
    fps_detected = serializers.FloatField(help_text="Frames detected per second.")
    dropped = serializers.IntegerField(help_text="Frames dropped since the capture process started.")
    updated = serializers.FloatField(help_text="Unix time of these numbers.")


class CameraLiveSerializer(CameraStatusSerializer):
    live = serializers.SerializerMethodField()

    class Meta(CameraStatusSerializer.Meta):
        fields = [*CameraStatusSerializer.Meta.fields, "live"]
        read_only_fields = fields

    @extend_schema_field(LiveStatsSerializer(allow_null=True))
    def get_live(self, obj: Camera) -> dict[str, Any] | None:
        live: dict[int, dict[str, Any]] = self.context.get("live", {})
        return live.get(obj.pk)


class CameraSerializer(serializers.ModelSerializer[Camera]):
    # A declared field named "source" shadows Field.source only for the type checker: DRF's metaclass
    # takes declared fields off the class.
    source = serializers.CharField(  # type: ignore[assignment]
        source="masked_source", read_only=True, help_text="The source, password masked."
    )
    source_url = serializers.CharField(
        write_only=True,
        max_length=2000,
        validators=[validate_source_url],
        help_text="rtsp://user:password@host/path, http(s)://host/video.mjpg or a video file under CAMERA_FILE_ROOTS. "
        "Sending the masked form (user:***@) back keeps the stored password.",
    )
    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Camera
        fields = [
            "id",
            "name",
            "source",
            "source_url",
            "enabled",
            "detect_fps",
            "confidence_threshold",
            "classes",
            "motion_gate",
            "motion_threshold",
            "speed_limit_kmh",
            "calibration",
            "zones",
            "rules",
            "llm_enabled",
            "llm_conclusive_rules",
            "llm_calls_per_hour",
            "llm_privacy_blur",
            "alert_retention_days",
            "pre_roll_s",
            "post_roll_s",
            "status",
            "status_label",
            "status_changed_at",
            "last_frame_at",
            "last_error",
            "reconnect_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = list(Camera.LIVE_STATUS_FIELDS)

    def validate_source_url(self, value: str) -> str:
        stored = self.instance.source_url if isinstance(self.instance, Camera) else ""
        restored = restore_masked_url(value, stored)
        if restored is None:
            raise serializers.ValidationError(
                "Send the stream password (it is shown as *** and cannot be restored for this user name)."
            )
        return restored

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The model's own validation (JSON shapes, calibration, source rules, constraints), as the
        # admin form runs it, on a copy: a refused request must leave the instance untouched.
        candidate = copy.copy(self.instance) if isinstance(self.instance, Camera) else Camera()
        for name, value in attrs.items():
            setattr(candidate, name, value)
        try:
            candidate.full_clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return attrs


class RateRowSerializer(serializers.Serializer[Any]):
    camera = serializers.IntegerField(required=False, help_text="Camera id (per-camera and per-pair rows).")
    camera_name = serializers.CharField(required=False)
    event_type = serializers.CharField(required=False, help_text="Rule (per-rule and per-pair rows).")
    total = serializers.IntegerField()
    open = serializers.IntegerField(help_text="Not reviewed yet.")
    acknowledged = serializers.IntegerField()
    confirmed = serializers.IntegerField()
    resolved = serializers.IntegerField()
    false_positive = serializers.IntegerField()
    judged = serializers.IntegerField(help_text="Confirmed + resolved + false positive.")
    false_positive_rate = serializers.FloatField(allow_null=True, help_text="false_positive / judged; null if none.")
    llm_rejected = serializers.IntegerField(help_text="Judged harmless by the LLM.")


class StatsSerializer(serializers.Serializer[Any]):
    since = serializers.DateTimeField(allow_null=True)
    total = serializers.IntegerField()
    open = serializers.IntegerField()
    last_24h = serializers.IntegerField()
    by_severity = serializers.DictField(child=serializers.IntegerField())
    by_review_status = serializers.DictField(child=serializers.IntegerField())
    per_camera = RateRowSerializer(many=True)
    per_rule = RateRowSerializer(many=True)
    per_camera_rule = RateRowSerializer(many=True)
