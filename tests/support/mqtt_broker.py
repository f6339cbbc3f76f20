"""A private Mosquitto broker on a free port (Debian's ``mosquitto``; scripts/system-deps.sh installs it).

The tests start their own broker rather than relying on the machine's on 1883: no other client can
interfere, and a test can stop it to see what a dead broker does.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.support.rtsp import free_port


class MosquittoBroker:
    def __init__(self, workdir: Path, *, anonymous: bool = True) -> None:
        self.port = free_port()
        self.anonymous = anonymous  # False: every client is refused (no password file)
        self.config = workdir / "mosquitto.conf"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> MosquittoBroker:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise RuntimeError("the MQTT tests need Debian's mosquitto: run scripts/system-deps.sh")
        anonymous = "true" if self.anonymous else "false"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous {anonymous}\npersistence false\n")
        self.proc = subprocess.Popen(
            [binary, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("mosquitto is not accepting connections")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
