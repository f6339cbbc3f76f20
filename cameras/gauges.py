"""The cameras' periodic gauge (registered with ``core.gauges`` by ``CamerasConfig.ready``; imported
only by the maintenance worker's collection, see core/gauges.py)."""

from __future__ import annotations

from prometheus_client import Gauge

from cameras.models import Camera

CAMERAS_ENABLED = Gauge(
    "trafficsite_cameras_enabled", "Cameras enabled in the database", multiprocess_mode="mostrecent"
)


def collect() -> int:
    enabled = Camera.objects.filter(enabled=True).count()
    CAMERAS_ENABLED.set(enabled)
    return enabled
