from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis
from django.conf import settings

from tests.support.rtsp import free_port
from tests.workers import WorkerProcess


@pytest.fixture(scope="session", autouse=True)
def _clean_test_redis() -> None:
    """The test Redis database starts empty (it is a dedicated db number, see tests/settings.py)."""
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


@pytest.fixture(scope="session")
def test_database_url(django_db_setup: None) -> str:
    """The URL of pytest-django's test database, for processes that the tests start."""
    from django.db import connection

    name = connection.settings_dict["NAME"]
    # Workers started by the tests must never write to a real database, whatever -k selected.
    assert name.startswith("test_"), f"the test database is not set up (got {name!r})"
    base = urlsplit(os.environ["DATABASE_URL"])  # set by tests/settings.py
    return base._replace(path="/" + name).geturl()


@pytest.fixture(scope="session")
def celery_worker(test_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """One real prefork worker on every queue, shared by the session."""
    metrics_dir = tmp_path_factory.mktemp("worker-metrics")
    worker = WorkerProcess(
        queues="detect,llm,alerts,maintenance",
        name="tests",
        database_url=test_database_url,
        extra_env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "METRICS_PORT": str(free_port())},
    )
    worker.start()
    try:
        worker.wait_ready(("detect", "llm", "alerts", "maintenance"))
        yield worker
    finally:
        worker.stop()
