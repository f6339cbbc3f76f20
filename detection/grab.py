"""Open a camera source once and read one frame: the admin's "grab a frame" and start-up checks."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from cameras.sources import Source, SourceKind, allowed_camera_networks
from core.netguard import AddressRefused, IPNetwork, check_in_networks
from core.redact import mask_url
from detection import rtsp_probe

# Largest frame decoded: 8K UHD. A stream may announce any size, and every frame of it is held
# decoded in memory (capture, grab, evidence), so a hostile source must not choose our memory use.
MAX_FRAME_PIXELS = 7680 * 4320

# What FFmpeg may do for each kind of source (OpenCV reads OPENCV_FFMPEG_CAPTURE_OPTIONS on every
# open). The whitelists stop an "HTTP camera" that serves an HLS or concat playlist from making
# FFmpeg fetch other URLs (internal hosts, local files); tls_verify checks rtsps/https certificates.
# RTSP's transport is set per open (see TRANSPORTS).
FFMPEG_OPTIONS: dict[SourceKind, dict[str, str]] = {
    SourceKind.RTSP: {
        "protocol_whitelist": "rtsp,rtsps,tcp,tls,udp,rtp",
        "format_whitelist": "rtsp",
        "tls_verify": "1",
    },
    SourceKind.HTTP: {
        "protocol_whitelist": "http,https,tcp,tls",
        "format_whitelist": "mpjpeg,mjpeg,jpeg_pipe",
        "tls_verify": "1",
    },
    SourceKind.FILE: {"protocol_whitelist": "file"},
}


def ffmpeg_options(source: Source, transport: str = "") -> str:
    """The OPENCV_FFMPEG_CAPTURE_OPTIONS value for a source: ``key;value|key;value``."""
    options = {**({"rtsp_transport": transport} if transport else {}), **FFMPEG_OPTIONS[source.kind]}
    return "|".join(f"{key};{value}" for key, value in options.items())


# RTSP over TCP first: UDP loses packets (smeared frames) through NAT and on busy links. Some servers
# (VLC's, many older cameras) speak only UDP, so "auto" tries UDP next; a camera can name one.
TRANSPORTS = ("auto", "tcp", "udp")
# OpenCV reads its FFmpeg options from the environment at each open: one open at a time sets them.
_options_lock = threading.Lock()


class FrameGrabError(RuntimeError):
    """The source could not be opened or gave no decodable frame. The message is safe to show."""


@dataclass(frozen=True)
class Grab:
    image: npt.NDArray[np.uint8]  # BGR
    elapsed_s: float

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])

    def jpeg(self, quality: int = 85) -> bytes:
        ok, buf = cv2.imencode(".jpg", self.image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise FrameGrabError("The frame could not be encoded as JPEG.")
        return bytes(buf)


def check_frame_size(width: int, height: int) -> None:
    if width * height > MAX_FRAME_PIXELS:
        raise FrameGrabError(f"The source sends {width}x{height} frames; at most 7680x4320 (8K) are accepted.")


def check_source_network(source: Source, networks: Sequence[IPNetwork]) -> None:
    """With allowed networks given, a stream's host must resolve into one of them (checked at open)."""
    if source.kind is SourceKind.FILE:
        return
    try:
        check_in_networks(source.host, source.port, networks)
    except AddressRefused as exc:
        raise FrameGrabError(str(exc)) from None


def open_capture(
    source: Source, timeout_s: float, transport: str = "auto", networks: Sequence[IPNetwork] | None = None
) -> cv2.VideoCapture:
    """A VideoCapture on the FFmpeg backend with open and read time-outs, or FrameGrabError."""
    return open_stream(source, timeout_s, transport, networks)[0]


def open_stream(
    source: Source,
    timeout_s: float,
    transport: str = "auto",
    networks: Sequence[IPNetwork] | None = None,
    *,
    threads: int = 0,
) -> tuple[cv2.VideoCapture, str]:
    """The open capture and the RTSP transport it uses ("" for other sources); FrameGrabError naming
    the transports tried and the server's answer to each when none opens.

    ``networks``: where the stream may be (None: CAMERA_ALLOWED_NETWORKS from the settings).
    ``threads``: FFmpeg's decoding threads (0: its own choice, one per core)."""
    check_source_network(source, allowed_camera_networks() if networks is None else networks)
    cap, used = _open_any(source, timeout_s, transport, threads)
    # The size the stream announces, before any frame is decoded into our memory (capture and grab).
    width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    try:
        check_frame_size(width, height)
    except FrameGrabError:
        cap.release()
        raise
    return cap, used


def _open_any(source: Source, timeout_s: float, transport: str, threads: int) -> tuple[cv2.VideoCapture, str]:
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}")
    if source.kind is not SourceKind.RTSP:
        cap = _open(source, timeout_s, "", threads)
        if cap is None:
            what = "video file" if source.kind is SourceKind.FILE else f"{source.kind.value.upper()} stream"
            raise FrameGrabError(
                f"Could not open the {what} {mask_url(source.url)} within {timeout_s:.0f} s "
                "(unreachable host, wrong path or credentials, or an unsupported codec)."
            )
        return cap, ""
    tried = ["tcp", "udp"] if transport == "auto" else [transport]
    for candidate in tried:
        cap = _open(source, timeout_s, candidate, threads)
        if cap is not None:
            return cap, candidate
    raise FrameGrabError(_explain(source, tried, timeout_s))


def _open(source: Source, timeout_s: float, transport: str, threads: int) -> cv2.VideoCapture | None:
    timeout_ms = int(timeout_s * 1000)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
    if threads > 0:
        params += [cv2.CAP_PROP_N_THREADS, threads]
    with _options_lock:
        # Set for this open only: a whitelist left behind would stop the next VideoCapture of this
        # process (a scenario video, a calibration clip) from opening a file of another kind.
        previous = os.environ.get("OPENCV_FFMPEG_CAPTURE_OPTIONS")
        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = ffmpeg_options(source, transport)
        try:
            cap = cv2.VideoCapture(source.url, cv2.CAP_FFMPEG, params)
        finally:
            if previous is None:
                os.environ.pop("OPENCV_FFMPEG_CAPTURE_OPTIONS", None)
            else:
                os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = previous
    if cap.isOpened():
        return cap
    cap.release()
    return None


def _explain(source: Source, tried: list[str], timeout_s: float) -> str:
    """Why an RTSP open failed, in the server's words: its answer to a SETUP over each transport."""
    over = " then ".join(t.upper() for t in tried)
    answers = []
    for transport in tried:
        answer = rtsp_probe.setup_answer(source.url, transport, timeout_s=min(timeout_s, 3.0))
        if answer.ok:
            said = f"the server accepted {transport.upper()} ({answer.text}) but no decodable video arrived"
            if transport == "udp":
                said += " (UDP packets blocked on the way, or an unsupported codec)"
            else:
                said += " (an unsupported codec?)"
        elif answer.code:
            said = f"over {transport.upper()} the server answered {answer.text}"
        else:
            said = f"over {transport.upper()}: {answer.text}"
        answers.append(said)
    return (
        f"Could not open the RTSP stream {mask_url(source.url)} within {timeout_s:.0f} s over {over}: "
        + "; ".join(answers)
        + "."
    )


def grab_frame(
    source: Source, timeout_s: float, transport: str = "auto", networks: Sequence[IPNetwork] | None = None
) -> Grab:
    started = time.monotonic()
    cap = open_capture(source, timeout_s, transport, networks)
    try:
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None or frame.size == 0:
        raise FrameGrabError(f"{mask_url(source.url)} opened but gave no decodable frame.")
    check_frame_size(int(frame.shape[1]), int(frame.shape[0]))
    return Grab(image=np.asarray(frame, dtype=np.uint8), elapsed_s=time.monotonic() - started)
