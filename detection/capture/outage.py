"""Riding out a Redis or broker outage in a camera process, instead of dying with it.

A camera process talks to Redis (frame store, results, evidence, snapshot) and to the broker (detect
tasks, candidate events). When either is unreachable the process keeps reading its stream, drops
the frames it cannot hand on (counted by reason), shows the camera as degraded, and tries again
every ``retry_every_s``, so capture resumes within a second of the service returning.

redis-py's ``ConnectionError`` and ``TimeoutError`` are not the built-in ones (they derive from
``RedisError``), and kombu raises ``OperationalError`` for a broker it cannot reach: all three, and
plain ``OSError`` (a socket refused below the client), count as an outage.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis.exceptions
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

UNREACHABLE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OperationalError,
    OSError,
)

REDIS = "redis"
BROKER = "broker"
_REASONS = {REDIS: "redis_unreachable", BROKER: "broker_unreachable"}
_NAMES = {REDIS: "Redis", BROKER: "the task broker"}


def which(exc: BaseException) -> str:
    """Which service an outage error came from: kombu's errors are the broker's, the rest Redis's."""
    return BROKER if isinstance(exc, OperationalError) else REDIS


@dataclass
class Outage:
    """The current outage of one camera process (none while ``down`` is empty)."""

    label: str
    retry_every_s: float = 0.5
    down: str = ""  # REDIS or BROKER while unreachable
    since: float = 0.0
    next_try: float = 0.0

    def waiting(self, now: float | None = None) -> bool:
        """True while an outage lasts and the next attempt is not due: drop, do not try."""
        return bool(self.down) and (time.monotonic() if now is None else now) < self.next_try

    @property
    def drop_reason(self) -> str:
        return _REASONS[self.down or REDIS]

    @property
    def error(self) -> str:
        """What the camera's status says while the outage lasts."""
        return f"{_NAMES[self.down]} unreachable" if self.down else ""

    def failed(self, exc: BaseException, doing: str) -> bool:
        """Record a failed attempt; True when this starts a new outage (the caller drops its state)."""
        now = time.monotonic()
        service = which(exc)
        started = not self.down
        if started:
            self.since = now
            logger.warning("camera %s: %s unreachable while %s (%s); dropping frames and retrying every %.1f s",
                           self.label, _NAMES[service], doing, type(exc).__name__, self.retry_every_s)  # fmt: skip
        self.down = service
        self.next_try = now + self.retry_every_s
        return started

    def succeeded(self) -> float | None:
        """Record a successful round trip; returns the outage's length when one just ended."""
        if not self.down:
            return None
        lasted = time.monotonic() - self.since
        logger.warning("camera %s: %s reachable again after %.1f s; capturing", self.label, _NAMES[self.down], lasted)
        self.down = ""
        return lasted
