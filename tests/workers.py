"""A real Celery worker in a child process, for tests that need the whole path through Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from core.processes import DETECT_PRELOAD, worker_argv

BASE_DIR = Path(__file__).resolve().parent.parent


class WorkerProcess:
    def __init__(
        self,
        *,
        queues: str,
        name: str,
        database_url: str,
        concurrency: int = 2,
        extra_env: dict[str, str] | None = None,
        own_session: bool = False,
    ) -> None:
        self.name = name
        # In a session of its own, as the launcher starts workers: kill_whole() reaches its pool too.
        self.own_session = own_session
        self.argv = worker_argv(
            queues,
            name,
            concurrency,
            "--pool",
            "prefork",
            "--include",
            # The detect worker's preload (core/processes.py) for any worker that consumes detect.
            f"tests.celery_tasks,{DETECT_PRELOAD}" if "detect" in queues.split(",") else "tests.celery_tasks",
            "--without-gossip",
            "--without-mingle",
        )
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "TEST_DATABASE_URL": database_url,
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"trafficsite-test-worker-{name}-{os.getpid()}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=self.own_session)  # fmt: skip
        return self

    def kill_whole(self) -> None:
        """SIGKILL the worker and its pool processes at once, as the OOM killer or a host crash would."""
        assert self.proc is not None and self.own_session, "only a worker started in its own session"
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def wait_log(self, text: str, timeout_s: float = 90.0) -> None:
        """Until the worker's log says ``text`` (a worker on another broker than the tests' own)."""
        deadline = time.monotonic() + timeout_s
        while text not in self.log_path.read_text(errors="replace"):
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited early:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.name}: no {text!r} after {timeout_s} s:\n{self.log()}")
            time.sleep(0.1)

    def wait_ready(self, queues: tuple[str, ...], timeout_s: float = 90.0) -> None:
        from core.health import ping_queues

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited early:\n{self.log()}")
            answers = ping_queues(queues, timeout_s=5)
            if all(a["ok"] for a in answers.values()):
                return
        raise RuntimeError(f"worker {self.name} not ready after {timeout_s} s:\n{self.log()}")

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.env['METRICS_PORT']}/metrics"

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(self.metrics_url, timeout=5) as resp:  # noqa: S310 - our own localhost port
            return str(resp.read().decode())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
