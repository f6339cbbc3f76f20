"""Celery tasks of the detect queue: thin wrappers over plain functions."""

from __future__ import annotations

from typing import Any

from core import topology
from core.taskbase import task
from detection.detect_job import BatchFrame, run_detect_batch, run_detect_job


# The result goes to the camera's reply list, in a shape it can reorder; no result backend entry.
@task(topology.DETECT_FRAME, ignore_result=True)
def detect_frame(**kwargs: Any) -> None:
    run_detect_job(**kwargs)


# Several frames of one camera in one task, sent when the camera's worker is behind (see
# detection/capture/camera.py); a result per frame on the reply list, as detect_frame gives.
@task(topology.DETECT_FRAMES, ignore_result=True)
def detect_frames(*, frames: list[BatchFrame], **kwargs: Any) -> None:
    run_detect_batch(frames=frames, **kwargs)
