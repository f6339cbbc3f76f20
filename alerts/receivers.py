"""Receivers of the lower layers' signals. Light on imports: they run in every process (the capture
process included), so they only send tasks; the alerts worker does the pushing (alerts/live.py)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from core.taskbase import send
from core.topology import PUSH_CAMERA_STATUS

logger = logging.getLogger(__name__)


def camera_status_changed(sender: Any, camera: Any, **_: Any) -> None:
    """Push the camera's new status to open dashboards, after its commit; never raises into capture."""
    camera_id = camera.pk

    def push() -> None:
        try:
            send(PUSH_CAMERA_STATUS, camera_id)
        except Exception:  # the broker is down: dashboards catch up on the next heartbeat or reconnect
            logger.warning("could not send the status of camera %s to dashboards", camera_id)

    transaction.on_commit(push)


def alerts_reviewed(sender: Any, alert_ids: list[int], **_: Any) -> None:
    """Push a committed review to every dashboard. Reviews happen in web processes, which run
    Channels anyway; the import is deferred so that the other processes never load it."""
    from alerts import live

    live.alerts_reviewed(sender, alert_ids)
