"""The Celery application. Its configuration lives in the top-level ``celeryconfig`` module."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trafficsite.settings")

app = Celery("trafficsite")
app.config_from_object("celeryconfig")
app.autodiscover_tasks()


@worker_init.connect
def _serve_metrics(**kwargs: Any) -> None:
    """The worker's main process serves the merged metrics of its pool children (METRICS_PORT)."""
    from core import metrics

    metrics.serve()


@worker_process_shutdown.connect
def _child_exits(pid: int | None = None, **kwargs: Any) -> None:
    from core import metrics

    metrics.mark_dead(pid or os.getpid())
