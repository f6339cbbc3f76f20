"""One decorator for every task: its route (name, queue, time limits) and a dead-letter record.

Tasks stay thin wrappers over plain functions (tests call the functions directly); what every task
needs the same way lives here once, as Sentry's ``instrumented_task`` does. Tasks are registered
with ``shared_task``, so this base layer needs no Celery app (``trafficsite.celery`` makes it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Task, shared_task
from celery import current_app as celery_app

from core.models import FailedJob
from core.topology import Route

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


class RecordedTask(Task):  # type: ignore[type-arg]
    """A task whose final failure (retries exhausted, or a permanent error) leaves a FailedJob."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        delivery = self.request.delivery_info or {}
        queue = delivery.get("routing_key") or getattr(self, "queue", None) or celery_app.conf.task_default_queue
        try:
            FailedJob.record(
                task_name=self.name,
                task_id=task_id,
                queue=queue,
                args=args,
                kwargs=kwargs,
                exc=exc,
                traceback=str(einfo),
                attempts=self.request.retries + 1,
            )
        except Exception:  # the database may be what failed; the log line still has the task id
            logger.exception("could not record failed job %s (%s)", task_id, self.name)
        logger.error("task %s %s failed for good: %s", self.name, task_id, type(exc).__name__)


def task(route: Route, **options: Any) -> Callable[[F], Any]:
    """Register a task under its route's name, queue and limits, failing into a FailedJob.

    Only the queue is set, no routing key: Celery takes the key from the queue, so a caller's
    ``apply_async(queue=...)`` (the health pings to every queue) really goes to that queue.
    ``soft_time_limit``/``time_limit`` in ``options`` may only tighten the route's limits.
    """
    options.setdefault("bind", False)
    soft = options.pop("soft_time_limit", route.soft_time_limit)
    hard = options.pop("time_limit", route.time_limit)
    if soft > route.soft_time_limit or hard > route.time_limit:
        raise ValueError(f"{route.name}: time limits above the route's ({route.soft_time_limit}/{route.time_limit} s)")
    if route.expires is not None:
        options.setdefault("expires", route.expires)
    if not route.events:
        options.setdefault("send_events", False)  # the worker's events; the sender's: trafficsite/celery.py
    return shared_task(
        name=route.name,
        queue=route.queue,
        soft_time_limit=soft,
        time_limit=hard,
        base=RecordedTask,
        **options,
    )


def send(route: Route, *args: Any, kwargs: dict[str, Any] | None = None, **options: Any) -> Any:
    """Send a task by its route, without importing the module that defines it (the next stage's)."""
    if route.expires is not None:
        options.setdefault("expires", route.expires)
    return celery_app.send_task(route.name, args=list(args), kwargs=kwargs, queue=route.queue, **options)
