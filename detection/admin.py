"""Camera admin: registration, live status at a glance, and a one-frame check of the source."""

from __future__ import annotations

import base64
from typing import Any

import cv2
import numpy as np
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from cameras.live import read_snapshot, read_stats
from cameras.models import Camera
from core.adminsecrets import SecretFieldsAdminMixin
from core.redact import restore_masked_url
from detection import calibration
from detection.isolated_grab import IsolatedGrabError, grab_jpeg

LIVE_STATUS_FIELDS = Camera.LIVE_STATUS_FIELDS

EDITABLE_FIELDSETS: Any = [
    (None, {"fields": ["name", "source_url", "rtsp_transport", "enabled"]}),
    ("Detection", {"fields": ["detect_fps", "confidence_threshold", "classes", "motion_gate", "motion_threshold"]}),
    ("Road and rules", {"fields": ["speed_limit_kmh", "calibration", "zones", "rules"]}),
    ("LLM verification", {"fields": ["llm_enabled", "llm_conclusive_rules", "llm_calls_per_hour", "llm_privacy_blur"]}),
    ("Alerts", {"fields": ["alert_retention_days", "pre_roll_s", "post_roll_s"]}),
]


class CameraForm(forms.ModelForm):  # type: ignore[type-arg]
    """Never sends a stored stream password back to the browser; ``***`` keeps the stored one."""

    class Meta:
        model = Camera
        fields = [name for _, options in EDITABLE_FIELDSETS for name in options["fields"]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["source_url"] = self.instance.masked_source

    def clean_source_url(self) -> str:
        submitted: str = self.cleaned_data["source_url"]
        stored = Camera.objects.filter(pk=self.instance.pk).values_list("source_url", flat=True).first() or ""
        restored = restore_masked_url(submitted, stored)
        if restored is None:
            raise ValidationError("Enter the stream password again (it is hidden as *** and the user name changed).")
        return restored


@admin.register(Camera)
class CameraAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    form = CameraForm
    list_display = [
        "name",
        "source_display",
        "enabled",
        "status_badge",
        "last_frame_at",
        "reconnect_count",
        "detect_fps",
        "speed_limit_kmh",
    ]
    list_filter = ["enabled", "status"]
    search_fields = ["name"]  # not the source: it may hold credentials
    actions = ["enable_cameras", "disable_cameras", "grab_frame_action"]
    readonly_fields = LIVE_STATUS_FIELDS
    fieldsets = [*EDITABLE_FIELDSETS, ("Live status", {"fields": LIVE_STATUS_FIELDS})]
    change_form_template = "admin/cameras/camera/change_form.html"

    @admin.display(description="source")
    def source_display(self, obj: Camera) -> str:
        return obj.masked_source

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Camera) -> str:
        title = obj.last_error or obj.get_status_display()
        return format_html(
            '<span title="{}" class="badge badge-{}">{}</span>',
            title,
            obj.status,
            obj.get_status_display(),
        )

    @admin.action(description="Enable selected cameras")
    def enable_cameras(self, request: HttpRequest, queryset: QuerySet[Camera]) -> None:
        count = queryset.update(enabled=True)
        self.message_user(request, f"Enabled {count} camera(s).", messages.SUCCESS)

    @admin.action(description="Disable selected cameras")
    def disable_cameras(self, request: HttpRequest, queryset: QuerySet[Camera]) -> None:
        count = queryset.update(enabled=False)
        self.message_user(request, f"Disabled {count} camera(s).", messages.SUCCESS)

    @admin.action(description="Grab one frame from the source")
    def grab_frame_action(self, request: HttpRequest, queryset: QuerySet[Camera]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one camera to grab a frame from.", messages.WARNING)
            return None
        camera = queryset.get()
        return HttpResponseRedirect(reverse("admin:cameras_camera_grab", args=[camera.pk]))

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<int:camera_id>/snapshot.jpg",
                self.admin_site.admin_view(self.snapshot_view),
                name="cameras_camera_snapshot",
            ),
            path(
                "<int:camera_id>/grab/",
                self.admin_site.admin_view(self.grab_view),
                name="cameras_camera_grab",
            ),
            path(
                "<int:camera_id>/calibrate/",
                self.admin_site.admin_view(self.calibrate_view),
                name="cameras_camera_calibrate",
            ),
        ]
        return custom + super().get_urls()

    def calibrate_view(self, request: HttpRequest, camera_id: int) -> HttpResponse:
        """Click calibration points and zones on a frame of the camera; preview, then save."""
        camera = get_object_or_404(Camera, pk=camera_id)
        if not self.has_view_or_change_permission(request, camera):
            return HttpResponseRedirect(reverse("admin:index"))
        if request.method == "POST":
            if not self.has_change_permission(request, camera):
                return JsonResponse({"error": "You may look at this camera but not change it."}, status=403)
            return self._calibrate_post(request, camera)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": f"Calibration and zones of {camera.name}",
            "camera": camera,
            "opts": self.model._meta,
            "settings_json": {"calibration": camera.calibration, "zones": camera.zones},
            "can_change": self.has_change_permission(request, camera),
        }
        try:
            image = self._calibration_frame(camera, may_grab=self.has_change_permission(request, camera))
            context["frame"] = calibration.preview(image, {}, [])
            context["preview"], context["stored_error"] = calibration.stored_preview(
                image, camera.calibration, camera.zones
            )
            context["size"] = (image.shape[1], image.shape[0])
        except (IsolatedGrabError, ValidationError) as exc:
            context["error"] = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
        return TemplateResponse(request, "admin/cameras/camera/calibrate.html", context)

    def _calibrate_post(self, request: HttpRequest, camera: Camera) -> JsonResponse:
        try:
            cal, zones = calibration.parse_settings(request.body)
            if request.GET.get("save") == "1":
                camera.calibration, camera.zones = cal, zones
                camera.full_clean()
                camera.save(update_fields=["calibration", "zones", "updated_at"])
                return JsonResponse({"saved": True})
            return JsonResponse({"preview": calibration.preview(self._calibration_frame(camera), cal, zones)})
        except ValidationError as exc:
            return JsonResponse({"error": " ".join(exc.messages)}, status=400)
        except IsolatedGrabError as exc:
            return JsonResponse({"error": str(exc)}, status=502)

    def _calibration_frame(self, camera: Camera, may_grab: bool = True) -> Any:
        """A clean frame of the camera, grabbed once (by a child process) and kept ten minutes for the
        previews. Only editors make the server open the source; viewers see a frame already grabbed."""
        cache_key = f"calibration-frame:{camera.pk}"
        jpeg = cache.get(cache_key)
        if jpeg is None:
            if not may_grab:
                raise IsolatedGrabError("No frame grabbed yet: someone who may change this camera opens it first.")
            jpeg = grab_jpeg(camera.source, settings.CAMERA_OPEN_TIMEOUT_S, camera.rtsp_transport).jpeg
            cache.set(cache_key, jpeg, 600)
        return cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)

    def snapshot_view(self, request: HttpRequest, camera_id: int) -> HttpResponse:
        """The latest annotated frame from the camera's capture process (kept in Redis)."""
        camera = get_object_or_404(Camera, pk=camera_id)
        if not self.has_view_or_change_permission(request, camera):
            return HttpResponseRedirect(reverse("admin:index"))
        jpeg = read_snapshot(camera.pk)
        if not jpeg:
            raise Http404("No snapshot yet: the camera is not being captured.")
        response = HttpResponse(jpeg, content_type="image/jpeg")
        response["Cache-Control"] = "no-store"
        return response

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        stats = read_stats([int(object_id)]) if object_id.isdigit() else {}
        extra_context = {**(extra_context or {}), "live_stats": next(iter(stats.values()), None)}
        return super().change_view(request, object_id, form_url, extra_context)

    def grab_view(self, request: HttpRequest, camera_id: int) -> HttpResponse:
        """GET: the page with a button; POST (change permission): open the source once, in a child process."""
        camera = get_object_or_404(Camera, pk=camera_id)
        if not self.has_view_or_change_permission(request, camera):
            return HttpResponseRedirect(reverse("admin:index"))
        can_grab = self.has_change_permission(request, camera)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": f"Frame from {camera.name}",
            "camera": camera,
            "opts": self.model._meta,
            "can_grab": can_grab,
        }
        if request.method == "POST":
            if not can_grab:
                raise PermissionDenied("Grabbing a frame opens the source: it needs the change permission.")
            try:
                grab = grab_jpeg(camera.source, settings.CAMERA_OPEN_TIMEOUT_S, camera.rtsp_transport)
                context.update(
                    image_data=base64.b64encode(grab.jpeg).decode(),
                    width=grab.size[0],
                    height=grab.size[1],
                    elapsed_ms=round(grab.elapsed_s * 1000),
                )
            except (IsolatedGrabError, ValidationError) as exc:
                context["error"] = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
        return TemplateResponse(request, "admin/cameras/camera/grab.html", context)
