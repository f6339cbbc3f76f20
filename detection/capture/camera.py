"""The camera loop: sampled frames -> motion gate -> frame store -> detect task; results back in order
-> tracker -> traffic groups -> rules -> candidate events. Also keeps the camera's status current.

Each step is a small method returning what it did, so tests drive the loop one step at a time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import cv2
from django.conf import settings
from django.db import connections

from cameras.config import detection_floor
from cameras.live import snapshot_key, stats_key
from cameras.models import Camera
from cameras.payload import BoxInView
from core.health import CAPTURE_STATE_EVERY_S, publish_capture_state
from core.redisclient import get_redis
from core.taskbase import send
from core.topology import DETECT_FRAME, DETECT_FRAMES
from detection import framecodec, framestore
from detection.capture.motion import MotionGate
from detection.capture.outage import UNREACHABLE, Outage
from detection.capture.reader import Frame, FrameReader
from detection.capture.recorder import Recorder
from detection.capture.strip import FrameHistory, strip_jpeg
from detection.detector import Box
from detection.events import CameraContext, CandidateEvent, CandidateSink, FrameTracks, RuleEngine
from detection.farfield import FarField
from detection.metrics import (
    CAMERA_UP,
    FRAME_AGE,
    FRAMES_DROPPED,
    FRAMES_SKIPPED_MOTION,
    IN_FLIGHT,
    ROUND_TRIP,
    TRACKS,
    TRAFFIC_GROUPS,
)
from detection.rules.engine import TrafficRules
from detection.tracking import CameraTracker, Track, traffic_groups

logger = logging.getLogger(__name__)

Dispatch = Callable[[dict[str, Any]], None]
SNAPSHOT_TTL_S = 120


def celery_dispatch(kwargs: dict[str, Any]) -> None:
    """One detect task: ``detect_frame`` for one frame, ``detect_frames`` for several (``frames``)."""
    # ignore_result: the result comes back on the camera's reply list. Without it Celery's Redis
    # backend SUBSCRIBEs to a result channel for every frame sent (and UNSUBSCRIBEs later): two
    # of the four Redis round trips of a send.
    route = DETECT_FRAMES if "frames" in kwargs else DETECT_FRAME
    # Celery puts a repr of the arguments in every message, for log lines and monitors; its saferepr
    # walk of these kwargs was 0.1 ms of a send. Which camera and frames is what a log line needs.
    seqs = [frame["seq"] for frame in kwargs["frames"]] if "frames" in kwargs else [kwargs["seq"]]
    summary = f"camera {kwargs['camera_id']} frames {seqs}"
    send(route, kwargs=kwargs, expires=framestore.FRAME_TTL_S, ignore_result=True, argsrepr="()", kwargsrepr=summary)


def private_boxes(result: dict[str, Any]) -> list[BoxInView]:
    """The detect result's privacy pass (people and vehicles, whatever the camera's classes), untracked."""
    return [{"track_id": 0, "cls": str(b["cls"]), "xyxy": [float(v) for v in b["xyxy"]]}
            for b in result.get("private") or []]  # fmt: skip


def log_candidate(event: CandidateEvent, frame: FrameTracks, jpeg: bytes) -> None:
    logger.info("camera %s: candidate %s tracks %s", event.camera_id, event.event_type, event.track_ids)


@dataclass
class Pending:
    frame: Frame
    sent_at: float  # monotonic: when the frame was stored for detection (its wait for a task included)
    jpeg: bytes  # the full frame as JPEG, made only when a rule fires (b"" until then)
    frame_key: str = ""
    task: int = 0  # the detect task it went in (0: held for the next one)


@dataclass(frozen=True)
class CaptureSettings:
    max_in_flight: int
    result_timeout_s: float
    motion_keepalive_s: float
    stall_timeout_s: float
    # A static scene in which nothing is tracked has nothing to keep tracked: its still frame goes this
    # seldom (a road user that comes in moves, and the gate sends it at once).
    motion_keepalive_empty_s: float = 10.0
    # Live cameras drop a frame when K are in flight; offline runs (evaluation, benchmarks) wait instead.
    wait_when_full: bool = False
    snapshot_every_s: float = 1.0
    status_every_s: float = 5.0
    frame_format: str = "raw"  # how frames travel to the worker: raw pixels (same host) or jpeg
    # Detect tasks of this camera in flight before further frames wait and go several to a task (0:
    # a task per frame, always). See CameraLoop.submit.
    max_tasks_in_flight: int = 0

    @classmethod
    def from_settings(cls) -> CaptureSettings:
        return cls(
            max_in_flight=settings.CAPTURE_MAX_IN_FLIGHT,
            result_timeout_s=settings.CAPTURE_RESULT_TIMEOUT_S,
            motion_keepalive_s=settings.MOTION_KEEPALIVE_S,
            motion_keepalive_empty_s=settings.MOTION_KEEPALIVE_EMPTY_S,
            stall_timeout_s=settings.CAPTURE_STALL_TIMEOUT_S,
            frame_format=settings.CAPTURE_FRAME_FORMAT,
            max_tasks_in_flight=settings.CAPTURE_MAX_TASKS_IN_FLIGHT,
        )


class CameraLoop:
    def __init__(
        self,
        camera: Camera,
        *,
        session: str,
        reader: FrameReader,
        dispatch: Dispatch = celery_dispatch,
        rules: RuleEngine | None = None,
        sink: CandidateSink = log_candidate,
        capture: CaptureSettings | None = None,
        still_owner: Callable[[], bool] | None = None,
        recorder: Recorder | None = None,
        history: FrameHistory | None = None,
    ) -> None:
        self.camera = camera
        self.label = str(camera.pk)
        self.session = session
        self.reader = reader
        self.dispatch = dispatch
        self.sink = sink
        self.capture = capture or CaptureSettings.from_settings()
        self.still_owner = still_owner
        self.recorder = recorder  # the rolling clip cache, beside the reader (its own ffmpeg, no decoding)
        self.history = history  # recent detected frames: the strip of an event's evidence
        self.context = CameraContext(
            camera_id=camera.pk,
            speed_limit_kmh=float(camera.speed_limit_kmh),
            zones=list(camera.zones),
            rules=dict(camera.rules),
            homography=camera.homography,
        )
        self.rules = rules if rules is not None else TrafficRules(self.context)
        self.far_field = FarField(self.context.homography, self.context.zones, settings.DETECT_FAR_FIELD)
        self.tracker = CameraTracker(camera.detect_fps, confidence=camera.confidence_threshold)
        self.gate = MotionGate(camera.motion_threshold) if camera.motion_gate else None
        self.reply_key = framestore.reply_key(camera.pk, session)
        self.in_flight: dict[int, Pending] = {}  # stored for detection, result pending (held frames too)
        self.held: list[int] = []  # frames stored and waiting for a task, oldest first
        self.open_tasks: Counter[int] = Counter()  # detect tasks in flight: frames each still owes
        self._last_task = 0
        self.arrived: dict[int, dict[str, Any]] = {}
        self.last_sent_ts = float("-inf")
        self.someone_seen = False  # the last frame detected showed a road user at the camera's threshold
        self.counts: Counter[str] = Counter()  # outcomes, for tests and the stats shown to operators
        self.last_tracks: list[Track] = []
        self._synced: tuple[str, str, int] | None = None
        self._next_status_write = 0.0
        self._next_snapshot = 0.0
        self._next_owner_check = 0.0
        self._rate_window: list[tuple[float, int, int]] = []
        self._published: tuple[tuple[str, str], float] = (("", ""), 0.0)
        self.outage = Outage(self.label)  # Redis or the broker unreachable: drop frames, keep reading

    # -- the loop -------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        # The camera's series exist from the start (down until the first frame), not from whenever
        # the loop first looks: a scrape between the reader's first frame and that look missed them.
        CAMERA_UP.labels(self.label).set(0)
        self.reader.start()
        if self.recorder is not None:
            self.recorder.start()
        try:
            while not stop.is_set():
                self.step()
                if self.lost_lease():
                    logger.warning("camera %s: lease lost, stopping", self.label)
                    break
                if self.reader.finished.is_set() and self.reader.frames.empty() and not self.in_flight:
                    break
        finally:
            self.reader.stop()
            if self.recorder is not None:
                self.recorder.stop()
                self.recorder.join(timeout=6)  # the supervisor kills a camera process after 15 s
            self.reader.join(timeout=10)
            self.camera.set_status(Camera.Status.UNKNOWN)
            CAMERA_UP.labels(self.label).set(0)
            with contextlib.suppress(*UNREACHABLE):
                publish_capture_state(get_redis(), self.camera.pk, Camera.Status.UNKNOWN, "capture stopped")
            connections.close_all()  # this thread's connections; the loop may run in a thread

    def step(self, wait_s: float = 0.02, idle_wait_s: float = 0.2) -> None:
        # With nothing in flight there is no result to look for: wait for the next frame instead of
        # waking 50 times a second (an idle camera's loop cost more than its decoding).
        try:
            frame = self.reader.frames.get(timeout=wait_s if self.in_flight else idle_wait_s)
        except queue.Empty:
            pass
        else:
            self.submit(frame)
        self.collect()
        self.sync_status()

    def lost_lease(self) -> bool:
        now = time.monotonic()
        if self.still_owner is None or now < self._next_owner_check:
            return False
        self._next_owner_check = now + 1.0
        try:
            return not self.still_owner()
        except UNREACHABLE:  # the lease lives in Redis: while it is away nobody else can take it either
            return False

    # -- sending --------------------------------------------------------------------------------
    def _keepalive_s(self) -> float:
        """How often a still frame goes: often while road users are tracked or were just seen (a parked
        or stalled car must stay tracked, CameraTracker forgets a track unseen for LOST_S), seldom when
        the last answers showed nobody. Frames still in flight may yet show someone: until they answer, the
        short period holds. The keep-alive frames were most of an idle camera's CPU (a JPEG or raw
        copy, Redis and a Celery task a second)."""
        if self.in_flight or self.tracker.tracks or self.someone_seen:
            return self.capture.motion_keepalive_s
        return max(self.capture.motion_keepalive_s, self.capture.motion_keepalive_empty_s)

    def submit(self, frame: Frame) -> str:
        if self.gate is not None:
            static = not self.gate.has_motion(frame.image)
            if static and frame.ts - self.last_sent_ts < self._keepalive_s():
                FRAMES_SKIPPED_MOTION.labels(self.label).inc()
                return self._count("static")
        if self.outage.waiting():
            FRAMES_DROPPED.labels(self.label, self.outage.drop_reason).inc()
            return self._count(self.outage.drop_reason)
        while len(self.in_flight) >= self.capture.max_in_flight:
            if not self.capture.wait_when_full:
                FRAMES_DROPPED.labels(self.label, "backpressure").inc()
                return self._count("backpressure")
            self.collect(block_s=0.05)
        # Shrunk to the model's input size here, once: the worker only pads it (detection/framecodec.py);
        # whole where the worker also crops the far field out of it.
        tile = self.far_field.tile((frame.image.shape[1], frame.image.shape[0]))
        payload = framecodec.encode(frame.image, self.capture.frame_format, full=tile is not None)
        if payload is None:
            FRAMES_DROPPED.labels(self.label, "error").inc()
            return self._count("encode_error")
        fkey = framestore.frame_key(self.camera.pk, self.session, frame.seq)
        try:
            framestore.put_frame(fkey, payload)
        except UNREACHABLE as exc:
            return self._queuing_failed(exc, 1)
        self.in_flight[frame.seq] = Pending(frame, time.monotonic(), b"", fkey)
        self.held.append(frame.seq)
        IN_FLIGHT.labels(self.label).set(len(self.in_flight))
        # Several frames to a task when the worker is behind (as Nagle's algorithm does with bytes):
        # while this camera has max_tasks_in_flight tasks unanswered, a new frame waits, and the
        # frames that waited go together in one task as soon as one of those answers. A worker that
        # keeps up answers before the next frame comes, so each frame gets its own task and waits for
        # nothing; one that is behind would have left the frame in the queue for as long, and gets
        # fewer tasks' overhead (Celery, Redis round trips) to pay. max_tasks_in_flight must cover the
        # worker slots one camera should use at once (2 on 2 cores: one camera can fill both).
        if self._may_send() and not self._send_held():
            return self.outage.drop_reason  # counted with the frames that went down with it
        self.outage.succeeded()
        if self.gate is not None:
            self.gate.accept()
        self.last_sent_ts = frame.ts
        return self._count("sent")

    def _may_send(self) -> bool:
        limit = self.capture.max_tasks_in_flight
        return bool(self.held) and (not limit or len(self.open_tasks) < limit)

    def _batch_frame(self, pending: Pending) -> dict[str, Any]:
        size = (pending.frame.image.shape[1], pending.frame.image.shape[0])
        frame: dict[str, Any] = {"seq": pending.frame.seq, "frame_key": pending.frame_key, "size": list(size)}
        tile = self.far_field.tile(size)
        if tile is not None:
            frame["tile"] = tile.as_list()
        return frame

    def _send_held(self) -> bool:
        """One detect task for the held frames; False (and the frames dropped) when it could not go."""
        seqs, self.held = self.held, []
        pending = [self.in_flight[seq] for seq in seqs]
        frames = [self._batch_frame(p) for p in pending]
        kwargs: dict[str, Any] = {
            "camera_id": self.camera.pk,
            **(frames[0] if len(frames) == 1 else {"frames": frames}),
            "reply_key": self.reply_key,
            # Weak detections too: the tracker keeps tracks going on them (CameraTracker).
            "confidence": detection_floor(self.camera.confidence_threshold),
            "classes": list(self.camera.classes),
        }
        try:
            self.dispatch(kwargs)
        except UNREACHABLE as exc:
            for seq in seqs:
                del self.in_flight[seq]
            IN_FLIGHT.labels(self.label).set(len(self.in_flight))
            self._queuing_failed(exc, len(seqs) - 1)
            return False
        self._last_task += 1
        for p in pending:
            p.task = self._last_task
        self.open_tasks[self._last_task] = len(pending)
        if len(pending) > 1:
            self.counts["batched"] += len(pending)  # frames that went several to a task
        return True

    def _queuing_failed(self, exc: BaseException, more_frames: int) -> str:
        """Redis or the broker refused a frame (and ``more_frames`` with it): dropped, counted."""
        if self.outage.failed(exc, "queuing a frame"):
            self._forget_in_flight()
        FRAMES_DROPPED.labels(self.label, self.outage.drop_reason).inc(1 + more_frames)
        self.counts[self.outage.drop_reason] += more_frames
        return self._count(self.outage.drop_reason)

    # -- receiving, in frame order --------------------------------------------------------------
    def collect(self, block_s: float = 0.0) -> int:
        if self.outage.waiting() or not self.in_flight:
            # Nothing awaited, nothing to ask Redis for: the loop turns every 20 ms while it waits for
            # frames, and an LPOP on each turn was 50 round trips a second per idle camera. (A result
            # of a frame forgotten in an outage would be ignored anyway; it expires with its list.)
            return 0
        try:
            received = framestore.pop_results(self.reply_key, block_s=block_s)
        except UNREACHABLE as exc:
            if self.outage.failed(exc, "reading detection results"):
                self._forget_in_flight()
            return 0
        for incoming in received:
            if incoming.get("seq") in self.in_flight:
                self.arrived[incoming["seq"]] = incoming
        handled = 0
        now = time.monotonic()
        while self.in_flight:
            seq = min(self.in_flight)
            pending = self.in_flight[seq]
            result = self.arrived.pop(seq, None)
            if result is None:
                if now - pending.sent_at < self.capture.result_timeout_s:
                    break  # the oldest frame is still being detected; later results wait for it
                FRAMES_DROPPED.labels(self.label, "lost").inc()
                self._count("lost")
                logger.warning("camera %s: no detection result for frame %s, skipping it", self.label, seq)
            else:
                ROUND_TRIP.labels(self.label).observe(now - pending.sent_at)
                self.handle(pending.frame, result, pending.jpeg)
                handled += 1
            del self.in_flight[seq]
            self._answered(seq, pending.task)
        IN_FLIGHT.labels(self.label).set(len(self.in_flight))
        if self._may_send():
            self._send_held()  # a task answered: the frames that waited for it go now
        return handled

    def _answered(self, seq: int, task: int) -> None:
        """A frame is done with (its result handled, or given up on): its task owes one frame fewer."""
        if not task:
            self.held.remove(seq)  # given up on before it even went (its worker's tasks were lost)
            return
        self.open_tasks[task] -= 1
        if self.open_tasks[task] <= 0:
            del self.open_tasks[task]

    def _forget_in_flight(self) -> None:
        """An outage began: results of the frames in flight went with it (a restarted Redis has none,
        and a worker could not push them). Count them as dropped now rather than waiting
        result_timeout_s for each, which would hold back the frames after the outage."""
        for _ in self.in_flight:
            FRAMES_DROPPED.labels(self.label, self.outage.drop_reason).inc()
            self._count(self.outage.drop_reason)
        self.in_flight.clear()
        self.held.clear()
        self.open_tasks.clear()
        self.arrived.clear()
        IN_FLIGHT.labels(self.label).set(0)

    def handle(self, frame: Frame, result: dict[str, Any], jpeg: bytes) -> list[CandidateEvent]:
        if "error" in result:
            FRAMES_DROPPED.labels(self.label, "error").inc()
            self._count("frame_error")
            logger.warning("camera %s frame %s: %s", self.label, frame.seq, result["error"])
            return []
        boxes = [Box.from_json(b) for b in result["boxes"]]
        private = private_boxes(result)
        tracks = self.tracker.update(frame.ts, boxes)
        groups = traffic_groups(tracks, self.context.homography)
        self.last_tracks = tracks
        # A road user seen once is not a track yet (ByteTrack confirms it on the next frame it is seen in).
        self.someone_seen = any(b.conf >= self.camera.confidence_threshold for b in boxes)
        if self.history is not None:
            self.history.add(frame.seq, frame.ts, frame.wall_time, strip_jpeg(frame.image), tracks, private)
        self._count("detected")
        TRACKS.labels(self.label).set(len(tracks))
        TRAFFIC_GROUPS.labels(self.label).set(len(groups))
        height, width = frame.image.shape[:2]
        frame_tracks = FrameTracks(self.context, frame.seq, frame.ts, frame.wall_time, (width, height), tracks, groups,
                                   private)  # fmt: skip
        events = self.rules.process(frame_tracks)
        if events and not jpeg:  # the keyframe: encoded for the few frames where a rule fires, not for every frame
            ok, buf = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
            jpeg = bytes(buf) if ok else b""
        for event in events:
            try:
                self.sink(event, frame_tracks, jpeg)
            except UNREACHABLE as exc:
                self.outage.failed(exc, "sending a candidate event")
                self._count("event_dropped")
                logger.error("camera %s: %s candidate of frame %s dropped: %s unreachable",
                             self.label, event.event_type, frame.seq, self.outage.error)  # fmt: skip
        self._maybe_snapshot(frame, tracks, len(groups))
        return events

    # -- status, stats and the annotated snapshot -------------------------------------------------
    def sync_status(self) -> None:
        state = self.reader.state
        now = time.time()
        status, error = state.status, state.error
        if status == "online" and state.last_frame_wall is not None:
            age = now - state.last_frame_wall
            FRAME_AGE.labels(self.label).set(age)
            if age > self.capture.stall_timeout_s:
                status, error = "offline", f"no frame for {age:.0f} s"
        if status == "online" and self.outage.down:
            status, error = Camera.Status.DEGRADED, self.outage.error
        CAMERA_UP.labels(self.label).set(1 if status == "online" else 0)
        self._publish_capture_state(status, error)
        current = (status, error, state.reconnects)
        if current != self._synced:
            self._synced = current
            self.camera.set_status(
                status, error=error, reconnect_count=state.reconnects, last_frame_at=self._last_frame_at()
            )
            self._next_status_write = now + self.capture.status_every_s
        elif now >= self._next_status_write and state.last_frame_wall is not None:
            Camera.objects.filter(pk=self.camera.pk).update(last_frame_at=self._last_frame_at())
            self._next_status_write = now + self.capture.status_every_s

    def _publish_capture_state(self, status: str, error: str) -> None:
        """What /readyz reads of this camera (core/health.py): on a change, and every few seconds."""
        now = time.monotonic()
        if (status, error) == self._published[0] and now < self._published[1]:
            return
        if self.outage.waiting(now) and self.outage.down == "redis":
            return
        try:
            publish_capture_state(get_redis(), self.camera.pk, status, error)
        except UNREACHABLE as exc:
            self.outage.failed(exc, "publishing its state")
            return
        self._published = ((status, error), now + CAPTURE_STATE_EVERY_S)

    def _last_frame_at(self) -> datetime | None:
        wall = self.reader.state.last_frame_wall
        return datetime.fromtimestamp(wall, tz=UTC) if wall else None

    def _count(self, outcome: str) -> str:
        self.counts[outcome] += 1
        return outcome

    def _maybe_snapshot(self, frame: Frame, tracks: list[Track], groups: int) -> None:
        now = time.monotonic()
        self._rate_window = [w for w in self._rate_window if now - w[0] < 10] + [
            (now, self.reader.frames_read, self.counts["detected"])
        ]
        if now < self._next_snapshot:
            return
        self._next_snapshot = now + self.capture.snapshot_every_s
        image = frame.image.copy()
        height, width = image.shape[:2]
        for track in tracks:
            x1, y1, x2, y2 = track.last.box
            p1, p2 = (int(x1 * width), int(y1 * height)), (int(x2 * width), int(y2 * height))
            colour = (0, 200, 255) if track.is_vehicle else (60, 220, 60)
            cv2.rectangle(image, p1, p2, colour, 2)
            cv2.putText(image, f"{track.cls} #{track.track_id}", (p1[0], max(12, p1[1] - 4)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)  # fmt: skip
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
        (t0, read0, det0), (t1, read1, det1) = self._rate_window[0], self._rate_window[-1]
        span = max(t1 - t0, 1e-6)
        stats = {
            "counts": dict(Counter(t.cls for t in tracks)),
            "tracks": len(tracks),
            "groups": groups,
            "fps_in": round((read1 - read0) / span, 2) if t1 > t0 else 0.0,
            "fps_detected": round((det1 - det0) / span, 2) if t1 > t0 else 0.0,
            "dropped": sum(self.counts[k] for k in ("backpressure", "lost", "redis_unreachable", "broker_unreachable")),
            "frame_ts": frame.ts,
            "updated": time.time(),
        }
        pipe = get_redis().pipeline()
        if ok:
            pipe.set(snapshot_key(self.camera.pk), bytes(buf), ex=SNAPSHOT_TTL_S)
        pipe.set(stats_key(self.camera.pk), json.dumps(stats), ex=SNAPSHOT_TTL_S)
        try:
            pipe.execute()
        except UNREACHABLE as exc:
            self.outage.failed(exc, "storing the snapshot")
