"""Alert review in the admin: evidence at a glance, filters, and bulk review actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from alerts.models import Alert


def _review_action(status: str, label: str) -> Callable[..., None]:
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Alert]) -> None:  # type: ignore[type-arg]
        count = queryset.review(status, request.user)  # type: ignore[attr-defined]
        modeladmin.message_user(request, f"Marked {count} alert(s) as {label.lower()}.", messages.SUCCESS)

    action.__name__ = f"mark_{status}"
    return admin.action(description=f"Mark selected alerts as {label.lower()}")(action)


def _thumbnail(field: Any, width: int) -> str:
    if not field:
        return "—"
    return format_html('<img src="{}" width="{}" loading="lazy" alt="evidence">', field.url, width)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "thumbnail",
        "event_type",
        "camera",
        "severity",
        "verification",
        "review_status",
        "confidence",
        "detected_at",
    ]
    list_display_links = ["thumbnail", "event_type"]
    list_filter = ["review_status", "severity", "event_type", "verification", "camera", "detected_at"]
    list_select_related = ["camera"]
    search_fields = ["description", "camera__name", "idempotency_key"]
    date_hierarchy = "detected_at"
    actions = [_review_action(value, label) for value, label in Alert.Review.choices]
    readonly_fields = [
        "idempotency_key",
        "camera",
        "event_type",
        "risk_types",
        "severity",
        "confidence",
        "track_ids",
        "event_started_at",
        "detected_at",
        "notified_at",
        "created_at",
        "keyframe_preview",
        "crop_preview",
        "measurements",
        "verification",
        "analysis",
        "description",
        "reviewed_by",
        "reviewed_at",
    ]
    fieldsets = [
        (
            "Event",
            {
                "fields": [
                    "camera",
                    "event_type",
                    "risk_types",
                    "severity",
                    "confidence",
                    "track_ids",
                    "event_started_at",
                    "detected_at",
                    "notified_at",
                ]
            },
        ),
        ("Evidence", {"fields": ["keyframe_preview", "crop_preview", "measurements"]}),
        ("Verification", {"fields": ["verification", "analysis", "description"]}),
        ("Review", {"fields": ["review_status", "review_note", "reviewed_by", "reviewed_at"]}),
        ("Bookkeeping", {"classes": ["collapse"], "fields": ["idempotency_key", "created_at"]}),
    ]

    @admin.display(description="keyframe")
    def thumbnail(self, obj: Alert) -> str:
        return _thumbnail(obj.keyframe, 120)

    @admin.display(description="keyframe")
    def keyframe_preview(self, obj: Alert) -> str:
        return _thumbnail(obj.keyframe, 640)

    @admin.display(description="traffic group")
    def crop_preview(self, obj: Alert) -> str:
        return _thumbnail(obj.crop, 320)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # alerts come from the pipeline, never typed in

    def save_model(self, request: HttpRequest, obj: Alert, form: Any, change: bool) -> None:
        if change and "review_status" in form.changed_data:
            Alert.objects.filter(pk=obj.pk).review(obj.review_status, request.user, obj.review_note)
            return
        super().save_model(request, obj, form, change)
