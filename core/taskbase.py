"""One decorator for every task: a stable explicit name, its queue, and a dead-letter record.

Tasks stay thin wrappers over plain functions (tests call the functions directly); what every task
needs the same way lives here once, as Sentry's ``instrumented_task`` does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Task

from trafficsite.celery import app

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


class RecordedTask(Task):  # type: ignore[type-arg]
    """A task whose final failure (retries exhausted, or a permanent error) leaves a FailedJob."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        from core.models import FailedJob

        delivery = self.request.delivery_info or {}
        queue = delivery.get("routing_key") or getattr(self, "queue", None) or app.conf.task_default_queue
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


def task(name: str, *, queue: str, **options: Any) -> Callable[[F], Any]:
    """Register a task under an explicit ``name`` on its ``queue``, failing into a FailedJob."""
    options.setdefault("bind", False)
    return app.task(name=name, queue=queue, base=RecordedTask, **options)
