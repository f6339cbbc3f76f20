"""How late an alert is: from the capture of its triggering frame to its push to the dashboards."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from alerts import latency
from alerts.record import record_alert
from core.redisclient import get_redis
from tests.factories import make_camera
from tests.support.alert_events import event_payload
from trafficsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def histogram_count(event_type: str, verified: str) -> float:
    for metric in latency.ALERT_DELAY.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels == {"event_type": event_type, "verified": verified}:
                return float(sample.value)
    return 0.0


def test_a_pushed_alert_is_measured_from_its_frames_capture_and_shown_as_the_hours_p95() -> None:
    get_redis().delete(latency.recent_key())
    camera = make_camera()
    before = histogram_count("near_miss", "false")
    payload = event_payload(camera.pk)
    captured = datetime.now(tz=UTC) - timedelta(seconds=2.5)  # the frame was taken 2.5 s before the push
    payload["detected_at"] = captured.isoformat()
    payload["started_at"] = (captured - timedelta(seconds=0.4)).isoformat()
    _, created = record_alert(payload)
    assert created
    assert histogram_count("near_miss", "false") == before + 1
    summary = latency.p95_last_hour()
    assert summary["count"] == 1
    assert summary["p95_s"] is not None and 2.5 <= float(summary["p95_s"]) < 10


def test_the_p95_is_the_nearest_rank_over_the_last_hour_only() -> None:
    client = get_redis()
    client.delete(latency.recent_key())
    now = time.time()
    client.zadd(latency.recent_key(), {f"{i}:{float(i)}": now - 10 for i in range(1, 21)})  # 1 .. 20 s
    client.zadd(latency.recent_key(), {"99:500.0": now - 4000})  # older than an hour: not counted
    assert latency.p95_last_hour(now) == {"p95_s": 19.0, "count": 20}


def test_the_dashboard_gets_the_p95_on_connect() -> None:
    get_redis().delete(latency.recent_key())
    get_redis().zadd(latency.recent_key(), {"1:1.5": time.time()})
    user = User.objects.create_user("dora", password="a-long-operator-password", is_staff=True)
    client = Client()
    client.force_login(user)
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())

    async def scenario() -> None:
        ws = WebsocketCommunicator(
            application, "/ws/alerts/", headers=[(b"host", b"localhost"), (b"origin", b"http://localhost"), cookie]
        )
        assert (await ws.connect())[0]
        assert (await ws.receive_json_from(timeout=5))["type"] == "hello"
        snapshot = await ws.receive_json_from(timeout=5)
        assert snapshot["alert_delay"] == {"p95_s": 1.5, "count": 1}
        await ws.disconnect()

    async_to_sync(scenario)()
