"""Logging for every process: secrets masked on every handler, ids of the work at hand on every line.

- :class:`RedactFilter` masks URL credentials and API keys in the message, the traceback and the
  stack of every record, whatever logged it. Libraries (FFmpeg via OpenCV, kombu, the DashScope SDK)
  quote URLs and headers in their messages; masking at the handler is the one place that catches
  them all.
- :class:`ContextFilter` adds the ids of the work a line belongs to: camera, event, alert, the Celery
  task (id and name) and the trace, taken from :func:`log_context` / :func:`bind_log_context` and
  from the task that is running.
- :class:`JsonFormatter` writes one JSON object per line (``LOG_FORMAT=json``), for log shippers;
  :class:`PlainFormatter` appends the same ids in brackets for people.

Only the fields named in :data:`CONTEXT_FIELDS` leave the process: ``extra=`` values that are not
listed are ignored by the formatters, so a caller cannot leak a secret through an extra field.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from core.redact import redact_text

# The ids a log line may carry, in the order they are printed.
CONTEXT_FIELDS = ("camera_id", "event_key", "alert_id", "analysis_id", "task_name", "task_id", "trace_id", "span_id")

_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("trafficsite_log_context")


@contextmanager
def log_context(**ids: object) -> Iterator[None]:
    """Every line logged inside the block carries these ids (``camera_id=3``, ``event_key=...``)."""
    token = _context.set(_merged(ids))
    try:
        yield
    finally:
        _context.reset(token)


def bind_log_context(**ids: object) -> contextvars.Token[dict[str, str]]:
    """Like :func:`log_context` for the rest of this context (a camera process binds its camera id)."""
    return _context.set(_merged(ids))


def reset_log_context(token: contextvars.Token[dict[str, str]]) -> None:
    _context.reset(token)


def current_log_context() -> dict[str, str]:
    return dict(_context.get({}))


def _merged(ids: dict[str, object]) -> dict[str, str]:
    unknown = set(ids) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"log context fields must be among {CONTEXT_FIELDS}, got {sorted(unknown)}")
    return {**_context.get({}), **{name: str(value) for name, value in ids.items() if value is not None}}


def _secrets() -> list[str]:
    from django.conf import settings

    return list(getattr(settings, "DASHSCOPE_API_KEYS", []) or [])


class RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _secrets()
        message = record.getMessage()
        cleaned = redact_text(message, secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        # A traceback quotes the exception's message (an FFmpeg error with the camera URL, say).
        # Formatters reuse ``exc_text`` once it is set, so masking it here covers every handler.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info, secrets)
        return True


class ContextFilter(logging.Filter):
    """Puts the ids of the current camera, event, task and trace on the record (never overwrites)."""

    def filter(self, record: logging.LogRecord) -> bool:
        values = dict(_context.get({}))
        values.update(_task_ids())
        values.update(_trace_ids())
        for name, value in values.items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


def _task_ids() -> dict[str, str]:
    # celery._state is what Celery's own TaskFormatter reads; it is None outside a running task.
    from celery._state import get_current_task

    task = get_current_task()
    if task is None or task.request.id is None:
        return {}
    return {"task_id": str(task.request.id), "task_name": str(task.name)}


def _trace_ids() -> dict[str, str]:
    from core import tracing

    return tracing.current_ids()


def _context_of(record: logging.LogRecord) -> dict[str, str]:
    return {name: str(value) for name in CONTEXT_FIELDS if (value := getattr(record, name, None)) is not None}


class PlainFormatter(logging.Formatter):
    """``time LEVEL logger message [camera_id=3 task_name=... task_id=...]`` for people."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, **kwargs: Any) -> None:
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s %(message)s", datefmt, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = _context_of(record)
        if not ids:
            return text
        suffix = " [" + " ".join(f"{k}={v}" for k, v in ids.items()) + "]"
        first, sep, rest = text.partition("\n")  # after the message, before a traceback
        return first + suffix + sep + rest


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, process, the context ids, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
            **_context_of(record),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # A last pass over the whole line: nothing that reached the record unmasked leaves it.
        return redact_text(json.dumps(entry, ensure_ascii=False, default=str), _secrets())
