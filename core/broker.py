"""Which Celery broker carries the queues, and what each kind needs: Redis (the default) or RabbitMQ.

Redis is the broker of ``./run`` (nothing to install). A message a worker has reserved sits in
kombu's ``unacked`` hash there and comes back only after the visibility timeout (3600 s) when the
worker dies as a whole; the launcher of one box gives it back at once (trafficsite/redeliver.py), but
on several hosts nobody can tell whose it was. RabbitMQ gives a consumer's unacknowledged messages
back the moment its connection drops (a SIGKILLed process's socket is closed by its kernel; a host
that vanishes is noticed by the AMQP heartbeat), so ``CELERY_BROKER_URL=amqp://...`` is the choice of
compose and of every deployment on more than one host. Redis keeps frames, leases, results and the
channel layer either way.

On RabbitMQ the queues of idempotent, acks-late work (llm, alerts, maintenance) are quorum queues:
replicated, durable, and with a delivery limit, so a message that kills every worker that takes it
ends up in the dead-letter queue instead of crash-looping the workers for ever. Detect stays a
classic queue: a frame is stale seconds after capture, and nothing there is acknowledged late.
Countdowns (retries, the clip's wait) travel through Celery's native delayed delivery, which needs a
topic exchange, so a waiting retry sits in the broker, not in a worker's memory.

Free of Django: the launcher asks :func:`is_amqp` before any settings exist.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

from kombu import Connection, Exchange, Queue, binding

from core.topology import DETECT, QUEUES

AMQP_SCHEMES = frozenset({"amqp", "amqps", "pyamqp"})
REDIS_SCHEMES = frozenset({"redis", "rediss", "redis+socket"})

EXCHANGE = "trafficsite"
# Where RabbitMQ puts a message of a quorum queue that was delivered DELIVERY_LIMIT times and never
# acknowledged (each worker that took it died), or that a worker rejected (an unknown task, a body it
# cannot decode). No worker consumes it: an operator looks at it (the gauge
# trafficsite_queue_depth{queue="dead-letter"}) and moves it back once the cause is fixed. Expired
# messages (a ping nobody answered, a periodic run overtaken by the next) are dead-lettered too, with
# reason "expired": the headers exchange drops those (all-with-x: match on RabbitMQ's x- headers).
DEAD_LETTER = "dead-letter"
DEAD_LETTER_EXCHANGE = "trafficsite.dead-letter"
DEAD_LETTER_REASONS = ("delivery_limit", "rejected")
# Redeliveries a message may have before it is dead-lettered. Far above what a run of worker kills
# does to one message (each kill returns it once), low enough that a poison message stops after a
# few minutes of restarts (the launcher's back-off caps at 10 s).
DELIVERY_LIMIT = 20
# Queues holding only work that may be lost with its worker: classic (faster, not replicated).
CLASSIC_QUEUES = frozenset({DETECT})
# A host that vanishes without closing its sockets is noticed after about two of these (seconds).
HEARTBEAT_S = 30


def is_amqp(url: str) -> bool:
    return urlsplit(url).scheme in AMQP_SCHEMES


def validate(url: str) -> str:
    """A broker URL of a kind we configure, or ValueError naming the accepted schemes."""
    scheme = urlsplit(url).scheme
    if scheme not in AMQP_SCHEMES | REDIS_SCHEMES:
        accepted = ", ".join(sorted(s + "://" for s in AMQP_SCHEMES | REDIS_SCHEMES))
        raise ValueError(f"expected one of {accepted}; got scheme {scheme!r}")
    if not urlsplit(url).hostname and scheme != "redis+socket":
        raise ValueError("needs a host, e.g. amqp://user:password@rabbitmq:5672/vhost")
    return url


def amqp_queues(names: tuple[str, ...] = QUEUES) -> list[Queue]:
    """The task queues as declared on RabbitMQ (durable; quorum unless listed in CLASSIC_QUEUES)."""
    exchange = Exchange(EXCHANGE, type="topic", durable=True)
    queues = []
    for name in names:
        if name in CLASSIC_QUEUES:
            arguments: dict[str, Any] = {"x-queue-type": "classic"}
        else:
            arguments = {
                "x-queue-type": "quorum",
                "x-delivery-limit": DELIVERY_LIMIT,
                "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            }
        queues.append(Queue(name, exchange, routing_key=name, durable=True, queue_arguments=arguments))
    return queues


def dead_letter_queue() -> Queue:
    exchange = Exchange(DEAD_LETTER_EXCHANGE, type="headers", durable=True)
    bindings = [
        binding(exchange, arguments={"x-match": "all-with-x", "x-first-death-reason": reason})
        for reason in DEAD_LETTER_REASONS
    ]
    return Queue(DEAD_LETTER, bindings=bindings, durable=True, queue_arguments={"x-queue-type": "quorum"})


def declare_dead_letter(connection: Connection) -> None:
    """Declared by every worker at start (the exchange, its bindings, the queue): a dead-lettered
    message with nowhere to go would be dropped."""
    dead_letter_queue()(connection.default_channel).declare()


def amqp_queue_depths(url: str, queues: tuple[str, ...], timeout_s: float = 5.0) -> dict[str, int]:
    """Messages ready in each queue (not those held by a consumer), by passive declares.

    A queue that does not exist yet (no worker has declared it) has none waiting."""
    depths: dict[str, int] = {}
    with Connection(url, connect_timeout=timeout_s) as connection:
        for name in queues:
            channel: Any = connection.channel()  # py-amqp's; a failed passive declare closes it
            try:
                depths[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
            except connection.channel_errors:
                depths[name] = 0
            finally:
                if channel.is_open:
                    channel.close()
    return depths


def whole_countdown(countdown: float | None) -> float | None:
    """A countdown the native delayed delivery can route: whole seconds, at least one.

    Celery builds the delay routing key from ``int(countdown)``, and refuses 0 (a 0.5 s retry would
    fail to be sent); rounding up keeps a retry from coming back earlier than asked."""
    if countdown is None or countdown <= 0:
        return countdown
    return float(max(1, math.ceil(countdown)))
