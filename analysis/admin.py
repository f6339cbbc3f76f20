"""LLM analyses in the admin, and the operator's view of the DashScope key pool and budget."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from analysis.budget import Budget
from analysis.keypool import KeyPool
from analysis.models import LLMAnalysis


@admin.register(LLMAnalysis)
class LLMAnalysisAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "event_key",
        "camera",
        "status",
        "reason",
        "model",
        "prompt_version",
        "attempts",
        "latency_ms",
        "tokens_in",
        "tokens_out",
        "tokens_image",
        "cost",
        "created_at",
    ]
    list_filter = ["status", "reason", "model", "prompt_version", "camera"]
    list_select_related = ["camera"]
    search_fields = ["event_key", "request_id"]
    date_hierarchy = "created_at"
    change_list_template = "admin/analysis/llmanalysis/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # an audit record

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path("keys/", self.admin_site.admin_view(self.keypool_view), name="analysis_keypool"),
            path(
                "keys/<str:kid>/enable/",
                self.admin_site.admin_view(self.enable_key_view),
                name="analysis_keypool_enable",
            ),
        ]
        return custom + super().get_urls()

    def keypool_view(self, request: HttpRequest) -> HttpResponse:
        """Each key's state, load and success rate, and what is left of the shared budget."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        pool = KeyPool.from_settings()
        budget = Budget()
        keys = [
            {
                "key": item,
                "success_pct": None if item.success_rate is None else round(100 * item.success_rate),
                "last_used": _when(item.last_used),
                "changed_at": _when(item.changed_at),
            }
            for item in pool.snapshot()
        ]
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "DashScope API key pool",
            "opts": self.model._meta,
            "keys": keys,
            "can_manage": request.user.has_perm("analysis.manage_keypool"),
            "level": budget.level(),
            "conf": budget.conf,
            "calls_last_hour": budget.calls_last_hour(),
            "model": settings.DASHSCOPE_MODEL,
            "endpoint": settings.DASHSCOPE_BASE_URL or "DashScope (the SDK's default endpoint)",
        }
        return TemplateResponse(request, "admin/analysis/keypool.html", context)

    def enable_key_view(self, request: HttpRequest, kid: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("analysis.manage_keypool"):
            raise PermissionDenied
        if KeyPool.from_settings().enable(kid):
            self.message_user(request, f"Key {kid} is enabled again.", messages.SUCCESS)
        else:
            self.message_user(request, f"No configured key has the id {kid}.", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:analysis_keypool"))


def _when(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp else None
