"""Give a dead worker's reserved messages back to its queues at once, instead of after an hour.

With Redis as the broker, a message a worker has reserved (prefetched, running, or held for a retry
countdown) sits in kombu's ``unacked`` hash; if the worker dies as a whole (SIGKILL, OOM killer) it
comes back only when the visibility timeout (core/topology.py: 3600 s, above the longest task plus
its longest retry countdown) has passed. ``./run`` has exactly one worker per queue, so when that
worker is dead every unacked message routed to its queue was its own: the launcher puts them back at
the head of the queue (kombu's own ``restore_by_tag``) before it starts the worker again. Tasks that
can be redelivered are idempotent (the alert's idempotency key, the LLM step's claim), so a message
whose work was half done is safe to run again.

With RabbitMQ as the broker (CELERY_BROKER_URL=amqp://...) none of this is needed: the broker
itself gives a dead consumer's messages back when its connection drops (core/broker.py), on one
host or many, and :func:`redis_broker_url` tells the launcher to leave it to the broker.

Free of Django at import time, like the launcher; the Celery and kombu pieces load on first use.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from core.topology import BROKER_KEY_PREFIX


def redis_broker_url(environ: Mapping[str, str]) -> str | None:
    """The Redis that carries the Celery queues, or None when the broker is RabbitMQ (or unknown)."""
    from core.broker import is_amqp

    broker = environ.get("CELERY_BROKER_URL", "")
    if broker:
        return None if is_amqp(broker) else broker
    return environ.get("REDIS_URL") or None


def restore_unacked(redis_url: str, queues: set[str]) -> int:
    """Restore the unacked messages routed to ``queues``; returns how many went back."""
    from kombu import Connection

    from trafficsite.redisurl import for_celery

    restored = 0
    options: dict[str, Any] = {"global_keyprefix": BROKER_KEY_PREFIX}
    with Connection(for_celery(redis_url), transport_options=options, connect_timeout=5) as connection:
        channel: Any = connection.default_channel  # kombu's Redis channel
        with channel.conn_or_acquire() as client:
            # Through the index (ZRANGE and HGET are among the commands kombu's client prefixes;
            # HGETALL is not).
            for tag in client.zrange(channel.unacked_index_key, 0, -1):
                raw = client.hget(channel.unacked_key, tag)
                if raw is None:
                    continue  # acknowledged meanwhile
                _message, _exchange, routing_key = json.loads(raw)
                if routing_key in queues:
                    channel.qos.restore_by_tag(tag, client=client, leftmost=True)
                    restored += 1
    return restored


def _queue_of(process_name: str) -> str | None:
    from core.topology import QUEUES

    queue = process_name.removeprefix("worker-")
    return queue if process_name.startswith("worker-") and queue in QUEUES else None


def after_exit(process_name: str, redis_url: str | None, log: Callable[[str], None]) -> None:
    """A worker of ours died: what it had reserved goes back to its queue now."""
    queue = _queue_of(process_name)
    if queue is None or not redis_url:
        return
    try:
        count = restore_unacked(redis_url, {queue})
    except Exception as exc:  # Redis away too: the visibility timeout remains the safety net
        log(f"could not give {process_name}'s reserved messages back: {type(exc).__name__}")
        return
    if count:
        log(f"{process_name} died holding {count} message(s): back in queue {queue!r}")


class RedisWatch:
    """Notices a restart of Redis (its run id changes), embedded or not, once a second at most.

    Messages reserved before a crash belong to connections that are gone (workers drop what they
    held when they lose the broker), so after a restart all of them go back to their queues, as
    early as possible: before the workers reconnect (their first retry is 2 s away)."""

    def __init__(self, redis_url: str | None) -> None:
        self.url = redis_url
        self.run_id: str | None = None
        self.next_check = 0.0

    def check(self, log: Callable[[str], None]) -> None:
        if not self.url or time.monotonic() < self.next_check:
            return
        self.next_check = time.monotonic() + 0.5
        import redis

        try:
            client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
            run_id = str(client.info("server")["run_id"])
            client.close()
        except redis.RedisError:
            return  # down: the next answer tells whether it restarted
        previous, self.run_id = self.run_id, run_id
        if previous is None or previous == run_id:
            return
        from core.topology import QUEUES

        try:
            count = restore_unacked(self.url, set(QUEUES))
        except Exception as exc:
            log(f"could not give reserved messages back after the Redis restart: {type(exc).__name__}")
            return
        log(f"Redis restarted: {count} message(s) reserved before the crash are back in their queues")
