"""One REDIS_URL, spelled the way each client wants it.

redis-py and channels_redis take ``redis://``, ``rediss://`` and ``unix://`` URLs; Celery's kombu
transport spells a unix socket ``redis+socket://``. Operators set one variable; this module
translates it, so the embedded socket Redis of the laptop demo works for every process.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ImproperlyConfigured

_SCHEMES = {"redis", "rediss", "unix"}


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


def for_celery(url: str) -> str:
    """kombu's spelling of the same Redis (unix sockets become ``redis+socket://``)."""
    parts = urlsplit(url)
    if parts.scheme != "unix":
        return url
    db = parse_qs(parts.query).get("db", ["0"])[0]
    return f"redis+socket://{parts.path}?virtual_host={db}"
