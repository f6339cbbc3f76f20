"""How Celery workers are started, in one place for ./run, `manage.py evaluate`, the benchmark and
the tests. Free of Django imports: the launcher uses it before any settings exist.

The detect worker's shape was measured with bench/detect_throughput.py on CPUs: one
single-threaded model per core, two tasks prefetched per process.
"""

from __future__ import annotations

import os
import sys

DETECT_PREFETCH = 2
DETECT_ENV = {"DETECT_THREADS": "1"}


def detect_processes() -> int:
    return os.cpu_count() or 1


def worker_argv(queues: str, name: str, processes: int, *extra: str, loglevel: str = "INFO") -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "trafficsite",
        "worker",
        "-Q",
        queues,
        "-n",
        f"{name}@%h",
        "-c",
        str(processes),
        "--loglevel",
        loglevel,
        *extra,
    ]


def detect_worker_argv(name: str, processes: int | None = None, *, loglevel: str = "INFO") -> list[str]:
    return worker_argv(
        "detect",
        name,
        processes or detect_processes(),
        "--prefetch-multiplier",
        str(DETECT_PREFETCH),
        loglevel=loglevel,
    )
