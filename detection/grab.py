"""Open a camera source once and read one frame: the admin's "grab a frame" and start-up checks."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from cameras.sources import Source, SourceKind
from core.redact import mask_url

# RTSP over TCP: UDP loses packets (smeared frames) through NAT and on busy links.
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")


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


def open_capture(source: Source, timeout_s: float) -> cv2.VideoCapture:
    """A VideoCapture on the FFmpeg backend with open and read time-outs, or FrameGrabError."""
    timeout_ms = int(timeout_s * 1000)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
    cap = cv2.VideoCapture(source.url, cv2.CAP_FFMPEG, params)
    if not cap.isOpened():
        cap.release()
        what = "video file" if source.kind is SourceKind.FILE else f"{source.kind.value.upper()} stream"
        raise FrameGrabError(
            f"Could not open the {what} {mask_url(source.url)} within {timeout_s:.0f} s "
            "(unreachable host, wrong path or credentials, or an unsupported codec)."
        )
    return cap


def grab_frame(source: Source, timeout_s: float) -> Grab:
    started = time.monotonic()
    cap = open_capture(source, timeout_s)
    try:
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None or frame.size == 0:
        raise FrameGrabError(f"{mask_url(source.url)} opened but gave no decodable frame.")
    return Grab(image=np.asarray(frame, dtype=np.uint8), elapsed_s=time.monotonic() - started)
