"""Cluster-wide limits on calling DashScope, kept in Redis so that every worker on every host shares them.

- A token bucket for requests per minute and one for tokens per minute (Celery's ``rate_limit`` is
  per worker, so it cannot hold a limit across the cluster). Redis' clock is the only clock used,
  so hosts with drifting clocks still share one budget.
- Rolling one-hour caps on calls, per camera and overall: cost control, not rate control.
- A short memory of recent verdicts per camera, rule and tracks: the same road users flagged again
  by the same rule within the cool-down get the earlier verdict instead of a second call.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import redis

from analysis.conf import LLMConf, current
from cameras.payload import EventPayload
from core.redisclient import get_redis, key

# KEYS: the bucket hash. ARGV: requests/min, tokens/min, burst (s), tokens wanted. Refills both
# buckets for the time since the last visit, then takes one request and the tokens if both suffice.
# Returns {1, 0} when granted, else {0, ms to wait}. Levels may be negative after a call used more
# tokens than estimated (see _SETTLE): later callers then wait for the debt to be refilled.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rrate, trate = tonumber(ARGV[1]) / 60, tonumber(ARGV[2]) / 60
local burst = tonumber(ARGV[3])
local rcap, tcap = math.max(1, rrate * burst), math.max(1, trate * burst)
local need = math.min(tonumber(ARGV[4]), tcap)
local req = tonumber(redis.call('HGET', KEYS[1], 'req') or rcap)
local tok = tonumber(redis.call('HGET', KEYS[1], 'tok') or tcap)
local ts = tonumber(redis.call('HGET', KEYS[1], 'ts') or now)
local dt = math.max(0, now - ts)
req = math.min(rcap, req + dt * rrate)
tok = math.min(tcap, tok + dt * trate)
local granted = 0
if req >= 1 and tok >= need then
  req, tok, granted = req - 1, tok - need, 1
end
redis.call('HSET', KEYS[1], 'req', string.format('%.6f', req), 'tok', string.format('%.3f', tok),
           'ts', string.format('%.6f', now))
redis.call('EXPIRE', KEYS[1], 3600)
if granted == 1 then return {1, 0} end
local wait = 0
if req < 1 then wait = (1 - req) / rrate end
if tok < need then wait = math.max(wait, (need - tok) / trate) end
return {0, math.ceil(wait * 1000)}
"""

# KEYS: the bucket hash. ARGV: tokens to give back (negative: to take) once the real usage is known.
_SETTLE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBYFLOAT', KEYS[1], 'tok', ARGV[1])
end
return 1
"""

# KEYS: the camera's and the global call log (sorted sets, member = event key, score = time).
# ARGV: event key, camera cap, global cap. An event already logged (a retry) passes without counting
# twice. Returns {1, ''} or {0, 'camera' | 'global'}.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 3600)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {1, ''} end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return {0, 'camera'} end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {0, 'global'} end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('EXPIRE', KEYS[1], 3700)
redis.call('EXPIRE', KEYS[2], 3700)
return {1, ''}
"""


@dataclass(frozen=True)
class BudgetLevel:
    requests: float
    tokens: float
    requests_cap: float
    tokens_cap: float


class Budget:
    def __init__(self, conf: LLMConf | None = None, client: redis.Redis | None = None) -> None:
        self.conf = conf or current()
        self.redis = client or get_redis()
        self.bucket = key("llm", "budget")
        self._take = self.redis.register_script(_TAKE)
        self._settle = self.redis.register_script(_SETTLE)
        self._reserve = self.redis.register_script(_RESERVE)

    # --- requests and tokens per minute -----------------------------------------------------
    def take(self, tokens: int) -> float:
        """Take one request and ``tokens`` from the global budget: 0.0 if granted, else seconds to wait."""
        granted, wait_ms = self._take(
            keys=[self.bucket],
            args=[self.conf.requests_per_minute, self.conf.tokens_per_minute, self.conf.burst_s, tokens],
        )
        return 0.0 if int(granted) else max(0.001, int(wait_ms) / 1000)

    def settle(self, estimated: int, actual: int) -> None:
        """Correct the token bucket once DashScope has said what the call really used."""
        if estimated != actual:
            self._settle(keys=[self.bucket], args=[estimated - actual])

    def level(self) -> BudgetLevel:
        """What is left now, for the operator's page (refill since the last call included)."""
        raw: dict[bytes, bytes] = self.redis.hgetall(self.bucket)  # type: ignore[assignment]
        rrate, trate = self.conf.requests_per_minute / 60, self.conf.tokens_per_minute / 60
        rcap, tcap = max(1.0, rrate * self.conf.burst_s), max(1.0, trate * self.conf.burst_s)
        if not raw:
            return BudgetLevel(rcap, tcap, rcap, tcap)
        dt = max(0.0, time.time() - float(raw[b"ts"]))
        return BudgetLevel(
            min(rcap, float(raw[b"req"]) + dt * rrate), min(tcap, float(raw[b"tok"]) + dt * trate), rcap, tcap
        )

    # --- calls per hour -------------------------------------------------------------------------
    def reserve_call(self, event_key: str, camera_id: int, camera_cap: int) -> str:
        """Count this event's call against the hourly caps: '' if allowed, else 'camera' or 'global'."""
        allowed, which = self._reserve(
            keys=[key("llm", "calls", "camera", camera_id), key("llm", "calls", "all")],
            args=[event_key, camera_cap, self.conf.calls_per_hour],
        )
        return "" if int(allowed) else (which.decode() if isinstance(which, bytes) else str(which))

    def calls_last_hour(self, camera_id: int | None = None) -> int:
        name = key("llm", "calls", "camera", camera_id) if camera_id is not None else key("llm", "calls", "all")
        return int(self.redis.zcount(name, time.time() - 3600, "+inf"))

    # --- near-identical events ------------------------------------------------------------------
    @staticmethod
    def _recent_key(payload: EventPayload) -> str:
        tracks = ",".join(str(t) for t in sorted(payload.get("track_ids", [])))
        return key("llm", "recent", payload["camera_id"], payload["event_type"], tracks)

    def recent_analysis(self, payload: EventPayload) -> int | None:
        """The analysis of the same camera, rule and tracks made within the cool-down, if any."""
        raw = self.redis.get(self._recent_key(payload))
        return int(raw) if isinstance(raw, bytes | str) else None

    def remember_analysis(self, payload: EventPayload, analysis_id: int) -> None:
        if self.conf.duplicate_cooldown_s > 0:
            self.redis.set(self._recent_key(payload), analysis_id, px=math.ceil(self.conf.duplicate_cooldown_s * 1000))
