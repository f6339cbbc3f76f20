"""Prometheus metrics from processes that are not the web server (Celery workers, capture).

Each of those processes writes its values into ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's
multiprocess mode, so the children of a prefork pool or of the capture supervisor add up), and the
parent serves the merged view on ``METRICS_PORT``. Without the variables nothing is exported and
the metrics still work in-process (tests read them directly).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client import multiprocess as prom_multiprocess

logger = logging.getLogger(__name__)


def multiproc_dir() -> Path | None:
    raw = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(raw) if raw else None


def reset_multiproc_dir() -> None:
    """Start a parent process with an empty folder: values of a previous run must not add up."""
    path = multiproc_dir()
    if path is None:
        return
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def serve(port: int | None = None) -> int | None:
    """Serve the merged metrics of this process tree on METRICS_PORT (0 picks a free port)."""
    if port is None:
        raw = os.environ.get("METRICS_PORT")
        if not raw:
            return None
        port = int(raw)
    registry = CollectorRegistry()
    if multiproc_dir() is not None:
        prom_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    server, _ = start_http_server(port, addr=os.environ.get("METRICS_ADDR", "127.0.0.1"), registry=registry)
    actual = int(server.server_port)
    logger.info("metrics on :%d/metrics", actual)
    return actual


def mark_dead(pid: int) -> None:
    """A child exited: drop its live gauges (its counters stay counted)."""
    if multiproc_dir() is not None:
        prom_multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
