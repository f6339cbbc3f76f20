"""Celery tasks of the detect queue: thin wrappers over plain functions."""

from __future__ import annotations

from typing import Any

from core import topology
from core.taskbase import task
from detection.detect_job import run_detect_job


# The result goes to the camera's reply list, in a shape it can reorder; no result backend entry.
@task(topology.DETECT_FRAME, ignore_result=True)
def detect_frame(**kwargs: Any) -> None:
    run_detect_job(**kwargs)
