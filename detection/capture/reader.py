"""Reads a camera source in its own thread: connect, watchdog, reconnect with back-off, sample.

Reading must never wait for detection: an RTSP client that stops reading falls behind the live
stream. So this thread reads every frame, keeps the ones the detect-fps sampler wants, and hands
them over through a small queue that drops the oldest frame when the consumer is slow.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from cameras.sources import Source, SourceKind
from core import backoff
from core.redact import mask_url
from detection.grab import FrameGrabError, open_capture
from detection.metrics import FRAMES_DROPPED, FRAMES_READ, FRAMES_SAMPLED, RECONNECTS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Frame:
    seq: int
    ts: float  # seconds: video time for files (frame index / fps), capture time for streams
    wall_time: float
    image: npt.NDArray[np.uint8]


@dataclass(frozen=True)
class ReaderState:
    status: str  # "online", "offline" or "error"
    error: str
    reconnects: int
    last_frame_wall: float | None


@dataclass(frozen=True)
class ReaderConfig:
    fps: float  # detect fps: how many frames per second of video time are kept
    stall_timeout_s: float = 5.0  # no frame for this long: the stream is considered dead
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    realtime: bool = True  # files: play at their own frame rate (False: as fast as possible)
    loop_files: bool = True
    drop_when_busy: bool = True  # live: drop the oldest frame; evaluation (False): wait, lose nothing


class FrameReader(threading.Thread):
    def __init__(self, source: Source, config: ReaderConfig, camera_label: str) -> None:
        super().__init__(name=f"reader-{camera_label}", daemon=True)
        self.source = source
        self.config = config
        self.label = camera_label
        self.frames: queue.Queue[Frame] = queue.Queue(maxsize=2)
        self.stop_event = threading.Event()
        self.finished = threading.Event()  # a file that does not loop has ended
        self._lock = threading.Lock()
        self._state = ReaderState("offline", "connecting", 0, None)
        self._seq = 0
        self._last_bucket = -1
        self.frames_read = 0
        self._loop_offset = 0.0  # files: video time at which the current pass through the file started

    # -- state shared with the camera loop ------------------------------------------------------
    @property
    def state(self) -> ReaderState:
        with self._lock:
            return self._state

    def _set_state(self, **changes: Any) -> None:
        with self._lock:
            self._state = dataclasses.replace(self._state, **changes)

    def stop(self) -> None:
        self.stop_event.set()

    # -- the thread -----------------------------------------------------------------------------
    def run(self) -> None:
        failures = 0
        while not self.stop_event.is_set():
            try:
                cap = open_capture(self.source, timeout_s=self.config.stall_timeout_s)
            except FrameGrabError as exc:
                failures += 1
                self._failed(str(exc), failures)
                continue
            try:
                got_frames = self._read_until_failure(cap)
            finally:
                cap.release()
            if self.stop_event.is_set() or self.finished.is_set():
                break
            if self.source.kind is SourceKind.FILE and got_frames:
                continue  # end of the file: loop from its start (not a reconnect)
            failures = 0 if got_frames else failures + 1
            self._failed(f"{mask_url(self.source.url)}: the stream stopped delivering frames", max(failures, 1))
        self.finished.set()

    def _failed(self, error: str, failures: int) -> None:
        status = "error" if self.source.kind is SourceKind.FILE else "offline"
        reconnects = self.state.reconnects + 1
        self._set_state(status=status, error=error, reconnects=reconnects)
        RECONNECTS.labels(self.label).inc()
        # Within 20 % below the step: cameras of one host that lost their network together spread out.
        delay = backoff.exponential_s(
            failures, base_s=self.config.backoff_initial_s, cap_s=self.config.backoff_max_s, jitter=0.2
        )
        logger.warning("camera %s: %s; reconnecting in %.1f s", self.label, error, delay)
        self.stop_event.wait(delay)

    def _read_until_failure(self, cap: cv2.VideoCapture) -> bool:
        is_file = self.source.kind is SourceKind.FILE
        fps = cap.get(cv2.CAP_PROP_FPS) if is_file else 0.0
        if is_file and not (fps and math.isfinite(fps) and fps > 0):
            fps = 25.0  # a file without a usable frame rate: assume PAL
        loop_offset = self._loop_offset if is_file else 0.0
        started_wall = time.time()
        index = 0
        got = False
        while not self.stop_event.is_set():
            # grab() demuxes and decodes; the colour conversion of retrieve() is paid only for sampled frames.
            ok = cap.grab()
            now = time.time()
            if not ok:
                if is_file and got:
                    self._loop_offset = loop_offset + index / fps
                    if not self.config.loop_files:
                        self.finished.set()
                return got
            if not got:
                got = True
                self._set_state(status="online", error="")
            FRAMES_READ.labels(self.label).inc()
            self.frames_read += 1
            if is_file:
                ts = loop_offset + index / fps
                if self.config.realtime:
                    delay = started_wall + index / fps - now
                    if delay > 0:
                        self.stop_event.wait(delay)
                        now = time.time()
            else:
                ts = now
            index += 1
            self._set_state(last_frame_wall=now)
            if self._sample(ts):
                ok, image = cap.retrieve()
                if not ok or image is None:
                    continue  # a frame that does not decode: skip it, the next one may
                self._hand_over(Frame(self._seq, ts, now, np.asarray(image, dtype=np.uint8)))
                self._seq += 1
        return got

    def _sample(self, ts: float) -> bool:
        """Keep one frame per 1/fps of frame time (by timestamps, whatever the source's rate)."""
        bucket = math.floor(ts * self.config.fps + 1e-6)
        if bucket <= self._last_bucket:
            return False
        self._last_bucket = bucket
        return True

    def _hand_over(self, frame: Frame) -> None:
        FRAMES_SAMPLED.labels(self.label).inc()
        if not self.config.drop_when_busy:
            while not self.stop_event.is_set():
                try:
                    self.frames.put(frame, timeout=0.1)
                    return
                except queue.Full:
                    continue
            return
        while True:
            try:
                self.frames.put_nowait(frame)
                return
            except queue.Full:
                try:
                    self.frames.get_nowait()
                    FRAMES_DROPPED.labels(self.label, "reader").inc()
                except queue.Empty:
                    pass
