"""The pool of DashScope API keys, shared by every worker through Redis.

Each key has a state (``active``, ``cooling`` after a 429 until a back-off ends, ``disabled`` after
InvalidApiKey / Arrearage / AccessDenied until an operator enables it again), call counters, and a
set of in-flight leases. Choosing a key and changing its state are Lua scripts, so two workers never
act on a stale view of the same key. Leases expire by themselves: a worker killed in the middle of
a call does not leave its key looking busy for ever.

Keys are never stored in Redis: only their ``key_id`` (a short hash). The keys themselves live in
the settings of each process and are looked up by id.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings

from analysis import metrics
from analysis.conf import LLMConf, current
from core import backoff
from core.redact import key_id, mask_key, redact_text
from core.redisclient import get_redis, key

logger = logging.getLogger(__name__)

STATES = ("active", "cooling", "disabled")

# KEYS: hash and lease set of each key, in pairs. ARGV: number of keys, max concurrent calls per
# key, lease id, lease lifetime (s). Picks the usable key with the fewest calls in flight, then the
# lowest failure share, then the least recently used; returns its 1-based index, or 0 with the
# number of disabled keys, the milliseconds until the first cooling key is usable again (-1: none)
# and the number of keys at their concurrency limit.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local n, max_c, lease, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local best, best_load, best_ratio, best_used = 0, 0, 0, 0
local disabled, cooling_until, busy = 0, -1, 0
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local state = redis.call('HGET', h, 'state') or 'active'
  local until_ts = tonumber(redis.call('HGET', h, 'until') or '0')
  if state == 'disabled' then
    disabled = disabled + 1
  elseif state == 'cooling' and until_ts > now then
    if cooling_until < 0 or until_ts < cooling_until then cooling_until = until_ts end
  else
    redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
    local load = redis.call('ZCARD', z)
    if load >= max_c then
      busy = busy + 1
    else
      local calls = tonumber(redis.call('HGET', h, 'calls') or '0')
      local ratio = 0
      if calls > 0 then ratio = tonumber(redis.call('HGET', h, 'fail') or '0') / calls end
      local used = tonumber(redis.call('HGET', h, 'last_used') or '0')
      if best == 0 or load < best_load or (load == best_load and (ratio < best_ratio or
          (ratio == best_ratio and used < best_used))) then
        best, best_load, best_ratio, best_used = i, load, ratio, used
      end
    end
  end
end
if best > 0 then
  redis.call('ZADD', KEYS[2 * best], now + ttl, lease)
  redis.call('EXPIRE', KEYS[2 * best], math.ceil(ttl) + 60)
  redis.call('HSET', KEYS[2 * best - 1], 'last_used', string.format('%.6f', now))
  return {best, 0, 0, 0}
end
local wait_ms = -1
if cooling_until >= 0 then wait_ms = math.ceil((cooling_until - now) * 1000) end
return {0, disabled, wait_ms, busy}
"""

# KEYS: the key's hash and lease set. ARGV: lease id, result (ok | fail | throttled | refused), error
# code, detail, n, then n cool-downs (s) after the 1st, 2nd, ... consecutive 429 (the last, the cap,
# also for any further one): the back-off is computed in Python (core/backoff.py), only the choice by
# the key's strike count has to happen here, atomically. A disabled key stays disabled whatever a
# call that was in flight reports afterwards.
_RELEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local h = KEYS[1]
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HINCRBY', h, 'calls', 1)
local state = redis.call('HGET', h, 'state') or 'active'
local result = ARGV[2]
if result == 'ok' then
  redis.call('HINCRBY', h, 'ok', 1)
  if state ~= 'disabled' then redis.call('HSET', h, 'state', 'active', 'strikes', 0, 'until', 0) end
  return 'active'
end
redis.call('HINCRBY', h, 'fail', 1)
redis.call('HSET', h, 'last_code', ARGV[3], 'last_error_at', string.format('%.6f', now))
if state == 'disabled' then return 'disabled' end
if result == 'refused' then
  redis.call('HSET', h, 'state', 'disabled', 'reason', ARGV[3], 'detail', ARGV[4],
             'changed_at', string.format('%.6f', now))
  return 'disabled'
end
if result == 'throttled' then
  local strikes = redis.call('HINCRBY', h, 'strikes', 1)
  local cooldown = tonumber(ARGV[5 + math.min(strikes, tonumber(ARGV[5]))])
  redis.call('HSET', h, 'state', 'cooling', 'until', string.format('%.6f', now + cooldown),
             'reason', ARGV[3], 'changed_at', string.format('%.6f', now))
  return 'cooling'
end
return state
"""


@dataclass(frozen=True)
class KeyLease:
    api_key: str
    key_id: str
    lease_id: str


@dataclass(frozen=True)
class KeyState:
    """One key as an operator sees it (no secret in it)."""

    key_id: str
    masked: str
    state: str  # active, cooling, disabled ("probing": cooling whose back-off ended, next call decides)
    reason: str
    detail: str
    cooling_for_s: float
    in_flight: int
    calls: int
    ok: int
    fail: int
    last_code: str
    last_used: float | None
    changed_at: float | None

    @property
    def success_rate(self) -> float | None:
        return self.ok / self.calls if self.calls else None


class PoolExhausted(Exception):
    """No key can take a call now: ``reason`` is no_keys, disabled, cooling or busy."""

    def __init__(self, reason: str, retry_after_s: float) -> None:
        super().__init__(f"no usable DashScope key ({reason})")
        self.reason = reason
        self.retry_after_s = retry_after_s


class KeyPool:
    def __init__(self, api_keys: list[str], conf: LLMConf | None = None, client: redis.Redis | None = None) -> None:
        unique = {key_id(k): k for k in api_keys if k}
        self.keys = unique  # key_id -> key, in settings order (dicts keep insertion order)
        self.conf = conf or current()
        self.redis = client or get_redis()
        self._acquire = self.redis.register_script(_ACQUIRE)
        self._release = self.redis.register_script(_RELEASE)

    @classmethod
    def from_settings(cls) -> KeyPool:
        return cls(list(settings.DASHSCOPE_API_KEYS))

    def __len__(self) -> int:
        return len(self.keys)

    @staticmethod
    def _hash(kid: str) -> str:
        return key("llm", "key", kid)

    @staticmethod
    def _leases(kid: str) -> str:
        return key("llm", "inflight", kid)

    def acquire(self) -> KeyLease:
        """Reserve the best key for one call; PoolExhausted if none can take it now."""
        if not self.keys:
            raise PoolExhausted("no_keys", 0.0)
        ids = list(self.keys)
        lease_id = uuid.uuid4().hex
        # A lease outlives the call it covers (timeout plus margin) and then frees itself.
        ttl = self.conf.request_timeout_s + 15
        redis_keys = [k for kid in ids for k in (self._hash(kid), self._leases(kid))]
        index, disabled, wait_ms, busy = (
            int(v) for v in self._acquire(keys=redis_keys, args=[len(ids), self.conf.key_max_concurrent, lease_id, ttl])
        )
        if index:
            kid = ids[index - 1]
            return KeyLease(self.keys[kid], kid, lease_id)
        if disabled == len(ids):
            raise PoolExhausted("disabled", 0.0)
        if wait_ms >= 0 and not busy:
            raise PoolExhausted("cooling", wait_ms / 1000)
        # Keys at their concurrency limit free up within a call's duration; poll again soon.
        return_after = min(wait_ms / 1000, 1.0) if wait_ms >= 0 else 1.0
        raise PoolExhausted("busy", return_after)

    def release(self, lease: KeyLease, result: str, code: str = "", detail: str = "") -> str:
        """End a lease with the call's result (ok, fail, throttled, refused); returns the key's state."""
        detail = redact_text(detail, list(self.keys.values()))[:300]  # error texts may quote a key
        cooldowns = self._cooldowns() if result == "throttled" else []
        state = self._release(
            keys=[self._hash(lease.key_id), self._leases(lease.key_id)],
            args=[lease.lease_id, result, code, detail, len(cooldowns), *cooldowns],
        )
        state = state.decode() if isinstance(state, bytes) else str(state)
        metrics.KEY_CALLS.labels(lease.key_id, "success" if result == "ok" else "failure").inc()
        if state != "active" or result != "ok":
            logger.warning("DashScope key %s (%s): %s %s -> %s", lease.key_id, mask_key(lease.api_key), result,
                           code, state)  # fmt: skip
        self.export_metrics()
        return state

    def _cooldowns(self) -> list[float]:
        """How long a throttled key rests after its 1st, 2nd, ... consecutive 429, up to the first
        step that reaches the cap; each within 20 % below its step, so keys throttled together do
        not all come back at the same instant."""
        base, cap = self.conf.key_cooldown_s, self.conf.key_cooldown_max_s
        steps = 1
        while steps < 64 and base * 2 ** (steps - 1) < cap:
            steps += 1
        return [backoff.exponential_s(n, base_s=base, cap_s=cap, jitter=0.2) for n in range(1, steps + 1)]

    def enable(self, kid: str) -> bool:
        """An operator's decision: the key may be used again (after fixing its account)."""
        if kid not in self.keys:
            return False
        self.redis.hset(self._hash(kid), mapping={"state": "active", "strikes": 0, "until": 0, "reason": "",
                                                  "detail": ""})  # fmt: skip
        logger.info("DashScope key %s enabled again by an operator", kid)
        self.export_metrics()
        return True

    def snapshot(self) -> list[KeyState]:
        now = time.time()
        pipe = self.redis.pipeline()
        for kid in self.keys:
            pipe.hgetall(self._hash(kid))
            pipe.zcount(self._leases(kid), now, "+inf")
        replies = pipe.execute()
        states = []
        for index, (kid, api_key) in enumerate(self.keys.items()):
            raw: dict[bytes, bytes] = replies[2 * index]
            fields = {k.decode(): v.decode() for k, v in raw.items()}
            until = float(fields.get("until") or 0)
            state = fields.get("state", "active")
            states.append(
                KeyState(
                    key_id=kid,
                    masked=mask_key(api_key),
                    state="probing" if state == "cooling" and until <= now else state,
                    reason=fields.get("reason", "") if state != "active" else "",
                    detail=fields.get("detail", "") if state == "disabled" else "",
                    cooling_for_s=max(0.0, until - now) if state == "cooling" else 0.0,
                    in_flight=int(replies[2 * index + 1]),
                    calls=int(fields.get("calls", 0)),
                    ok=int(fields.get("ok", 0)),
                    fail=int(fields.get("fail", 0)),
                    last_code=fields.get("last_code", ""),
                    last_used=_float_or_none(fields.get("last_used")),
                    changed_at=_float_or_none(fields.get("changed_at")),
                )
            )
        return states

    def export_metrics(self, states: list[KeyState] | None = None) -> None:
        """Pool gauges from the shared state (every worker reports the same view)."""
        states = self.snapshot() if states is None else states
        counts = dict.fromkeys(STATES, 0)
        for item in states:
            bucket = "active" if item.state == "probing" else item.state  # its back-off is over: usable
            counts[bucket] += 1
            for name in STATES:
                metrics.KEY_STATUS.labels(item.key_id, name).set(1 if name == bucket else 0)
            if item.success_rate is not None:
                metrics.KEY_SUCCESS_RATIO.labels(item.key_id).set(item.success_rate)
        for name, count in counts.items():
            metrics.KEY_POOL_SIZE.labels(name).set(count)


def _float_or_none(raw: Any) -> float | None:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value or None
