"""Beat's schedule: periodic work of the maintenance queue.

Installed as defaults of the Celery app (``trafficsite.celery``), so ``celery -A trafficsite beat``
needs no option. Run exactly one beat per deployment: two would send everything twice.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from core.topology import COLLECT_GAUGES, PURGE_EXPIRED


def beat_schedule() -> dict[str, dict[str, Any]]:
    interval = settings.GAUGES_INTERVAL_S
    return {
        "collect-gauges": {
            "task": COLLECT_GAUGES.name,
            "schedule": interval,
            # A run that waited longer than one interval is stale: the next one is already queued.
            "options": {"queue": COLLECT_GAUGES.queue, "expires": interval},
        },
        # Alerts past their camera's retention, with their images (alerts/retention.py).
        "purge-expired-alerts": {
            "task": PURGE_EXPIRED.name,
            "schedule": settings.ALERTS_RETENTION_INTERVAL_S,
            "options": {"queue": PURGE_EXPIRED.queue, "expires": settings.ALERTS_RETENTION_INTERVAL_S},
        },
    }
