"""Alert statistics, and the false-positive rates that tell where a rule's thresholds misfire.

A false-positive rate is taken over the alerts operators judged: confirmed, resolved (handled, so
real) and false positive. Alerts only acknowledged or not reviewed yet say nothing either way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from alerts.models import Alert

Review = Alert.Review

_COUNTS = {
    "total": Count("id"),
    "open": Count("id", filter=Q(review_status=Review.NEW)),
    "acknowledged": Count("id", filter=Q(review_status=Review.ACKNOWLEDGED)),
    "confirmed": Count("id", filter=Q(review_status=Review.CONFIRMED)),
    "resolved": Count("id", filter=Q(review_status=Review.RESOLVED)),
    "false_positive": Count("id", filter=Q(review_status=Review.FALSE_POSITIVE)),
    "llm_rejected": Count("id", filter=Q(verification=Alert.Verification.REJECTED)),
}


def _rows(queryset: QuerySet[Alert], group: list[str], rename: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for row in queryset.values(*group).annotate(**_COUNTS).order_by(*group):
        row = {rename.get(k, k): v for k, v in row.items()}
        row["judged"] = row["confirmed"] + row["resolved"] + row["false_positive"]
        row["false_positive_rate"] = round(row["false_positive"] / row["judged"], 4) if row["judged"] else None
        rows.append(row)
    return rows


def alert_stats(since: datetime | None = None) -> dict[str, Any]:
    alerts = Alert.objects.all()
    if since is not None:
        alerts = alerts.filter(detected_at__gte=since)
    camera = {"camera_id": "camera", "camera__name": "camera_name"}
    by_severity = dict(alerts.values_list("severity").annotate(n=Count("id")).values_list("severity", "n"))
    by_review = dict(alerts.values_list("review_status").annotate(n=Count("id")).values_list("review_status", "n"))
    return {
        "since": since,
        "total": sum(by_severity.values()),
        "open": by_review.get(Review.NEW, 0),
        "last_24h": alerts.filter(detected_at__gte=timezone.now() - timedelta(hours=24)).count(),
        "by_severity": {str(s.label).lower(): by_severity.get(s.value, 0) for s in Alert.Severity},
        "by_review_status": {status.value: by_review.get(status.value, 0) for status in Review},
        "per_camera": _rows(alerts, ["camera__name", "camera_id"], camera),
        "per_rule": _rows(alerts, ["event_type"], {}),
        # Sorted worst first: the pairs to tune (the camera's rule overrides) lead the list.
        "per_camera_rule": sorted(
            _rows(alerts, ["camera__name", "camera_id", "event_type"], camera),
            key=lambda r: (-(r["false_positive_rate"] or 0), -r["judged"], r["camera_name"], r["event_type"]),
        ),
    }
