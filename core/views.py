"""Endpoints outside the admin: liveness, and evidence images for logged-in staff only."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import FileResponse, Http404, HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process serves requests. Dependencies are /readyz's business."""
    return JsonResponse({"status": "ok"})


@require_GET
@staff_member_required
def protected_media(request: HttpRequest, path: str) -> FileResponse:
    """Evidence images show people and plates: never served without a login, unlike static files."""
    root = Path(settings.MEDIA_ROOT).resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise Http404("No such file")
    return FileResponse(target.open("rb"))
