"""One Redis client per process (re-created after a fork, since sockets must not be shared)."""

from __future__ import annotations

import os

import redis
from django.conf import settings

from core.topology import REDIS_KEY_PREFIX

# Above the longest blocking read of ours (framestore.pop_results refuses waits of half of it):
# redis-py 8's default of 5 s turned a 5 s BLPOP into "Timeout reading from socket".
SOCKET_TIMEOUT_S = 20.0
# A raw frame (0.9 MB, detection/framecodec.py) in one recv instead of fifteen of redis-py's default
# 64 KB: 0.3 ms of CPU per frame read instead of 0.5-1.4 (measured here); small replies cost the same.
SOCKET_READ_SIZE = 1 << 20
_clients: dict[int, redis.Redis] = {}


def get_redis() -> redis.Redis:
    pid = os.getpid()
    client = _clients.get(pid)
    if client is None:
        _clients.clear()
        client = redis.Redis.from_url(
            settings.REDIS_URL,
            health_check_interval=30,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=5,
            socket_read_size=SOCKET_READ_SIZE,
        )
        _clients[pid] = client
    return client


def key(*parts: object) -> str:
    """All our Redis keys share one prefix, so one Redis can serve several installations."""
    return REDIS_KEY_PREFIX + ":".join(str(p) for p in parts)
