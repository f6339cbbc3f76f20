"""Entry point of one camera's capture process (spawned by the supervisor)."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from types import FrameType


def single_threaded_opencv() -> None:
    """OpenCV's own thread pool off in a camera process: its calls here (the motion gate's grey
    conversion, the shrink of a frame for detection) are too small to gain from a second thread, and
    after each one the pool's worker spins on sched_yield for about half a millisecond waiting for
    more: 0.3 % of a core for an idle camera, a tenth of its cost (measured in bench/detect_throughput.py).
    Each camera has a process of its own, so the cameras of a host use its cores anyway."""
    import cv2

    cv2.setNumThreads(1)


def camera_process_main(camera_id: int, lease_key: str, token: str) -> None:
    """Capture one camera until SIGTERM (from the supervisor), a lost lease, or the parent's death."""
    parent_pid = os.getppid()  # the fork server; it exits when the supervisor dies
    single_threaded_opencv()
    import django

    django.setup()  # done in the fork server already (preload.py): then only the logging is set again

    from django.conf import settings
    from django.core.exceptions import ValidationError

    from cameras.models import Camera
    from core import tracing
    from core.lease import RedisLease
    from core.logging import bind_log_context
    from core.redisclient import get_redis
    from detection.capture.camera import CameraLoop
    from detection.capture.dispatch import DispatchingSink
    from detection.capture.reader import FrameReader, ReaderConfig
    from detection.capture.recorder import Recorder, RecorderConfig
    from detection.capture.strip import FrameHistory

    logger = logging.getLogger("detection.capture")
    local_stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        local_stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the supervisor, which stops us in order

    bind_log_context(camera_id=camera_id)  # every log line of this process names its camera
    tracing.setup_from_settings()  # the fork server set Django up with tracing stopped (preload.py)
    camera = Camera.objects.get(pk=camera_id)
    try:
        source = camera.source
    except ValidationError as exc:
        # A misconfigured camera is an operator's problem to see, not a crash loop: say it and wait
        # (the supervisor restarts this process when the camera's settings change).
        camera.set_status(Camera.Status.ERROR, error=exc.messages[0])
        local_stop.wait()
        return
    lease = RedisLease(get_redis(), lease_key, token, settings.CAPTURE_LEASE_TTL_S)

    missing_since: list[float] = []

    def still_owner() -> bool:
        # An orphan (its supervisor was killed) or a process whose lease moved on must stop capturing.
        if os.getppid() != parent_pid:
            return False
        holder = lease.owner()
        if holder == token:
            missing_since.clear()
            return True
        if holder is not None:
            return False
        # Gone without a new holder: Redis restarted, or the lease lapsed during an outage. The
        # supervisor takes it back with this token on its next reconcile, so wait a lease period for
        # that instead of stopping a healthy camera; an orphan's lease never comes back.
        if not missing_since:
            missing_since.append(time.monotonic())
        return time.monotonic() - missing_since[0] < settings.CAPTURE_LEASE_TTL_S

    reader = FrameReader(
        source,
        ReaderConfig(
            fps=camera.detect_fps,
            stall_timeout_s=settings.CAPTURE_STALL_TIMEOUT_S,
            backoff_max_s=settings.CAPTURE_BACKOFF_MAX_S,
            transport=camera.rtsp_transport,
            probe_every_s=settings.CAPTURE_PROBE_EVERY_S,
            decode_threads=settings.CAPTURE_DECODE_THREADS,
        ),
        camera_label=str(camera.pk),
    )
    recorder = None
    if settings.CLIP_RECORDING:
        recorder = Recorder(camera.pk, source, RecorderConfig(segment_s=settings.CLIP_SEGMENT_S,
                                                              keep_s=settings.CLIP_CACHE_S))  # fmt: skip
    session = token.rsplit(":", 1)[-1]
    history = FrameHistory()
    worker = CameraLoop(camera, session=session, reader=reader, sink=DispatchingSink(session, history),
                        still_owner=still_owner, recorder=recorder, history=history)  # fmt: skip
    logger.info("camera %s (%s): capturing %s", camera.pk, camera.name, camera.masked_source)
    worker.run(local_stop)
