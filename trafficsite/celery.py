"""The Celery application. Its configuration lives in the top-level ``celeryconfig`` module."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.app.amqp import AMQP
from celery.signals import worker_init, worker_process_shutdown, worker_ready

from core import broker, celery_hooks, schedule
from core.topology import QUIET_TASKS

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trafficsite.settings")


class QuietAMQP(AMQP):
    """Celery's message factory, without the task-sent event for tasks whose route has events off.

    ``task_send_sent_event`` is one switch for every task; the detect tasks, sent at frame rate, would
    each cost the camera process an event published to the broker that nobody reads usefully.
    """

    def as_task_v2(self, task_id: str, name: str, *args: Any, **kwargs: Any) -> Any:
        message = super().as_task_v2(task_id, name, *args, **kwargs)
        return message._replace(sent_event=None) if name in QUIET_TASKS else message


class App(Celery):
    """Celery, with what RabbitMQ's native delayed delivery and the detect queue need of a send."""

    amqp_cls = QuietAMQP  # type: ignore[assignment]  # Celery takes a class or its dotted path

    def send_task(self, name: str, *args: Any, **options: Any) -> Any:
        if broker.is_amqp(str(self.conf.broker_url)):
            # Every send passes here (a task's apply_async and retry too): sub-second countdowns
            # cannot be routed through the delay queues (core/broker.py).
            options["countdown"] = broker.whole_countdown(options.get("countdown"))
            queue = options.get("queue")
            if getattr(queue, "name", queue) in broker.CLASSIC_QUEUES:
                # A frame is stale within seconds: kept in memory, confirmed without a disk write.
                options.setdefault("delivery_mode", 1)
        return super().send_task(name, *args, **options)


app = App("trafficsite")
# The app of every thread too: core sends tasks through celery.current_app (it imports no app), and a
# thread that never set one (the evaluate command's camera loop) would otherwise get Celery's
# unconfigured fallback app, whose default broker is amqp://localhost.
app.set_default()
app.config_from_object("celeryconfig")
app.autodiscover_tasks()
# Periodic tasks of beat, as defaults under celeryconfig (evaluated when the configuration loads).
app.add_defaults(lambda: {"beat_schedule": schedule.beat_schedule()})
# Task metrics, log context and trace propagation for every task, in every process.
celery_hooks.connect()


@worker_init.connect
def _serve_metrics(**kwargs: Any) -> None:
    """The worker's main process serves the merged metrics of its pool children (METRICS_PORT)."""
    from core import metrics

    metrics.serve()
    _share_with_pool()


def _share_with_pool() -> None:
    """Keep what the worker has loaded shared with the pool children it is about to fork.

    A collection in a child writes to the header of every object it visits, copying the page: each
    child of a 4-process LLM worker ended up with ~85 MB of its own copy of Django and the app.
    Frozen, those objects are never visited (they live as long as the process anyway): ~35 MB.
    """
    import gc

    gc.freeze()


@worker_ready.connect
def _declare_dead_letter(sender: Any = None, **kwargs: Any) -> None:
    """On RabbitMQ, the queue that takes what the task queues dead-letter exists before anything is."""
    if broker.is_amqp(str(app.conf.broker_url)):
        with app.connection_for_write() as connection:
            broker.declare_dead_letter(connection)


@worker_process_shutdown.connect
def _child_exits(pid: int | None = None, **kwargs: Any) -> None:
    from core import metrics, tracing

    tracing.flush()  # the child leaves with os._exit: buffered spans would be lost
    metrics.mark_dead(pid or os.getpid())
