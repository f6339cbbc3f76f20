"""Endpoints outside the admin: liveness, readiness, and evidence images for logged-in staff only."""

from __future__ import annotations

from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse, StreamingHttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_safe
from django_prometheus.exports import ExportToDjangoView

from core import ranges
from core.access import may_see_internals


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process serves requests. Dependencies are /readyz's business."""
    return JsonResponse({"status": "ok"})


@require_safe
@never_cache
async def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness of the whole system (core/readiness.py): 200 when every check passes, else 503.

    Async, and the checks run off the request thread: they may wait seconds for the workers, and
    Django runs every synchronous view of an ASGI server in one shared thread.
    """
    from core.readiness import readiness

    report = await sync_to_async(readiness, thread_sensitive=False)()
    status = 200 if report["status"] == "ok" else 503
    # Details (worker hosts, queues, error texts) only for the metrics token or staff (core/access.py).
    user = await request.auser()
    request.user = user
    if not may_see_internals(request):
        return JsonResponse({"status": report["status"]}, status=status)
    return JsonResponse(report, status=status)


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """django-prometheus's /metrics, for the metrics token or a staff login only."""
    if not may_see_internals(request):
        return HttpResponseForbidden(
            "Metrics need Authorization: Bearer <METRICS_TOKEN> or a staff login.", content_type="text/plain"
        )
    response: HttpResponse = ExportToDjangoView(request)
    return response


@require_GET
@staff_member_required
def protected_media(request: HttpRequest, path: str) -> HttpResponse | StreamingHttpResponse:
    """Evidence images and clips show people and plates: never served without a login, unlike static files.

    Byte ranges are served (206), so a clip seeks in the browser's player."""
    if "\x00" in path:  # the filesystem calls would raise ValueError (a 500), not say "no such file"
        raise Http404("No such file")
    root = Path(settings.MEDIA_ROOT).resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise Http404("No such file")
    return ranges.file_response(request, target)
