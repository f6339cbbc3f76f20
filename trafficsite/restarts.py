"""How ``./run`` restarts a process that died: at once the first time, then with a capped back-off.

A single-box deployment must keep running: a process that keeps dying is restarted for ever (every
``MAX_DELAY_S`` at worst) and never takes the others down. A process that died more than
``CRASH_LOOP_RESTARTS`` times within ``WINDOW_S`` is in a crash loop: the launcher says so in its log
and writes it to a small JSON file in the data folder, which ``/readyz`` reports (core/readiness.py
reads the file named by ``core.processes.PROCESS_STATE_ENV``).

Free of Django imports, like the launcher.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

WINDOW_S = 300.0
CRASH_LOOP_RESTARTS = 5
FIRST_DELAY_S = 1.0
MAX_DELAY_S = 10.0


@dataclass
class RestartPolicy:
    exits: list[float] = field(default_factory=list)  # monotonic times of recent exits
    not_before: float = 0.0
    last_code: int | None = None

    def exited(self, code: int | None, now: float | None = None) -> float:
        """Record an exit; returns the delay before the restart."""
        now = time.monotonic() if now is None else now
        self.exits = [t for t in self.exits if now - t < WINDOW_S] + [now]
        self.last_code = code
        failures = len(self.exits)
        # The first death in a while: at once (a worker killed by the OOM killer, an operator's kill).
        delay = 0.0 if failures == 1 else min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** (failures - 2))
        self.not_before = now + delay
        return delay

    def due(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) >= self.not_before

    @property
    def crash_loop(self) -> bool:
        now = time.monotonic()
        return len([t for t in self.exits if now - t < WINDOW_S]) > CRASH_LOOP_RESTARTS


def write_state(path: Path, policies: dict[str, RestartPolicy]) -> None:
    """The crash-looping processes, for /readyz; written atomically (a reader never sees half)."""
    looping = {
        name: {"exits_in_window": len(policy.exits), "window_s": WINDOW_S, "last_exit_code": policy.last_code}
        for name, policy in policies.items()
        if policy.crash_loop
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"updated": time.time(), "crash_loops": looping}))
    os.replace(tmp, path)
