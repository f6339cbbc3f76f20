"""A private redis-server for tests that stop, kill or restart Redis (the shared one must stay up).

Listens on a unix socket, or on a free TCP port as well; ``append_only`` gives it the AOF that
./run's embedded Redis and compose use, so a restart keeps what was queued.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis

from tests.support.rtsp import free_port


class RedisServer:
    def __init__(self, folder: Path, *, tcp: bool = False, append_only: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("these tests need redis-server (Debian's redis-server package)")
        self.binary = binary
        self.folder = folder
        self.socket = folder / "redis.sock"
        self.port = free_port() if tcp else 0
        self.append_only = append_only
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        if self.port:
            return f"redis://127.0.0.1:{self.port}/{db}"
        return f"unix://{self.socket}?db={db}"

    def start(self) -> RedisServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        aof = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.append_only else ["--appendonly", "no"]
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--unixsocket", str(self.socket),
                "--unixsocketperm", "700", "--save", "", *aof, "--dir", str(self.folder),
                "--loglevel", "warning"]  # fmt: skip
        log = (self.folder / "redis.log").open("ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping():
                    return self
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start: {(self.folder / 'redis.log').read_text()[-2000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: a clean shutdown (AOF flushed); SIGKILL: a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=15)
