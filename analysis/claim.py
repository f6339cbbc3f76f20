"""One task at a time per event: a Redis claim owned by the Celery task id.

A redelivered task (its worker was killed) carries the same task id, so it takes over its own
claim at once instead of waiting for the claim to expire; a second, different task for the same
event is told to come back later, and then finds the finished analysis.
"""

from __future__ import annotations

from analysis.conf import TASK_TIME_LIMIT_S
from core.redisclient import get_redis, key

_CLAIM = """
local owner = redis.call('GET', KEYS[1])
if owner == false or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_UNCLAIM = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Longer than the task may run, so a claim never lapses under a live task.
CLAIM_TTL_MS = (TASK_TIME_LIMIT_S + 30) * 1000


class EventClaim:
    def __init__(self, event_key: str, owner: str) -> None:
        self.name = key("llm", "claim", event_key)
        self.owner = owner
        client = get_redis()
        self._claim = client.register_script(_CLAIM)
        self._unclaim = client.register_script(_UNCLAIM)

    def acquire(self) -> bool:
        return bool(self._claim(keys=[self.name], args=[self.owner, CLAIM_TTL_MS]))

    def release(self) -> None:
        self._unclaim(keys=[self.name], args=[self.owner])
