"""A Redis lease: at most one holder at a time, lost when not renewed (its holder died).

Built on redis-py's own ``Lock`` (``SET NX PX`` to take it; token-checked Lua scripts to extend and
release), so a holder whose lease expired and was taken over can neither extend nor delete the new
holder's. The token is kept on the object, not per thread: the capture supervisor renews a lease
that its camera process checks with the same token.
"""

from __future__ import annotations

import redis
from redis.exceptions import LockError


class RedisLease:
    def __init__(self, client: redis.Redis, key: str, token: str, ttl_s: float) -> None:
        self.client = client
        self.key = key
        self.token = token
        self.ttl_s = ttl_s
        self._lock = client.lock(key, timeout=ttl_s, thread_local=False)
        self._lock.local.token = token.encode()

    def acquire(self, *, reentrant: bool = False) -> bool:
        """Take the lease if it is free; with ``reentrant``, also when this token holds it already
        (a redelivered task with the same id takes its own claim back at once)."""
        if self._lock.acquire(blocking=False, token=self.token):
            return True
        return reentrant and self.renew()

    def renew(self) -> bool:
        """Extend the lease to a full TTL from now; False when another token holds it (or nobody)."""
        try:
            return bool(self._lock.extend(self.ttl_s, replace_ttl=True))
        except LockError:
            return False

    def release(self) -> bool:
        try:
            self._lock.release()
        except LockError:
            return False
        finally:
            self._lock.local.token = self.token.encode()  # release() forgets it; renew() may follow
        return True

    def held(self) -> bool:
        return self.owner() == self.token

    def owner(self) -> str | None:
        value = self.client.get(self.key)
        return value.decode() if isinstance(value, bytes) else value
