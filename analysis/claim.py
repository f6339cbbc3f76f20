"""One task at a time per event: a Redis claim owned by the Celery task id.

A redelivered task (its worker was killed) carries the same task id, so it takes over its own
claim at once instead of waiting for the claim to expire; a second, different task for the same
event is told to come back later, and then finds the finished analysis.
"""

from __future__ import annotations

from core.lease import RedisLease
from core.redisclient import get_redis, key
from core.topology import ANALYZE_EVENT

# Longer than the task may run, so a claim never lapses under a live task.
CLAIM_TTL_S = ANALYZE_EVENT.time_limit + 30


class EventClaim:
    def __init__(self, event_key: str, owner: str) -> None:
        self.name = key("llm", "claim", event_key)
        self.owner = owner
        self._lease = RedisLease(get_redis(), self.name, owner, CLAIM_TTL_S)

    def acquire(self) -> bool:
        return self._lease.acquire(reentrant=True)

    def release(self) -> None:
        self._lease.release()
