""" "Grab a frame" for the web process, in a child process with time, CPU and memory limits.

A camera source is untrusted media: decoding it inside daphne would let a hostile stream (a huge
frame, a decoder bug, a stream that never ends) take the web process with it. The child gets the
source on stdin (never in argv, which every user of the machine can read), sets its own limits
before importing OpenCV, grabs one frame and writes it back as JPEG; the parent kills it at the
deadline.

    python -m detection.isolated_grab   < {"kind": "rtsp", "url": "...", "timeout_s": 10, "networks": []}
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass

from cameras.sources import Source, SourceKind, allowed_camera_networks

# Address space of the child: OpenCV, FFmpeg and one 8K frame fit with room to spare.
MEMORY_LIMIT_BYTES = 2 * 1024**3
# The child's exit status when it could not grab (stderr then holds the message, safe to show).
GRAB_FAILED = 3


class IsolatedGrabError(RuntimeError):
    """No frame. The message is safe to show (URLs masked)."""


@dataclass(frozen=True)
class IsolatedGrab:
    jpeg: bytes
    size: tuple[int, int]
    elapsed_s: float


def grab_jpeg(source: Source, timeout_s: float, transport: str = "auto") -> IsolatedGrab:
    """One frame of ``source`` as JPEG, grabbed by a child process; IsolatedGrabError says why not."""
    request = {
        "kind": source.kind.value,
        "url": source.url,
        "timeout_s": timeout_s,
        "transport": transport,
        "networks": [str(net) for net in allowed_camera_networks()],
    }
    started = time.monotonic()
    deadline_s = 2 * timeout_s + 10  # open + read time-outs, plus the child's start (imports)
    try:
        done = subprocess.run(  # our own module, with the interpreter that runs us
            [sys.executable, "-m", "detection.isolated_grab"],
            input=json.dumps(request).encode(),
            capture_output=True,
            timeout=deadline_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise IsolatedGrabError(
            f"{source.masked} gave no frame within {deadline_s:.0f} s; the grab was stopped."
        ) from None
    lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
    if done.returncode == GRAB_FAILED and lines:
        raise IsolatedGrabError(lines[-1][:500])
    if done.returncode != 0:
        # Killed by its memory or CPU limit, or crashed in a decoder: say so, not its traceback.
        raise IsolatedGrabError(f"The frame grab of {source.masked} failed (exit status {done.returncode}).")
    header, _, jpeg = done.stdout.partition(b"\n")
    width, height = json.loads(header)["size"]
    return IsolatedGrab(jpeg=jpeg, size=(int(width), int(height)), elapsed_s=time.monotonic() - started)


def _child() -> int:
    request = json.loads(sys.stdin.buffer.read())
    timeout_s = float(request["timeout_s"])
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    cpu_s = int(2 * timeout_s + 10)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    from core.netguard import parse_networks
    from detection.grab import FrameGrabError, grab_frame

    source = Source(SourceKind(request["kind"]), str(request["url"]))
    networks = parse_networks(request["networks"], setting="CAMERA_ALLOWED_NETWORKS")
    try:
        grab = grab_frame(source, timeout_s, str(request.get("transport", "auto")), networks)
        jpeg = grab.jpeg()
    except FrameGrabError as exc:
        sys.stderr.write(f"{exc}\n")
        return GRAB_FAILED
    sys.stdout.buffer.write(json.dumps({"size": grab.size}).encode() + b"\n" + jpeg)
    return 0


if __name__ == "__main__":
    sys.exit(_child())
