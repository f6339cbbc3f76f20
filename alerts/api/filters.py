"""The alert list's query filters, as a django-filter FilterSet.

django-filter parses and validates the query string (a bad value answers 400 with the field's
message, never 500), and drf-spectacular generates the OpenAPI parameters from this class, so the
filters and their documentation cannot drift apart. Every multi-valued filter takes a repeated
parameter or a comma-separated list: ``?camera=1&camera=2`` or ``?camera=1,2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# django-filter ships no type information (no py.typed, no maintained stubs): its classes are Any.
import django_filters  # type: ignore[import-untyped]
from django import forms
from django.utils.datastructures import MultiValueDict
from django_filters.widgets import BaseCSVWidget  # type: ignore[import-untyped]

from alerts.models import Alert
from cameras.config import EVENT_TYPE_CHOICES

_DATETIME = "Expected an ISO 8601 date and time, e.g. 2026-11-27T08:00:00Z."
_SEVERITY = "Expected 1 (low) to 4 (critical)."


class RepeatedCSVWidget(BaseCSVWidget, forms.TextInput):  # type: ignore[misc]
    """``?camera=1&camera=2`` as well as ``?camera=1,2``, blanks dropped.

    django-filter's CSV widget reads one value of a repeated parameter, and its QueryArrayWidget
    splits commas only outside a QueryDict, i.e. never for a request's query string.
    """

    def value_from_datadict(self, data: Mapping[str, Any], files: Any, name: str) -> list[str] | None:
        raw = data.getlist(name) if isinstance(data, MultiValueDict) else [data.get(name)]
        values = [part.strip() for item in raw if item for part in str(item).split(",") if part.strip()]
        return values or None  # None: the filter is not applied


class IntegerFilter(django_filters.Filter):  # type: ignore[misc]
    field_class = forms.IntegerField


class IntegerInFilter(django_filters.BaseInFilter, IntegerFilter):  # type: ignore[misc]
    base_field_class = django_filters.fields.BaseCSVField


def _multiple_choice(choices: list[tuple[str, str]], help_text: str) -> Any:
    """A choice filter that takes several values, with the accepted ones in its error message."""
    values = ", ".join(value for value, _ in choices)
    return django_filters.MultipleChoiceFilter(
        choices=choices,
        widget=RepeatedCSVWidget,
        help_text=help_text,
        error_messages={"invalid_choice": f"Unknown value %(value)s; expected {values}."},
    )


class AlertFilter(django_filters.FilterSet):  # type: ignore[misc]
    camera = IntegerInFilter(
        field_name="camera_id",
        lookup_expr="in",
        widget=RepeatedCSVWidget,
        help_text="Camera id(s): 1 or 1,2 (repeatable).",
        error_messages={"invalid": "Expected integers, e.g. 1 or 1,2."},
    )
    event_type = _multiple_choice(EVENT_TYPE_CHOICES, "Rule(s), comma-separated or repeated.")
    min_severity = IntegerFilter(
        field_name="severity",
        lookup_expr="gte",
        min_value=1,
        max_value=4,
        help_text="1 low, 2 medium, 3 high, 4 critical.",
        error_messages={"invalid": _SEVERITY, "min_value": _SEVERITY, "max_value": _SEVERITY},
    )
    review_status = _multiple_choice(Alert.Review.choices, "Review status(es), comma-separated or repeated.")
    verification = _multiple_choice(Alert.Verification.choices, "LLM verification(s), comma-separated or repeated.")
    since = django_filters.IsoDateTimeFilter(
        field_name="detected_at",
        lookup_expr="gte",
        help_text="Detected at or after (ISO 8601; without a zone: the server's TIME_ZONE).",
        error_messages={"invalid": _DATETIME},
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="detected_at",
        lookup_expr="lt",
        help_text="Detected before (ISO 8601; without a zone: the server's TIME_ZONE).",
        error_messages={"invalid": _DATETIME},
    )

    class Meta:
        model = Alert
        fields: list[str] = []  # only the filters declared above
