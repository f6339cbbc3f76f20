"""VLC as an RTSP server that speaks only UDP (RTP over UDP; TCP interleaving gets "461 Unsupported
transport"), as many older cameras do. From Debian's vlc-bin and vlc-plugin-base (scripts/system-deps.sh).

VLC refuses to run as root, so under root it runs as ``nobody``, reading a copy of the clip from a
folder that user can read.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from detection import rtsp_probe
from tests.support.rtsp import free_port

CVLC = "/usr/bin/cvlc"


class VlcRtspServer:
    def __init__(self, clip: Path, port: int | None = None) -> None:
        self.clip = clip
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.folder = Path(tempfile.mkdtemp(prefix="trafficsite-vlc-"))

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self) -> VlcRtspServer:
        if not Path(CVLC).exists():
            raise RuntimeError("the UDP-only RTSP tests need VLC (vlc-bin, vlc-plugin-base): scripts/system-deps.sh")
        self.folder.chmod(0o755)
        clip = self.folder / self.clip.name
        shutil.copyfile(self.clip, clip)
        clip.chmod(0o644)
        sout = f"#rtp{{sdp={self.url}}}"
        argv = [CVLC, "--intf", "dummy", str(clip), "--loop", "--sout", sout, "--sout-keep"]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "nobody", "--", *argv]
        log = (self.folder / "vlc.log").open("wb")
        env = {**os.environ, "HOME": str(self.folder)}
        # A session of its own: under root VLC runs below runuser, and kill() must reach it too.
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"VLC exited: {(self.folder / 'vlc.log').read_text()[-2000:]}")
            if rtsp_probe.reachable(self.url).ok:
                return self
            time.sleep(0.2)
        raise RuntimeError("VLC's RTSP server did not answer within 15 s")

    def kill(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        shutil.rmtree(self.folder, ignore_errors=True)
