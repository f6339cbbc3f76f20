"""Start and stop the real RTSP server of tests/support/rtsp_server.py from a test."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

SERVER = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # has Debian's GObject bindings; the venv does not


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def looped_clip(clip: Path, target: Path, loops: int) -> Path:
    """The clip repeated ``loops`` times, without re-encoding (ffmpeg stream copy)."""
    if not target.exists():
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(clip), "-c", "copy",
             str(target)],
            check=True, timeout=60,
        )  # fmt: skip
    return target


class RtspServer:
    def __init__(self, clip: Path, port: int | None = None) -> None:
        self.clip = clip
        self.port = port or free_port()
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/live"

    def start(self) -> RtspServer:
        if not Path(SYSTEM_PYTHON).exists():
            raise RuntimeError("the RTSP tests need Debian's python3-gi and GStreamer: run scripts/system-deps.sh")
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER), str(self.clip), str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"RTSP server did not start: {line} {self.proc.stdout.read()}")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("RTSP server is not accepting connections")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
