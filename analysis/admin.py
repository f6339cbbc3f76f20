from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from analysis.models import LLMAnalysis


@admin.register(LLMAnalysis)
class LLMAnalysisAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "event_key",
        "camera",
        "status",
        "model",
        "prompt_version",
        "latency_ms",
        "tokens_in",
        "tokens_out",
        "tokens_image",
        "created_at",
    ]
    list_filter = ["status", "model", "prompt_version", "camera"]
    list_select_related = ["camera"]
    search_fields = ["event_key", "request_id"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # an audit record
