"""A real prefork worker, through real Redis: every queue is served, final failures are recorded."""

from __future__ import annotations

import pytest

from core.health import ping_queues
from core.models import FailedJob
from tests.celery_tasks import fails_permanently, frozen_objects, retries_then_fails
from tests.support.waiting import wait_for
from tests.workers import WorkerProcess

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_task_runs_through_redis_on_each_queue(celery_worker: WorkerProcess) -> None:
    answers = ping_queues(timeout_s=30)
    assert set(answers) == {"detect", "llm", "alerts", "maintenance"}
    for queue, answer in answers.items():
        assert answer["ok"], answer
        assert answer["queue"] == queue  # delivered by that queue, not by a fallback
        assert answer["worker"].startswith("tests@")


def test_a_queue_without_a_worker_is_reported(celery_worker: WorkerProcess) -> None:
    answers = ping_queues(("nobody-listens",), timeout_s=1)
    assert answers["nobody-listens"] == {
        "ok": False,
        "error": "no worker answered on queue 'nobody-listens' within 1 s",
    }


def test_a_permanent_failure_leaves_a_replayable_failed_job(celery_worker: WorkerProcess) -> None:
    result = fails_permanently.delay("the frame was garbage")
    job = wait_for(lambda: FailedJob.objects.filter(task_id=result.id).first())
    assert (job.task_name, job.queue, job.args, job.error_type) == (
        "tests.fails_permanently",
        "maintenance",
        ["the frame was garbage"],
        "ValueError",
    )
    assert job.error == "the frame was garbage"
    assert "raise ValueError(reason)" in job.traceback
    assert job.attempts == 1

    new_id = job.replay()
    assert new_id and job.replay_task_id == new_id and job.replayed_at is not None
    assert job.replay() is None  # a second click does not send it twice
    replayed = wait_for(lambda: FailedJob.objects.filter(task_id=new_id).first())
    assert replayed.args == ["the frame was garbage"]


def test_a_transient_error_is_retried_before_it_is_recorded(celery_worker: WorkerProcess) -> None:
    result = retries_then_fails.delay("dashscope")
    job = wait_for(lambda: FailedJob.objects.filter(task_id=result.id).first())
    assert job.error_type == "ConnectionError"
    assert job.attempts == 3  # the first try and max_retries=2


def test_pool_children_inherit_the_workers_imports_frozen(celery_worker: WorkerProcess) -> None:
    """Frozen, Django and the app stay shared between a worker and its pool children (half the
    memory of a 4-process worker): a collection in a child would copy every page it visits."""
    assert frozen_objects.apply_async(queue="maintenance").get(timeout=30) > 100_000
