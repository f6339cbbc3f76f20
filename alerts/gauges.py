"""The alerts' periodic gauge (registered with ``core.gauges`` by ``AlertsConfig.ready``; imported
only by the maintenance worker's collection, see core/gauges.py)."""

from __future__ import annotations

from django.db.models import Count
from prometheus_client import Gauge

from alerts.models import Alert

ALERTS_OPEN = Gauge(
    "trafficsite_alerts_open", "Alerts not reviewed yet (status new)", ["severity"], multiprocess_mode="mostrecent"
)


def collect() -> dict[str, int]:
    open_counts = dict(
        Alert.objects.filter(review_status=Alert.Review.NEW)
        .values_list("severity")
        .annotate(n=Count("id"))
        .values_list("severity", "n")
    )
    open_alerts = {str(s.label).lower(): int(open_counts.get(s.value, 0)) for s in Alert.Severity}
    for severity, count in open_alerts.items():
        ALERTS_OPEN.labels(severity).set(count)
    return open_alerts
