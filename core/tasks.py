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
