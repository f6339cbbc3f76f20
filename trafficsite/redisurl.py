"""One REDIS_URL, spelled the way each client wants it.

redis-py and channels_redis take ``redis://``, ``rediss://`` and ``unix://`` URLs; Celery's kombu
transport spells a unix socket ``redis+socket://``. Operators set one variable; this module
translates it, so the embedded socket Redis of the laptop demo works for every process.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ImproperlyConfigured

_SCHEMES = {"redis", "rediss", "unix"}

# redis-py 8 gives every connection a 5 s socket timeout unless told otherwise, and a blocking read
# (channels_redis's BZPOPMIN waits 5 s, a BLPOP of detection results) that waits as long or longer
# then fails with "Timeout reading from ...": on an idle dashboard that was a disconnect every few
# seconds. Clients that block are given this socket timeout, far above any blocking wait of ours.
BLOCKING_SOCKET_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 5.0
# A half-open connection (Redis restarted behind a NAT) is noticed with a PING after this idle time.
HEALTH_CHECK_INTERVAL_S = 15


def validate(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ImproperlyConfigured(
            f"REDIS_URL must start with one of {', '.join(sorted(s + '://' for s in _SCHEMES))}; "
            f"got scheme {parts.scheme!r}"
        )
    if parts.scheme == "unix" and not parts.path:
        raise ImproperlyConfigured("REDIS_URL unix:// needs a socket path, e.g. unix:///tmp/redis.sock?db=0")
    if parts.scheme != "unix" and not parts.hostname:
        raise ImproperlyConfigured("REDIS_URL needs a host, e.g. redis://127.0.0.1:6379/0")
    return url


def channel_layer_hosts(url: str) -> list[dict[str, Any]]:
    """channels_redis hosts with explicit timeouts (a plain URL would inherit redis-py's 5 s)."""
    return [
        {
            "address": url,
            "socket_timeout": BLOCKING_SOCKET_TIMEOUT_S,
            "socket_connect_timeout": CONNECT_TIMEOUT_S,
            "health_check_interval": HEALTH_CHECK_INTERVAL_S,
        }
    ]


def for_celery(url: str) -> str:
    """kombu's spelling of the same Redis (unix sockets become ``redis+socket://``)."""
    parts = urlsplit(url)
    if parts.scheme != "unix":
        return url
    db = parse_qs(parts.query).get("db", ["0"])[0]
    return f"redis+socket://{parts.path}?virtual_host={db}"
