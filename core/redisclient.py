"""One Redis client per process (re-created after a fork, since sockets must not be shared)."""

from __future__ import annotations

import os

import redis
from django.conf import settings

from core.topology import REDIS_KEY_PREFIX

_clients: dict[int, redis.Redis] = {}


def get_redis() -> redis.Redis:
    pid = os.getpid()
    client = _clients.get(pid)
    if client is None:
        _clients.clear()
        client = redis.Redis.from_url(settings.REDIS_URL, health_check_interval=30, socket_timeout=10)
        _clients[pid] = client
    return client


def key(*parts: object) -> str:
    """All our Redis keys share one prefix, so one Redis can serve several installations."""
    return REDIS_KEY_PREFIX + ":".join(str(p) for p in parts)
