"""A Redis lease: at most one holder at a time, lost when not renewed (its host died).

``SET key token NX PX ttl`` takes it; renewing and releasing compare the token first (in a Lua
script, atomically), so a holder whose lease expired and was taken over cannot extend or delete
the new holder's lease.
"""

from __future__ import annotations

import redis

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class Lease:
    def __init__(self, client: redis.Redis, key: str, token: str, ttl_s: float) -> None:
        self.client = client
        self.key = key
        self.token = token
        self.ttl_ms = int(ttl_s * 1000)

    def acquire(self) -> bool:
        return bool(self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))

    def renew(self) -> bool:
        return bool(self.client.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))

    def release(self) -> bool:
        return bool(self.client.eval(_RELEASE, 1, self.key, self.token))

    def held(self) -> bool:
        return self.owner() == self.token

    def owner(self) -> str | None:
        value = self.client.get(self.key)
        return value.decode() if isinstance(value, bytes) else value
