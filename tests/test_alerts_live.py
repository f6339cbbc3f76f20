"""The /ws/alerts/ websocket through the whole ASGI stack (origin check, session and token login) on the
real Redis channel layer, and the broadcasts behind it: new alerts once, reviews, camera status."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.db import IntegrityError
from django.test import Client
from rest_framework.authtoken.models import Token

from alerts import live
from alerts.models import Alert
from alerts.record import record_alert
from cameras.models import Camera
from tests.factories import make_alert, make_camera
from tests.support.alert_events import event_payload
from trafficsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")


@pytest.fixture
def operator() -> User:
    return User.objects.create_user("olga", password="a-long-operator-password", is_staff=True)


def session_cookie(user: User) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def socket(path: str = "/ws/alerts/", *headers: tuple[bytes, bytes]) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, path, headers=[(b"host", b"localhost"), *headers])


async def receive_type(ws: WebsocketCommunicator, kind: str, timeout: float = 3.0) -> dict[str, Any]:
    """The next message of ``kind``, skipping heartbeats and others."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise AssertionError(f"no {kind} message within {timeout} s")
        message: dict[str, Any] = await ws.receive_json_from(timeout=remaining)
        if message["type"] == kind:
            return message


async def connected(ws: WebsocketCommunicator) -> dict[str, Any]:
    ok, _ = await ws.connect()
    assert ok
    assert (await ws.receive_json_from())["type"] == "hello"
    return await receive_type(ws, "snapshot")


def run(scenario: Any) -> None:
    async_to_sync(scenario)()


def test_an_anonymous_websocket_is_refused() -> None:
    async def scenario() -> None:
        ws = socket("/ws/alerts/", ORIGIN)
        ok, _ = await ws.connect()
        assert not ok
        await ws.disconnect()

    run(scenario)


def test_a_logged_in_user_who_is_not_an_operator_is_refused() -> None:
    clerk = User.objects.create_user("clerk", password="a-long-clerk-password")  # not staff
    cookie = session_cookie(clerk)

    async def scenario() -> None:
        ws = socket("/ws/alerts/", ORIGIN, cookie)
        ok, _ = await ws.connect()
        assert not ok
        await ws.disconnect()

    run(scenario)


def test_a_foreign_origin_is_refused_even_with_a_session(operator: User) -> None:
    cookie = session_cookie(operator)

    async def scenario() -> None:
        for origin in [(b"origin", b"https://evil.example"), None]:
            ws = socket("/ws/alerts/", cookie, *([origin] if origin else []))
            ok, _ = await ws.connect()
            assert not ok, origin
            await ws.disconnect()

    run(scenario)


def test_on_connect_an_operator_gets_the_last_alerts_and_every_camera(operator: User, settings) -> None:
    settings.ALERTS_WS_BACKLOG = 3
    gate = make_camera(name="Gate", source_url="rtsp://admin:hunter2@cam.example/live")
    alerts = [make_alert(gate) for _ in range(5)]
    cookie = session_cookie(operator)

    async def scenario() -> None:
        ws = socket("/ws/alerts/", ORIGIN, cookie)
        snapshot = await connected(ws)
        assert [a["id"] for a in snapshot["alerts"]] == [a.pk for a in reversed(alerts)][:3]
        assert snapshot["cameras"][0]["name"] == "Gate"
        assert "hunter2" not in str(snapshot) and "source" not in snapshot["cameras"][0]
        await ws.disconnect()

    run(scenario)


def test_an_api_client_connects_with_its_token_in_a_header(operator: User) -> None:
    token = Token.objects.create(user=operator)

    async def scenario() -> None:
        ws = socket("/ws/alerts/", ORIGIN, (b"authorization", f"Token {token.key}".encode()))
        await connected(ws)
        await ws.disconnect()
        wrong = socket("/ws/alerts/", ORIGIN, (b"authorization", b"Token not-a-real-token"))
        ok, _ = await wrong.connect()
        assert not ok
        await wrong.disconnect()

    run(scenario)


def test_a_recorded_alert_reaches_a_connected_client(operator: User) -> None:
    camera = make_camera(name="North")
    cookie = session_cookie(operator)

    async def scenario() -> None:
        ws = socket("/ws/alerts/", ORIGIN, cookie)
        await connected(ws)
        payload = event_payload(camera.pk, severity=4)
        alert, created = await sync_to_async(record_alert)(payload)
        message = await receive_type(ws, "alert.created")
        assert created and message["alert"]["id"] == alert.pk
        data = message["alert"]
        assert (data["camera_name"], data["severity_label"], data["event_type"]) == ("North", "Critical", "near_miss")
        assert data["measurements"] == {"ttc_s": 0.9, "distance_m": 2.1, "speed_kmh": 38.4}
        assert data["keyframe_url"].startswith("/media/alerts/") and data["notified_at"] is not None
        await ws.disconnect()

    run(scenario)
    assert Alert.objects.get().notified_at is not None


def test_two_record_calls_for_one_event_give_one_row_and_one_broadcast() -> None:
    camera = make_camera()
    payload = event_payload(camera.pk)
    layer = get_channel_layer()

    async def scenario() -> None:
        channel = await layer.new_channel()
        await layer.group_add(live.ALL_ALERTS, channel)
        first, created = await sync_to_async(record_alert)(payload)
        again, created_again = await sync_to_async(record_alert)(payload)
        assert created and not created_again and first.pk == again.pk
        message = await asyncio.wait_for(layer.receive(channel), 3)
        assert (message["type"], message["alert"]["id"]) == ("alert.created", first.pk)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(layer.receive(channel), 1.0)
        await layer.group_discard(live.ALL_ALERTS, channel)

    run(scenario)
    assert Alert.objects.filter(idempotency_key=payload["event_key"]).count() == 1


def test_an_alert_stored_while_redis_refused_the_push_is_announced_by_the_retry(settings) -> None:
    camera = make_camera()
    payload = event_payload(camera.pk)
    layers = settings.CHANNEL_LAYERS
    # A port nothing listens on: the push fails as it would with Redis down.
    settings.CHANNEL_LAYERS = {"default": {**layers["default"], "CONFIG": {"hosts": ["redis://127.0.0.1:9/0"]}}}
    with pytest.raises(Exception, match=r"(?i)connect"):
        record_alert(payload)
    stored = Alert.objects.get(idempotency_key=payload["event_key"])
    assert stored.notified_at is None  # the claim was released
    settings.CHANNEL_LAYERS = layers
    layer = get_channel_layer()

    async def scenario() -> None:
        channel = await layer.new_channel()
        await layer.group_add(live.camera_group(camera.pk), channel)
        again, created = await sync_to_async(record_alert)(payload)  # the task's retry
        assert not created and again.pk == stored.pk
        message = await asyncio.wait_for(layer.receive(channel), 3)
        assert message["alert"]["id"] == stored.pk

    run(scenario)
    assert Alert.objects.get(pk=stored.pk).notified_at is not None


def test_an_integrity_error_other_than_a_duplicate_is_not_taken_for_one() -> None:
    payload = event_payload(camera_id=987654)  # no such camera: a foreign-key violation
    with pytest.raises(IntegrityError):
        record_alert(payload)
    assert not Alert.objects.exists()


def test_filters_by_camera_and_severity_apply_to_the_backlog_and_live_alerts(operator: User) -> None:
    north, south = make_camera(name="North"), make_camera(name="South")
    make_alert(north, severity=2)
    high_south = make_alert(south, severity=3)
    cookie = session_cookie(operator)

    async def scenario() -> None:
        ws = socket(f"/ws/alerts/?camera={south.pk}&min_severity=3", ORIGIN, cookie)
        snapshot = await connected(ws)
        assert [a["id"] for a in snapshot["alerts"]] == [high_south.pk]
        assert snapshot["filters"] == {"cameras": [south.pk], "min_severity": 3, "limit": 50}
        for camera, severity in [(north, 4), (south, 2), (south, 4)]:
            await sync_to_async(record_alert)(event_payload(camera.pk, severity=severity))
        message = await receive_type(ws, "alert.created")
        assert (message["alert"]["camera"], message["alert"]["severity"]) == (south.pk, 4)
        # Changing the filters after connecting: a fresh snapshot for the new subscription.
        await ws.send_json_to({"type": "subscribe", "cameras": [north.pk], "min_severity": 1})
        snapshot = await receive_type(ws, "snapshot")
        assert {a["camera"] for a in snapshot["alerts"]} == {north.pk} and len(snapshot["alerts"]) == 2
        await ws.send_json_to({"type": "subscribe", "min_severity": 9})
        assert "min_severity" in (await receive_type(ws, "error"))["error"]
        await sync_to_async(record_alert)(event_payload(south.pk, severity=4))
        assert await ws.receive_nothing(timeout=0.5)  # South is no longer watched
        await ws.disconnect()

    run(scenario)


def test_a_review_is_pushed_to_every_open_dashboard(operator: User) -> None:
    camera = make_camera()
    alert = make_alert(camera)
    other = User.objects.create_user("pavel", password="a-long-operator-password", is_staff=True)
    cookies = [session_cookie(operator), session_cookie(other)]

    async def scenario() -> None:
        sockets = [socket("/ws/alerts/", ORIGIN, cookie) for cookie in cookies]
        for ws in sockets:
            await connected(ws)
        await sync_to_async(lambda: Alert.objects.filter(pk=alert.pk).review("false_positive", operator, "shadow"))()
        for ws in sockets:
            update = await receive_type(ws, "alert.updated")
            (data,) = update["alerts"]
            assert (data["id"], data["review_status"], data["reviewed_by"], data["review_note"]) == (
                alert.pk, "false_positive", "olga", "shadow"
            )  # fmt: skip
            await ws.disconnect()

    run(scenario)


def test_camera_status_changes_and_heartbeats_are_pushed(operator: User, settings) -> None:
    settings.ALERTS_WS_HEARTBEAT_S = 1.0
    camera = make_camera(name="Bridge")
    cookie = session_cookie(operator)

    async def scenario() -> None:
        ws = socket("/ws/alerts/", ORIGIN, cookie)
        await connected(ws)
        changed = await sync_to_async(camera.set_status)(
            Camera.Status.ERROR, error="cannot open rtsp://admin:hunter2@cam.example/live"
        )
        assert changed
        message = await receive_type(ws, "camera.status")
        assert (message["camera"]["id"], message["camera"]["status"]) == (camera.pk, "error")
        assert "hunter2" not in message["camera"]["last_error"]
        beat = await receive_type(ws, "heartbeat", timeout=3)
        assert beat["time"] > 0 and isinstance(beat["live"], dict)
        await ws.send_json_to({"type": "ping"})
        assert (await receive_type(ws, "pong"))["time"] > 0
        await ws.send_to(text_data="not json")
        assert "expected" in (await receive_type(ws, "error"))["error"]
        await ws.disconnect()

    run(scenario)


def test_the_heartbeat_carries_the_live_counters_of_captured_cameras(operator: User, settings) -> None:
    import json

    from cameras.live import stats_key
    from core.redisclient import get_redis

    settings.ALERTS_WS_HEARTBEAT_S = 1.0
    camera = make_camera()
    stats = {"counts": {"car": 3}, "tracks": 3, "groups": 1, "fps_in": 20.0, "fps_detected": 5.0, "dropped": 0}
    get_redis().set(stats_key(camera.pk), json.dumps(stats), ex=30)
    cookie = session_cookie(operator)

    async def scenario() -> None:
        ws = socket("/ws/alerts/", ORIGIN, cookie)
        snapshot = await connected(ws)
        assert snapshot["live"][str(camera.pk)]["fps_detected"] == 5.0
        beat = await receive_type(ws, "heartbeat", timeout=3)
        assert beat["live"][str(camera.pk)]["counts"] == {"car": 3}
        await ws.disconnect()

    run(scenario)
    get_redis().delete(stats_key(camera.pk))
