"""Beat's schedule: periodic work of the maintenance queue.

Installed as defaults of the Celery app (``trafficsite.celery``), so ``celery -A trafficsite beat``
needs no option. Run exactly one beat per deployment: two would send everything twice.
"""

from __future__ import annotations

from typing import Any


def beat_schedule() -> dict[str, dict[str, Any]]:
    from django.conf import settings

    interval = settings.GAUGES_INTERVAL_S
    return {
        "collect-gauges": {
            "task": "core.collect_gauges",
            "schedule": interval,
            # A run that waited longer than one interval is stale: the next one is already queued.
            "options": {"queue": "maintenance", "expires": interval},
        },
        # Alerts past their camera's retention, with their images (alerts/retention.py).
        "purge-expired-alerts": {
            "task": "alerts.purge_expired",
            "schedule": settings.ALERTS_RETENTION_INTERVAL_S,
            "options": {
                "queue": "maintenance",
                "routing_key": "maintenance",
                "expires": settings.ALERTS_RETENTION_INTERVAL_S,
            },
        },
    }
