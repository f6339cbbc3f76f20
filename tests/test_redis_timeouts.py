"""Blocking Redis reads outlive redis-py's default 5 s socket timeout: an idle dashboard stays connected.

channels_redis blocks on BZPOPMIN for 5 s; with redis-py 8's default socket timeout of 5 s that read
failed ("Timeout reading from ...") and the dashboard's websocket dropped every few seconds. Both a
TCP and a unix-socket Redis, with the production channel-layer settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from core.redisclient import get_redis
from detection import framestore
from tests.support.redis_server import RedisServer
from trafficsite import redisurl
from trafficsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

BLOCKING_READ_S = 5  # channels_redis's brpop_timeout: what its BZPOPMIN waits on an idle socket


@pytest.fixture(params=["tcp", "unix"])
def layer_redis(request: pytest.FixtureRequest, tmp_path: Path, settings) -> Iterator[str]:
    """The channel layer as production configures it, on a TCP or a unix-socket Redis of its own."""
    server = RedisServer(tmp_path / "redis", tcp=request.param == "tcp").start()
    url = server.url()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": redisurl.channel_layer_hosts(url), "prefix": "trafficsite:channels"},
        }
    }
    settings.ALERTS_WS_HEARTBEAT_S = 60.0  # nothing wakes the blocked read while the socket idles
    channel_layers.backends.clear()
    try:
        yield url
    finally:
        channel_layers.backends.clear()
        server.stop()


def test_an_idle_dashboard_socket_outlives_the_blocking_read_and_still_gets_alerts(layer_redis: str) -> None:
    user = User.objects.create_user("ida", password="a-long-operator-password", is_staff=True)
    client = Client()
    client.force_login(user)
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())

    async def scenario() -> None:
        ws = WebsocketCommunicator(
            application, "/ws/alerts/", headers=[(b"host", b"localhost"), (b"origin", b"http://localhost"), cookie]
        )
        ok, _ = await ws.connect()
        assert ok
        assert (await ws.receive_json_from(timeout=5))["type"] == "hello"
        assert (await ws.receive_json_from(timeout=5))["type"] == "snapshot"
        # Idle for more than the blocking read plus redis-py's default socket timeout (5 s).
        assert await ws.receive_nothing(timeout=BLOCKING_READ_S * 2 + 1, interval=0.5)
        layer = get_channel_layer()
        assert layer is not None
        await layer.group_send("cameras", {"type": "camera.status", "camera": {"id": 1, "status": "online"}})
        message = await ws.receive_json_from(timeout=5)
        assert message == {"type": "camera.status", "camera": {"id": 1, "status": "online"}}
        await ws.disconnect()

    async_to_sync(scenario)()


def test_the_channel_layer_waits_longer_than_its_blocking_read() -> None:
    (host,) = redisurl.channel_layer_hosts("unix:///tmp/x.sock?db=0")
    assert host["socket_timeout"] > BLOCKING_READ_S * 2


def test_a_blocking_wait_for_detection_results_longer_than_5_s_returns_empty_not_an_error() -> None:
    reply = framestore.reply_key(0, "idle-test")
    get_redis().delete(reply)
    assert framestore.pop_results(reply, block_s=6) == []


def test_a_blocking_wait_as_long_as_the_socket_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="socket timeout"):
        framestore.pop_results(framestore.reply_key(0, "x"), block_s=60)


def test_celerys_broker_connection_has_an_explicit_socket_timeout_above_its_brpop() -> None:
    from trafficsite.celery import app

    with app.connection_for_read() as connection:
        channel: Any = connection.default_channel  # kombu's Redis channel (typed as the generic one)
        kwargs = channel.client.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] > channel.brpop_timeout * 5
