"""Celery tasks of the detect queue: thin wrappers over plain functions."""

from __future__ import annotations

from typing import Any

from core.taskbase import task
from detection import detect


@task(
    "detection.detect_frame",
    queue="detect",
    ignore_result=True,  # the result goes to the camera's reply list, in a shape it can reorder
    soft_time_limit=20,
    time_limit=30,
)
def detect_frame(**kwargs: Any) -> None:
    detect.detect_frame(**kwargs)
