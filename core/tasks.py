"""Maintenance tasks."""

from __future__ import annotations

import socket
from typing import Any

from core.taskbase import task


@task("core.ping", queue="maintenance", bind=True, expires=30)
def ping(self: Any) -> dict[str, Any]:
    """Answer from whichever queue delivered it: health checks send one to each queue."""
    delivery = self.request.delivery_info or {}
    return {"queue": delivery.get("routing_key"), "host": socket.gethostname(), "worker": self.request.hostname}


@task("core.collect_gauges", queue="maintenance", soft_time_limit=20, time_limit=30)
def collect_gauges() -> dict[str, Any]:
    """Queue lengths, capture coverage and open alerts as gauges (beat runs it; see core/schedule.py)."""
    from core.gauges import collect

    return collect()
