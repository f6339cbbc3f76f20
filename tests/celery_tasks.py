"""Tasks that exist only for the test worker (loaded with ``--include tests.celery_tasks``)."""

from __future__ import annotations

from core.taskbase import task
from core.topology import MAINTENANCE, Route

FAILS_PERMANENTLY = Route("tests.fails_permanently", MAINTENANCE, soft_time_limit=10, time_limit=15)
RETRIES_THEN_FAILS = Route("tests.retries_then_fails", MAINTENANCE, soft_time_limit=10, time_limit=15)
FROZEN_OBJECTS = Route("tests.frozen_objects", MAINTENANCE, soft_time_limit=10, time_limit=15)


@task(FAILS_PERMANENTLY)
def fails_permanently(reason: str) -> None:
    raise ValueError(reason)


@task(
    RETRIES_THEN_FAILS,
    autoretry_for=(ConnectionError,),
    retry_kwargs={"max_retries": 2, "countdown": 0},
)
def retries_then_fails(service: str) -> None:
    raise ConnectionError(f"{service} refused the connection")


@task(FROZEN_OBJECTS)
def frozen_objects() -> int:
    """How many objects the pool child inherited frozen (out of the collector's reach) from its parent."""
    import gc

    return gc.get_freeze_count()
