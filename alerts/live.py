"""Live pushes to open dashboards through the Channels layer (Redis): new alerts, reviews, camera status.

Groups: every websocket client is in ``cameras`` (status changes of all cameras) and either in
``alerts.all`` or in one ``alerts.camera.<id>`` group per camera it filters on, so a client gets each
alert once. Messages carry data already serialized here, so consumers only forward them.

Pushes happen after the commit of what they announce (callers use ``transaction.on_commit``).
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from alerts import latency
from alerts.models import Alert
from cameras.live import read_stats
from cameras.models import Camera

logger = logging.getLogger(__name__)

ALL_ALERTS = "alerts.all"
CAMERAS = "cameras"
REVIEW_CHUNK = 100  # alerts per "alert.updated" message after a bulk review


def camera_group(camera_id: int) -> str:
    return f"alerts.camera.{camera_id}"


def alert_data(alerts: list[Alert]) -> list[dict[str, Any]]:
    """The JSON form of alerts shared by the websocket, the REST API, webhooks and MQTT."""
    from alerts.api.serializers import AlertSerializer

    return list(AlertSerializer(alerts, many=True).data)


def camera_data(cameras: list[Camera]) -> list[dict[str, Any]]:
    from alerts.api.serializers import CameraStatusSerializer

    return list(CameraStatusSerializer(cameras, many=True).data)


def _send(groups: list[str], message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    send = async_to_sync(layer.group_send)
    for group in groups:
        send(group, message)


def broadcast_created(alert: Alert) -> None:
    """One message per group; raises when the channel layer is unreachable (the caller retries)."""
    (data,) = alert_data([alert])
    _send([ALL_ALERTS, camera_group(alert.camera_id)], {"type": "alert.created", "alert": data})
    try:
        latency.record(alert)
    except Exception:  # a measurement must not make the caller push the alert a second time
        logger.warning("could not record the delay of alert %s", alert.pk, exc_info=True)


def alerts_reviewed(sender: object, alert_ids: list[int], **_: object) -> None:
    """Push the new review state of these alerts to every dashboard (receiver of
    ``alerts.signals.alerts_reviewed``, sent after a review commits; connected in ``AlertsConfig.ready``).

    A failed push must not fail the review, which is committed already: dashboards pick the state
    up on their next (re)connect.
    """
    try:
        for start in range(0, len(alert_ids), REVIEW_CHUNK):
            alerts = list(
                Alert.objects.filter(pk__in=alert_ids[start : start + REVIEW_CHUNK]).select_related(
                    "camera", "reviewed_by"
                )
            )
            items = alert_data(alerts)
            _send([ALL_ALERTS], {"type": "alert.updated", "alerts": items})
            by_camera: dict[int, list[dict[str, Any]]] = {}
            for data in items:
                by_camera.setdefault(data["camera"], []).append(data)
            for camera_id, camera_items in by_camera.items():
                _send([camera_group(camera_id)], {"type": "alert.updated", "alerts": camera_items})
    except Exception:
        logger.exception("could not push the review of %d alert(s) to dashboards", len(alert_ids))


def push_camera_status(camera_id: int) -> bool:
    """Push a camera's current status to every dashboard (the ``alerts.push_camera_status`` task, sent
    when its capture process changed it). False when the camera is gone."""
    camera = Camera.objects.filter(pk=camera_id).first()
    if camera is None:
        return False
    (data,) = camera_data([camera])
    _send([CAMERAS], {"type": "camera.status", "camera": data})
    return True


def live_stats(camera_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each camera's live counters written by its capture process (fps, tracks, drops), if fresh."""
    return read_stats(camera_ids)
