"""Reads a camera source in its own thread: connect, watchdog, reconnect with back-off, sample.

While a stream's server does not answer, the reader does not try full opens: it asks a cheap probe
(one RTSP DESCRIBE, or a TCP connect for HTTP) every ``probe_every_s`` and opens the stream as soon as
the server answers, so a camera is back within seconds whatever the outage length. Full opens that
fail against a server that does answer (wrong path, codec) back off exponentially, so a broken camera
is not hammered.

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
from detection import rtsp_probe
from detection.grab import FrameGrabError, open_stream
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
    transport: str = "auto"  # RTSP: "auto" (TCP, then UDP), "tcp" or "udp"
    probe_every_s: float = 1.0  # a stream that is down: how often to ask whether its server answers
    # FFmpeg's decoding threads (0: one per core). One costs the least CPU per frame (frame threads
    # cost about a quarter more on an 800x600 stream) and each camera has its own process already.
    decode_threads: int = 1


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
        self.transport_used = ""  # the RTSP transport of the open stream ("auto" keeps to one that worked)

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
            if self._await_server():
                failures = 0  # the server was away and is back: open at once, a fresh back-off
            if self.stop_event.is_set():
                break
            try:
                cap, self.transport_used = open_stream(
                    self.source,
                    timeout_s=self.config.stall_timeout_s,
                    transport=self._transport(),
                    threads=self.config.decode_threads,
                )
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
        if self.source.kind is SourceKind.FILE:
            self.stop_event.wait(delay)
            return
        deadline = time.monotonic() + delay
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            self.stop_event.wait(min(self.config.probe_every_s, max(0.0, deadline - time.monotonic())))
            if not self._probe().serving:
                return  # the server went away: wait for it to answer instead (_await_server)

    def _transport(self) -> str:
        """The configured transport; with "auto", the one that worked last time (then the other)."""
        if self.config.transport == "auto" and self.transport_used == "udp":
            return "udp"
        return self.config.transport

    def _probe(self) -> rtsp_probe.Answer:
        return rtsp_probe.reachable(self.source.url, timeout_s=min(1.0, self.config.probe_every_s))

    def _await_server(self) -> bool:
        """Wait, probing every probe_every_s, until a stream's server answers; True if it had to wait."""
        if self.source.kind is SourceKind.FILE:
            return False
        answer = self._probe()
        if answer.serving:
            return False
        error = f"{mask_url(self.source.url)}: no stream served ({answer.text}); checking every " \
                f"{self.config.probe_every_s:g} s"  # fmt: skip
        self._set_state(status="offline", error=error)
        logger.warning("camera %s: %s", self.label, error)
        while not self.stop_event.wait(self.config.probe_every_s):
            if self._probe().serving:
                logger.info("camera %s: the server answers again; opening the stream", self.label)
                return True
        return True

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
                # Real time for the frames the sampler keeps; the others are decoded as they come, right
                # after the kept one: a wake-up per frame cost more than the decoding (about 0.14 ms of
                # CPU each, and a decoder gone cold in between), a third of an idle camera's CPU.
                if self.config.realtime and self._wanted(ts):
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

    def _bucket(self, ts: float) -> int:
        return math.floor(ts * self.config.fps + 1e-6)

    def _wanted(self, ts: float) -> bool:
        """Whether :meth:`_sample` will keep a frame of this time (without taking it)."""
        return self._bucket(ts) > self._last_bucket

    def _sample(self, ts: float) -> bool:
        """Keep one frame per 1/fps of frame time (by timestamps, whatever the source's rate)."""
        bucket = self._bucket(ts)
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
