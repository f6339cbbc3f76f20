"""The operators' dashboard page and the camera snapshots it shows (staff only, like the evidence)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from alerts.models import Alert
from cameras.config import EVENT_TYPE_CHOICES
from cameras.live import read_snapshot

# Everything the page loads comes from this site; the websocket too ('self' covers ws: and wss: of
# the same host in CSP level 3). Data reaches the DOM as text only (no innerHTML), so no inline code.
# Evidence images and clips may come from the object store (signed URLs, settings.STORAGE_MEDIA_ORIGINS).
CSP = (
    "default-src 'self'; img-src 'self' data:{media}; media-src 'self'{media}; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def dashboard_csp() -> str:
    return CSP.format(media="".join(f" {origin}" for origin in settings.STORAGE_MEDIA_ORIGINS))


@require_GET
@never_cache
@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    config: dict[str, Any] = {
        "wsPath": "/ws/alerts/",
        "api": {
            "alerts": reverse("api:alert-list"),
            "review": reverse("api:alert-review", args=[0]),
            "reviewMany": reverse("api:alert-review-many"),
            "stats": reverse("api:stats"),
        },
        "snapshotUrl": reverse("alerts:camera_snapshot", args=[0]),
        "adminAlertUrl": reverse("admin:alerts_alert_change", args=[0]),
        "adminCameraUrl": reverse("admin:cameras_camera_change", args=[0]),
        "csrfToken": get_token(request),
        "user": request.user.get_username(),
        "heartbeatS": settings.ALERTS_WS_HEARTBEAT_S,
        "backlog": settings.ALERTS_WS_BACKLOG,
        "severities": [[value, str(label)] for value, label in Alert.Severity.choices],
        "reviews": [[value, str(label)] for value, label in Alert.Review.choices],
        "eventTypes": [[value, str(label)] for value, label in EVENT_TYPE_CHOICES],
    }
    response = render(request, "alerts/dashboard.html", {"config": config})
    response["Content-Security-Policy"] = dashboard_csp()
    return response


@require_GET
@never_cache
@staff_member_required
def camera_snapshot(request: HttpRequest, camera_id: int) -> HttpResponse:
    """The latest annotated frame of a camera, from its capture process (Redis, a few seconds old)."""
    if not request.user.has_perm("cameras.view_camera"):  # as the admin's snapshot view asks
        raise PermissionDenied("Seeing a camera's picture needs the permission to view cameras.")
    jpeg = read_snapshot(camera_id)
    if not jpeg:
        raise Http404("No live image: the camera is not being captured.")
    return HttpResponse(jpeg, content_type="image/jpeg")


@require_GET
@staff_member_required
def alert_track(request: HttpRequest, alert_id: int) -> JsonResponse:
    """The tracked boxes of the seconds up to the detection, timed from it: the clip player's overlay.

    Kept apart from the alert's JSON, which also goes to webhooks and MQTT, where it would only weigh.
    """
    alert = get_object_or_404(Alert.objects.only("pk", "track"), pk=alert_id)
    return JsonResponse({"alert": alert.pk, "frames": alert.track})
