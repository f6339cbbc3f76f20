"""MQTT: each alert at or above MQTT_MIN_SEVERITY is published to ``<prefix>/cameras/<id>/alerts``.

One short connection per message: alerts come a few a minute, and a connection kept open in a
prefork child would need its own reconnect and fork handling for no gain. QoS 1 (the default) means
the broker acknowledged the message before the task succeeds; a subscriber may see a duplicate after
a retry, and ``alert.id`` identifies it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from django.conf import settings
from paho.mqtt.enums import CallbackAPIVersion

from alerts.models import Alert
from alerts.notifications import ALERT_CREATED, TransportError, message

logger = logging.getLogger(__name__)


def topic(camera_id: int) -> str:
    return f"{settings.MQTT_TOPIC_PREFIX}/cameras/{camera_id}/alerts"


def publish_alert(alert_id: int) -> str:
    """Publish one alert. Returns "sent" or why nothing was sent; raises TransportError."""
    if not settings.MQTT_URL:
        return "mqtt off"
    alert = Alert.objects.select_related("camera", "reviewed_by").filter(pk=alert_id).first()
    if alert is None:
        return "alert gone"
    payload = json.dumps(message(ALERT_CREATED, alert), separators=(",", ":"), sort_keys=True)
    publish(settings.MQTT_URL, topic(alert.camera_id), payload)
    logger.info("alert #%s published to MQTT topic %s", alert.pk, topic(alert.camera_id))
    return "sent"


def publish(url: str, topic_name: str, payload: str) -> None:
    """Connect, wait for the broker's CONNACK, publish with MQTT_QOS and wait for its acknowledgement."""
    parts = urlsplit(url)
    timeout = settings.MQTT_TIMEOUT_S
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"trafficsite-{os.getpid()}-{secrets.token_hex(4)}",
        reconnect_on_failure=False,
    )
    if parts.username:
        client.username_pw_set(unquote(parts.username), unquote(parts.password) if parts.password else None)
    if parts.scheme == "mqtts":
        client.tls_set()
    connected = threading.Event()
    outcome: dict[str, object] = {}

    def on_connect(client: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        outcome["reason"] = reason
        connected.set()

    client.on_connect = on_connect
    host = parts.hostname or "127.0.0.1"
    try:
        client.connect(host, parts.port or (8883 if parts.scheme == "mqtts" else 1883), keepalive=30)
    except (OSError, ValueError) as exc:
        raise TransportError(f"cannot connect to the MQTT broker at {host}: {exc}", permanent=False) from None
    client.loop_start()
    try:
        if not connected.wait(timeout):
            raise TransportError(f"no CONNACK from the MQTT broker at {host} within {timeout} s", permanent=False)
        reason = outcome["reason"]
        if getattr(reason, "is_failure", False):
            # Bad credentials or a refused client: a retry with the same settings fails the same way.
            raise TransportError(f"the MQTT broker at {host} refused the connection: {reason}", permanent=True)
        info = client.publish(topic_name, payload, qos=settings.MQTT_QOS)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError) as exc:
            raise TransportError(f"MQTT publish failed: {exc}", permanent=False) from None
        if not info.is_published():
            raise TransportError(f"the MQTT broker at {host} did not acknowledge within {timeout} s", permanent=False)
    finally:
        client.disconnect()
        client.loop_stop()
