"""Endpoints outside the admin: liveness, readiness, and evidence images for logged-in staff only."""

from __future__ import annotations

from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_safe

from core import ranges


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
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


@require_GET
@staff_member_required
def protected_media(request: HttpRequest, path: str) -> HttpResponse | StreamingHttpResponse:
    """Evidence images and clips show people and plates: never served without a login, unlike static files.

    Byte ranges are served (206), so a clip seeks in the browser's player."""
    root = Path(settings.MEDIA_ROOT).resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise Http404("No such file")
    return ranges.file_response(request, target)
