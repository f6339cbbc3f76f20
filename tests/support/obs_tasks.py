"""Tasks that exist only for the observability tests (loaded with ``--include tests.support.obs_tasks``).

The tests send them to a queue of their own, so the session's shared worker never sees them.
"""

from __future__ import annotations

import logging
import os
import time

from core.taskbase import task

logger = logging.getLogger(__name__)


@task("tests.obs.sleep_and_pid", queue="maintenance")
def sleep_and_pid(seconds: float) -> int:
    """Keeps one pool child busy for a while, and says which child it was."""
    time.sleep(seconds)
    return os.getpid()


@task("tests.obs.log_line", queue="maintenance")
def log_line(camera_id: int, message: str) -> None:
    logger.warning(message)
