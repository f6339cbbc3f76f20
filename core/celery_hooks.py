"""What every Celery task gets without a line in the task: metrics and log context.

Connected once per process by ``trafficsite.celery`` (the module that creates the app), so web,
capture, beat and workers all count the tasks they publish. Trace spans of tasks come from the
official Celery instrumentation when tracing is on (``core/tracing.py``).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from celery import signals
from celery.utils.dispatch import Signal

from core import task_metrics
from core.logging import bind_log_context, reset_log_context

# Ids worth putting on the log lines of a task, looked up in its keyword arguments and in a dict
# passed as its first argument (the alerts and LLM tasks take one event payload).
_LOG_IDS = ("camera_id", "event_key", "alert_id", "analysis_id")
_log_tokens: dict[str, contextvars.Token[dict[str, str]]] = {}


def task_log_ids(args: Any, kwargs: Any) -> dict[str, object]:
    sources = [kwargs or {}]
    if args and isinstance(args[0], dict):
        sources.append(args[0])
    ids: dict[str, object] = {}
    for source in sources:
        for name in _LOG_IDS:
            value = source.get(name)
            if isinstance(value, str | int) and name not in ids:
                ids[name] = value
    return ids


def _bind_task_log_ids(task_id: str | None = None, args: Any = None, kwargs: Any = None, **_: Any) -> None:
    if task_id is not None:
        _log_tokens[task_id] = bind_log_context(**task_log_ids(args, kwargs))


def _unbind_task_log_ids(task_id: str | None = None, **_: Any) -> None:
    token = _log_tokens.pop(task_id or "", None)
    if token is not None:
        reset_log_context(token)


def connect() -> None:
    # Order matters where two handlers share a signal: the log context is bound before the task
    # runs and unbound before its metrics are finished.
    hooks: list[tuple[Signal, Callable[..., None]]] = [
        (signals.before_task_publish, task_metrics.on_before_publish),
        (signals.after_task_publish, task_metrics.on_after_publish),
        (signals.task_received, task_metrics.on_received),
        (signals.task_prerun, task_metrics.on_prerun),
        (signals.task_prerun, _bind_task_log_ids),
        (signals.task_success, task_metrics.on_success),
        (signals.task_failure, task_metrics.on_failure),
        (signals.task_retry, task_metrics.on_retry),
        (signals.task_rejected, task_metrics.on_rejected),
        (signals.task_revoked, task_metrics.on_revoked),
        (signals.task_postrun, _unbind_task_log_ids),
        (signals.task_postrun, task_metrics.on_postrun),
    ]
    for signal, handler in hooks:
        signal.connect(handler, weak=False, dispatch_uid=f"trafficsite:{handler.__module__}.{handler.__qualname__}")
