"""Tasks that exist only for the observability tests (loaded with ``--include tests.support.obs_tasks``).

The tests send them to a queue of their own, so the session's shared worker never sees them.
"""

from __future__ import annotations

import logging
import os
import time

from core.taskbase import task
from core.topology import MAINTENANCE, Route

logger = logging.getLogger(__name__)


@task(Route("tests.obs.sleep_and_pid", MAINTENANCE, soft_time_limit=50, time_limit=60))
def sleep_and_pid(seconds: float) -> int:
    """Keeps one pool child busy for a while, and says which child it was."""
    time.sleep(seconds)
    return os.getpid()


@task(Route("tests.obs.log_line", MAINTENANCE, soft_time_limit=50, time_limit=60))
def log_line(camera_id: int, message: str) -> None:
    logger.warning(message)
