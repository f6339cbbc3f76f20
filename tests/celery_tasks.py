"""Tasks that exist only for the test worker (loaded with ``--include tests.celery_tasks``)."""

from __future__ import annotations

from core.taskbase import task


@task("tests.fails_permanently", queue="maintenance")
def fails_permanently(reason: str) -> None:
    raise ValueError(reason)


@task(
    "tests.retries_then_fails",
    queue="maintenance",
    autoretry_for=(ConnectionError,),
    retry_kwargs={"max_retries": 2, "countdown": 0},
)
def retries_then_fails(service: str) -> None:
    raise ConnectionError(f"{service} refused the connection")
