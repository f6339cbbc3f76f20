"""Open a camera source once and read one frame: the admin's "grab a frame" and start-up checks."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from cameras.sources import Source, SourceKind, allowed_camera_networks
from core.netguard import AddressRefused, IPNetwork, check_in_networks
from core.redact import mask_url

# Largest frame decoded: 8K UHD. A stream may announce any size, and every frame of it is held
# decoded in memory (capture, grab, evidence), so a hostile source must not choose our memory use.
MAX_FRAME_PIXELS = 7680 * 4320

# What FFmpeg may do for each kind of source (OpenCV reads OPENCV_FFMPEG_CAPTURE_OPTIONS on every
# open). The whitelists stop an "HTTP camera" that serves an HLS or concat playlist from making
# FFmpeg fetch other URLs (internal hosts, local files); tls_verify checks rtsps/https certificates.
# RTSP goes over TCP: UDP loses packets (smeared frames) through NAT and on busy links.
FFMPEG_OPTIONS: dict[SourceKind, dict[str, str]] = {
    SourceKind.RTSP: {
        "rtsp_transport": "tcp",
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


def ffmpeg_options(source: Source) -> str:
    """The OPENCV_FFMPEG_CAPTURE_OPTIONS value for a source: ``key;value|key;value``."""
    return "|".join(f"{key};{value}" for key, value in FFMPEG_OPTIONS[source.kind].items())


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


def open_capture(source: Source, timeout_s: float, networks: Sequence[IPNetwork] | None = None) -> cv2.VideoCapture:
    """A VideoCapture on the FFmpeg backend with open and read time-outs, or FrameGrabError.

    ``networks``: where the stream may be (None: CAMERA_ALLOWED_NETWORKS from the settings)."""
    timeout_ms = int(timeout_s * 1000)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
    check_source_network(source, allowed_camera_networks() if networks is None else networks)
    # One camera per capture process and grabs in their own process: no other open races this.
    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = ffmpeg_options(source)
    cap = cv2.VideoCapture(source.url, cv2.CAP_FFMPEG, params)
    if not cap.isOpened():
        cap.release()
        what = "video file" if source.kind is SourceKind.FILE else f"{source.kind.value.upper()} stream"
        raise FrameGrabError(
            f"Could not open the {what} {mask_url(source.url)} within {timeout_s:.0f} s "
            "(unreachable host, wrong path or credentials, or an unsupported codec)."
        )
    # The size the stream announces, before any frame is decoded into our memory (capture and grab).
    width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    try:
        check_frame_size(width, height)
    except FrameGrabError:
        cap.release()
        raise
    return cap


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


def grab_frame(source: Source, timeout_s: float, networks: Sequence[IPNetwork] | None = None) -> Grab:
    started = time.monotonic()
    cap = open_capture(source, timeout_s, networks)
    try:
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None or frame.size == 0:
        raise FrameGrabError(f"{mask_url(source.url)} opened but gave no decodable frame.")
    check_frame_size(int(frame.shape[1]), int(frame.shape[0]))
    return Grab(image=np.asarray(frame, dtype=np.uint8), elapsed_s=time.monotonic() - started)
