"""Maintenance tasks."""

from __future__ import annotations

import socket
from typing import Any

from core import topology
from core.taskbase import task


@task(topology.PING, bind=True)
def ping(self: Any) -> dict[str, Any]:
    """Answer from whichever queue delivered it: health checks send one to each queue."""
    delivery = self.request.delivery_info or {}
    return {"queue": delivery.get("routing_key"), "host": socket.gethostname(), "worker": self.request.hostname}


@task(topology.COLLECT_GAUGES)
def collect_gauges() -> dict[str, Any]:
    """Queue lengths, capture coverage and open alerts as gauges (beat runs it; see core/schedule.py)."""
    # Imported here, in the maintenance worker only: see core/gauges.py on unlabelled gauges.
    from core import gauges

    return gauges.collect()
