"""Readiness of the whole system, for ``/readyz``: database, Redis, broker, workers, capture.

Each check answers ``{"ok": bool, ...details}``; the report is ready only when all are. The checks
run side by side, each bounded by READYZ_TIMEOUT_S, and the report is kept READYZ_CACHE_S seconds
in this process: the queue check sends a real task to every queue, and a load balancer polling
every second from several addresses must not flood them. Requests that arrive while a check runs
wait for it and share its answer.

Nothing secret leaves: errors are the exception's type and its message with URL credentials and
API keys masked.
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import redis
from celery import current_app as celery_app
from django.conf import settings
from django.db import connections

from core.health import cameras_not_capturing, live_supervisors, ping_queues
from core.processes import PROCESS_STATE_ENV
from core.redact import redact_text

Check = Callable[[float], dict[str, Any]]

_lock = threading.Lock()
_cached: tuple[float, dict[str, Any]] | None = None
# Threads outlive a check that hangs (a database host that drops packets); a few suffice.
_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="readyz")


def readiness() -> dict[str, Any]:
    """The cached report, or a fresh one when the cached one is older than READYZ_CACHE_S."""
    global _cached
    with _lock:
        now = time.monotonic()
        if _cached is not None and now < _cached[0]:
            return {**_cached[1], "cached": True}
        report = check_all(settings.READYZ_TIMEOUT_S)
        _cached = (time.monotonic() + settings.READYZ_CACHE_S, report)
        return {**report, "cached": False}


def forget() -> None:
    """Drop the cached report (tests; a deploy script that wants a fresh answer)."""
    global _cached
    with _lock:
        _cached = None


def check_all(timeout_s: float) -> dict[str, Any]:
    checks: dict[str, Check] = {
        "database": check_database,
        "redis": check_redis,
        "broker": check_broker,
        "queues": lambda t: check_queues(tuple(settings.READYZ_QUEUES), t),
        "capture": check_capture,
        "processes": check_processes,
    }
    # Each check runs in a copy of this context, so the pings continue the request's trace.
    futures = {
        name: _executor.submit(contextvars.copy_context().run, _guarded, check, timeout_s)
        for name, check in checks.items()
    }
    # The queue check waits up to timeout_s for the pings, then briefly asks the workers directly.
    deadline = time.monotonic() + timeout_s + 2.0
    results: dict[str, dict[str, Any]] = {}
    for name, future in futures.items():
        try:
            results[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            results[name] = {"ok": False, "error": f"no answer within {timeout_s:g} s"}
    failing = [name for name, result in results.items() if not result["ok"]]
    return {
        "status": "ok" if not failing else "unavailable",
        "failing": failing,
        "checked_at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "checks": results,
    }


def _guarded(check: Check, timeout_s: float) -> dict[str, Any]:
    started = time.monotonic()
    try:
        result = check(timeout_s)
    except Exception as exc:
        result = {"ok": False, "error": describe(exc)}
    result.setdefault("ms", round((time.monotonic() - started) * 1000, 1))
    return result


def describe(exc: BaseException) -> str:
    """``Type: message`` with credentials masked (a Redis URL with a password, say), cut short."""
    secrets = list(settings.DASHSCOPE_API_KEYS) + _url_passwords()
    return redact_text(f"{type(exc).__name__}: {exc}", secrets)[:300]


def _url_passwords() -> list[str]:
    found = []
    for url in (settings.REDIS_URL, settings.CELERY_BROKER_URL):
        password = urlsplit(url).password
        if password:
            found.append(password)
    password = settings.DATABASES["default"].get("PASSWORD")
    if password:
        found.append(str(password))
    return found


# -- the checks --------------------------------------------------------------------------------
def check_database(timeout_s: float) -> dict[str, Any]:
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        # This runs on a pool thread: do not leave a connection behind per thread.
        connection.close()
    return {"ok": True, "vendor": connection.vendor}


def check_redis(timeout_s: float) -> dict[str, Any]:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        client.ping()
    finally:
        client.close()
    return {"ok": True}


def check_broker(timeout_s: float) -> dict[str, Any]:
    with celery_app.connection_for_write(connect_timeout=timeout_s) as connection:
        connection.ensure_connection(max_retries=0)  # one attempt: connect_timeout bounds it
        connection.default_channel  # noqa: B018 - opening a channel talks to the broker
        return {"ok": True, "transport": connection.transport_cls}


def check_queues(queues: tuple[str, ...], timeout_s: float) -> dict[str, Any]:
    """A ping through every queue; a queue whose ping is not answered in time is still ready when
    a worker is subscribed to it (all its processes busy, or a backlog), which the workers' main
    processes tell through Celery's control channel whatever their pool is doing."""
    answers = ping_queues(queues, timeout_s=timeout_s)
    unanswered = [queue for queue, answer in answers.items() if not answer["ok"]]
    if unanswered:
        consumers = _consumers(min(1.0, timeout_s))
        for queue in unanswered:
            workers = consumers.get(queue, [])
            if workers:
                answers[queue] = {
                    "ok": True,
                    "busy": True,
                    "workers": workers,
                    "note": f"no answer to a ping within {timeout_s:g} s, but {len(workers)} worker(s) "
                    "consume the queue: all busy, or a backlog",
                }
            else:
                answers[queue]["workers"] = []
    return {"ok": all(answer["ok"] for answer in answers.values()), "queues": answers}


def _consumers(timeout_s: float) -> dict[str, list[str]]:
    replies = celery_app.control.inspect(timeout=timeout_s).active_queues() or {}
    consumers: dict[str, list[str]] = {}
    for worker, queues in replies.items():
        for queue in queues or []:
            consumers.setdefault(str(queue.get("name")), []).append(str(worker))
    return {queue: sorted(workers) for queue, workers in consumers.items()}


def check_capture(timeout_s: float) -> dict[str, Any]:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        supervisors = live_supervisors(client)
        not_capturing = cameras_not_capturing(client)
    finally:
        client.close()
    cameras = sorted({camera for held in supervisors.values() for camera in held})
    result: dict[str, Any] = {"ok": bool(supervisors), "supervisors": len(supervisors), "cameras": len(cameras)}
    if not supervisors:
        result["error"] = "no capture supervisor heartbeat (manage.py run_cameras is not running)"
    elif not_capturing:
        # An enabled camera that does not capture is an outage of its own, whatever else is up.
        result.update(ok=False, error="; ".join(not_capturing), not_capturing=not_capturing)
    return result


def check_processes(timeout_s: float) -> dict[str, Any]:
    """Processes that ./run's launcher keeps restarting (a crash loop); nothing to say elsewhere
    (compose and systemd show their own restart counts)."""
    path = os.environ.get(PROCESS_STATE_ENV)
    if not path:
        return {"ok": True, "supervised_by": "not ./run"}
    try:
        with open(path) as handle:
            loops = json.load(handle).get("crash_loops", {})
    except (OSError, ValueError):
        return {"ok": True, "crash_loops": {}}
    result: dict[str, Any] = {"ok": not loops, "crash_loops": loops}
    if loops:
        result["error"] = "; ".join(
            f"{name} keeps dying ({info['exits_in_window']} exits in {info['window_s']:.0f} s, "
            f"last exit code {info['last_exit_code']}); ./run restarts it"
            for name, info in loops.items()
        )
    return result
