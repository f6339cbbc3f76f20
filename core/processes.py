"""The processes of the system and how each is started: one table for ``./run`` (the launcher),
compose's start scripts, ``manage.py evaluate``, the benchmark and the tests.

Free of Django imports: the launcher uses it before any settings exist.

    python -m core.processes NAME [EXTRA ARGS...]   # replace this process with NAME (compose)

Worker shapes were measured with bench/detect_throughput.py on CPUs: the detect worker runs one
single-threaded model run per core with two tasks prefetched per slot; the LLM worker waits seconds
on the network, so it runs more pool processes than cores.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from core.topology import ALERTS, DETECT, LLM, MAINTENANCE, QUEUES

# ./run's launcher writes its crash-looping processes to the JSON file named here; /readyz reads it.
PROCESS_STATE_ENV = "TRAFFICSITE_PROCESS_STATE"
DETECT_PREFETCH = 2
# The detect worker is one process with one thread per core (Celery's threads pool), not a prefork
# parent with a child per core: ONNX Runtime releases the GIL while a model runs, so the threads
# share one session (one copy of the model in memory) and still use every core, and a frame costs
# no pickling through a pipe to a child and back. Measured here (bench/detect_throughput.py's path,
# 2 cores, same frames, alternating runs): 13-15 % more frames per second than prefork. The threads
# pool does not enforce the route's time limits; a detection is bounded CPU work, not I/O that hangs.
DETECT_POOL = "threads"
# Imported by the detect worker's parent before its pool forks (detection/worker_preload.py says why).
DETECT_PRELOAD = "detection.worker_preload"
DETECT_ENV = {"DETECT_THREADS": "1"}
# Pool processes per worker; <QUEUE>_CONCURRENCY in the environment overrides (compose sets them).
DEFAULT_CONCURRENCY = {DETECT: 0, LLM: 4, ALERTS: 2, MAINTENANCE: 1}  # 0: one per core


def detect_processes() -> int:
    return os.cpu_count() or 1


def concurrency(queue: str, environ: Mapping[str, str]) -> int:
    raw = environ.get(f"{queue.upper()}_CONCURRENCY", "")
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise SystemExit(f"{queue.upper()}_CONCURRENCY must be a positive whole number, not {raw!r}")
        return int(raw)
    return DEFAULT_CONCURRENCY[queue] or detect_processes()


def celery(*argv: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "trafficsite", *argv]


def worker_argv(queues: str, name: str, processes: int, *extra: str, loglevel: str = "INFO") -> list[str]:
    return celery("worker", "-Q", queues, "-n", f"{name}@%h", "-c", str(processes), "--loglevel", loglevel, *extra)


def detect_worker_argv(name: str, processes: int | None = None, *more: str, loglevel: str = "INFO") -> list[str]:
    extra = ("--pool", DETECT_POOL, "--prefetch-multiplier", str(DETECT_PREFETCH), "--include", DETECT_PRELOAD)
    return worker_argv(DETECT, name, processes or detect_processes(), *extra, *more, loglevel=loglevel)


@dataclass(frozen=True)
class Options:
    """What differs between deployments: where web listens, where beat keeps its schedule."""

    host: str = "0.0.0.0"  # noqa: S104 - in a container; ./run passes 127.0.0.1
    port: int = 8000
    beat_schedule: str = os.path.join(os.environ.get("TMPDIR", "/tmp"), "celerybeat-schedule")  # noqa: S108


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: Callable[[Options, Mapping[str, str]], list[str]]  # (options, the process's environment)
    env: dict[str, str] = field(default_factory=dict)
    # Serves Prometheus metrics on METRICS_PORT, merging its children (multiprocess mode).
    metrics: bool = False
    # Narrows the environment the process gets (None: all of it).
    environment: Callable[[Mapping[str, str]], dict[str, str]] | None = None

    def environ(self, environ: Mapping[str, str]) -> dict[str, str]:
        return self.environment(environ) if self.environment else dict(environ)


# Flower only watches the broker: it gets neither the database password, nor DashScope keys, nor the
# site's secret key (it loads the settings to build the Celery app, so it gets a throw-away key).
# TEST_REDIS_URL: what tests/settings.py reads REDIS_URL from. CELERY_BROKER_URL: the broker it watches
# when that is RabbitMQ (core/broker.py).
FLOWER_ENV_KEEP = frozenset({"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV",
                             "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "TRAFFICSITE_DATA_DIR",
                             "LOG_LEVEL", "LOG_FORMAT", "TEST_REDIS_URL"})  # fmt: skip


def flower_environment(environ: Mapping[str, str]) -> dict[str, str]:
    kept = {k: v for k, v in environ.items() if k in FLOWER_ENV_KEEP or k.startswith("FLOWER_")}
    return {**kept, "DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}


def _worker(queue: str) -> ProcessSpec:
    if queue == DETECT:
        return ProcessSpec("worker-detect", lambda o, env: detect_worker_argv(DETECT, concurrency(DETECT, env)),
                           dict(DETECT_ENV), metrics=True)  # fmt: skip
    return ProcessSpec(f"worker-{queue}", lambda o, env: worker_argv(queue, queue, concurrency(queue, env)),
                       metrics=True)  # fmt: skip


MANAGE = [sys.executable, "manage.py"]
PROCESSES: tuple[ProcessSpec, ...] = (
    ProcessSpec(
        "web",
        lambda o, env: [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            o.host,
            "-p",
            str(o.port),
            "trafficsite.asgi:application",
        ],
    ),
    ProcessSpec("capture", lambda o, env: [*MANAGE, "run_cameras"], metrics=True),
    *(_worker(queue) for queue in QUEUES),
    # Exactly one beat per deployment: two would send everything twice. Its schedule file only
    # remembers last run times, so a fresh one after a restart is harmless.
    ProcessSpec("beat", lambda o, env: celery("beat", "--loglevel", "INFO", "--schedule", o.beat_schedule)),
    # Flower reads FLOWER_* from the environment itself (the password never on a command line).
    ProcessSpec(
        "flower", lambda o, env: celery("flower", "--purge_offline_workers=300"), environment=flower_environment
    ),
)
BY_NAME = {spec.name: spec for spec in PROCESSES}


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in BY_NAME:
        raise SystemExit(f"usage: python -m core.processes {{{','.join(BY_NAME)}}} [EXTRA ARGS...]")
    spec = BY_NAME[argv[0]]
    environ = spec.environ({**spec.env, **os.environ})
    command = [*spec.argv(Options(port=int(os.environ.get("PORT", "8000"))), environ), *argv[1:]]
    os.execvpe(command[0], command, environ)  # noqa: S606 - our own table


if __name__ == "__main__":
    main(sys.argv[1:])
