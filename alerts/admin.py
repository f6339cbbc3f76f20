"""Alert review in the admin: evidence at a glance, filters, bulk review actions and false-positive
rates; webhook destinations with their delivery health; API tokens that are never listed in full."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from alerts import bundle, webhooks
from alerts.models import Alert, WebhookDestination
from alerts.stats import alert_stats
from alerts.webhook_guard import check_url
from core.adminsecrets import SecretFieldsAdminMixin
from core.netguard import AddressRefused, Unresolvable
from core.taskbase import send
from core.topology import TEST_WEBHOOK


def _review_action(status: str, label: str) -> Callable[..., None]:
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Alert]) -> None:  # type: ignore[type-arg]
        count = queryset.review(status, request.user)  # type: ignore[attr-defined]
        modeladmin.message_user(request, f"Marked {count} alert(s) as {label.lower()}.", messages.SUCCESS)

    action.__name__ = f"mark_{status}"
    # Offered to those who may change alerts only: Django lists an action for every viewer otherwise.
    return admin.action(description=f"Mark selected alerts as {label.lower()}", permissions=["change"])(action)


def _thumbnail(field: Any, width: int) -> str:
    if not field:
        return "—"
    return format_html('<img src="{}" width="{}" loading="lazy" alt="evidence">', field.url, width)


@admin.register(Alert)
class AlertAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "thumbnail",
        "event_type",
        "camera",
        "severity",
        "verification",
        "review_status",
        "reviewed_by",
        "confidence",
        "detected_at",
    ]
    change_list_template = "admin/alerts/alert/change_list.html"
    list_display_links = ["thumbnail", "event_type"]
    list_filter = ["review_status", "severity", "event_type", "verification", "camera", "detected_at"]
    list_select_related = ["camera", "reviewed_by"]
    search_fields = ["description", "camera__name", "idempotency_key"]
    date_hierarchy = "detected_at"
    actions = [*(_review_action(value, label) for value, label in Alert.Review.choices), "export_bundle"]
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
        "clip_player",
        "clip_status",
        "clip_note",
        "measurements",
        "verification",
        "analysis",
        "description",
        "reviewed_by",
        "reviewed_at",
        "review_history",
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
        ("Evidence", {"fields": ["clip_player", "keyframe_preview", "crop_preview", "measurements"]}),
        ("Verification", {"fields": ["verification", "analysis", "description"]}),
        ("Review", {"fields": ["review_status", "review_note", "reviewed_by", "reviewed_at", "review_history"]}),
        ("Bookkeeping", {"classes": ["collapse"], "fields": ["idempotency_key", "created_at"]}),
    ]

    class Media:
        css = {"all": ["alerts/player.css"]}
        js = ["alerts/player.js"]

    @admin.display(description="clip")
    def clip_player(self, obj: Alert) -> str:
        """The dashboard's player: the clip with the event's start and detection marked, boxes on request."""
        from alerts.live import alert_data

        (data,) = alert_data([obj])
        return format_html('<div class="evidence-player" data-alert="{}"></div>', json.dumps(data, default=str))

    @admin.display(description="history")
    def review_history(self, obj: Alert) -> str:
        """Every review of this alert, newest first (append-only, AlertReview)."""
        rows = format_html_join(
            "",
            "<li>{}: {} &rarr; {} by {}{}</li>",
            (
                (
                    r.at.strftime("%Y-%m-%d %H:%M"),
                    r.previous_status,
                    r.status,
                    r.reviewer or "—",
                    f" ({r.note})" if r.note else "",
                )
                for r in obj.reviews.select_related("reviewer")
            ),
        )
        return format_html("<ul>{}</ul>", rows) if rows else "—"

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

    @admin.action(description="Export the evidence of the selected alerts (signed ZIP)")
    def export_bundle(self, request: HttpRequest, queryset: QuerySet[Alert]) -> StreamingHttpResponse:
        return bundle.streaming_response(list(queryset.values_list("pk", flat=True)), request.user.get_username())

    def get_urls(self) -> list[URLPattern]:
        rates = path("rates/", self.admin_site.admin_view(self.rates_view), name="alerts_alert_rates")
        return [rates, *super().get_urls()]

    def rates_view(self, request: HttpRequest) -> HttpResponse:
        """False-positive rates per camera, rule and camera-rule pair, to see which thresholds to tune."""
        try:
            days = max(0, min(3650, int(request.GET.get("days", "30"))))
        except ValueError:
            days = 30
        stats = alert_stats(timezone.now() - timedelta(days=days) if days else None)
        context = {
            **self.admin_site.each_context(request),
            "title": "False-positive rates",
            "opts": self.model._meta,
            "stats": stats,
            "days": days,
            "day_choices": [1, 7, 30, 90, 365, 0],
            "rules": dict(Alert._meta.get_field("event_type").choices or []),
        }
        return TemplateResponse(request, "admin/alerts/alert/rates.html", context)

    def save_model(self, request: HttpRequest, obj: Alert, form: Any, change: bool) -> None:
        if change and "review_status" in form.changed_data:
            Alert.objects.filter(pk=obj.pk).review(obj.review_status, request.user, obj.review_note)
            return
        super().save_model(request, obj, form, change)


class WebhookDestinationForm(forms.ModelForm):  # type: ignore[type-arg]
    """A new destination gets a generated secret to copy; afterwards the secret is never sent back."""

    url = forms.URLField(max_length=500, assume_scheme="https", help_text="Receives a POST with the alert as JSON.")

    class Meta:
        model = WebhookDestination
        fields = ["name", "url", "secret", "enabled", "min_severity", "cameras"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["secret"]
        if self.instance.pk:
            field.widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
            field.required = False
            field.help_text = "Leave empty to keep the current secret; type a new one to rotate it."
            self.initial["secret"] = ""
        else:
            field.widget = forms.TextInput(attrs={"size": 60, "autocomplete": "off"})
            field.help_text = (
                "Copy this generated secret to the receiver now (or type your own, 16 characters or more): "
                "it is not shown again. The receiver checks X-Trafficsite-Signature with it (docs/alerts.md)."
            )
            self.initial.setdefault("secret", secrets.token_urlsafe(32))

    def clean_url(self) -> str:
        value: str = self.cleaned_data["url"]
        try:
            check_url(value)
        except Unresolvable:
            pass  # not known to be internal; checked again, resolved, before every POST
        except AddressRefused as exc:
            raise ValidationError(str(exc)) from None
        return value

    def clean_secret(self) -> str:
        value: str = self.cleaned_data.get("secret") or ""
        if not value and self.instance.pk:
            return str(WebhookDestination.objects.get(pk=self.instance.pk).secret)
        if len(value) < 16:
            raise ValidationError("Use a secret of 16 characters or more.")
        return value


@admin.register(WebhookDestination)
class WebhookDestinationAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    form = WebhookDestinationForm
    list_display = ["name", "endpoint", "enabled", "min_severity", "health", "deliveries", "short_error"]
    list_filter = ["enabled", "min_severity"]
    search_fields = ["name"]  # not the URL: it may hold a token
    filter_horizontal = ["cameras"]
    actions = ["send_test", "reset_counters"]
    readonly_fields = (
        "deliveries_ok",
        "deliveries_failed",
        "consecutive_failures",
        "last_success_at",
        "last_failure_at",
        "last_error",
        "created_at",
    )
    fieldsets = [
        (None, {"fields": ["name", "url", "secret", "enabled"]}),
        ("What it receives", {"fields": ["min_severity", "cameras"]}),
        ("Delivery health", {"fields": readonly_fields}),
    ]

    @admin.display(description="endpoint")
    def endpoint(self, obj: WebhookDestination) -> str:
        return webhooks.public_url(obj.url)

    @admin.display(description="health", ordering="consecutive_failures")
    def health(self, obj: WebhookDestination) -> str:
        if obj.consecutive_failures:
            state, text = "failing", f"failing ({obj.consecutive_failures} in a row)"
        elif obj.last_success_at:
            state, text = "ok", "ok"
        else:
            state, text = "unknown", "no delivery yet"
        return format_html(
            '<span class="badge badge-{}">{}</span>',
            state,
            text,
        )

    @admin.display(description="deliveries")
    def deliveries(self, obj: WebhookDestination) -> str:
        last = max(filter(None, [obj.last_success_at, obj.last_failure_at]), default=None)
        when = f", last {naturaltime(last)}" if last else ""
        return f"{obj.deliveries_ok} ok, {obj.deliveries_failed} failed attempt(s){when}"

    @admin.display(description="last error")
    def short_error(self, obj: WebhookDestination) -> str:
        return obj.last_error[:80] + ("…" if len(obj.last_error) > 80 else "") if obj.consecutive_failures else ""

    @admin.action(description="Send a signed test event")
    def send_test(self, request: HttpRequest, queryset: QuerySet[WebhookDestination]) -> None:
        # Sent by an alerts worker under a hard time limit, not inside this request: the outcome
        # shows in the list's health and last error a moment later.
        for destination in queryset:
            send(TEST_WEBHOOK, destination.pk)
            self.message_user(
                request, f"{destination.name}: test event queued; reload to see the outcome.", messages.SUCCESS
            )

    @admin.action(description="Reset the delivery counters")
    def reset_counters(self, request: HttpRequest, queryset: QuerySet[WebhookDestination]) -> None:
        count = queryset.update(deliveries_ok=0, deliveries_failed=0, consecutive_failures=0, last_error="")
        self.message_user(request, f"Reset {count} destination(s).", messages.SUCCESS)


# DRF lists tokens in full; ours lists their last characters and shows a new key once, on creation.
admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class MaskedTokenAdmin(SecretFieldsAdminMixin, TokenAdmin):
    list_display = ("masked_key", "user", "created")

    @admin.display(description="key")
    def masked_key(self, obj: TokenProxy) -> str:
        return f"…{obj.key[-4:]}"

    def response_add(self, request: HttpRequest, obj: TokenProxy, post_url_continue: str | None = None) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": f"API token for {obj.user}",
            "opts": self.model._meta,
            "token": obj,
        }
        return TemplateResponse(request, "admin/authtoken/token_created.html", context)
