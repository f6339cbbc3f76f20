"""The capture supervisor: one child process per enabled camera whose Redis lease it holds.

Every few seconds it reconciles with the database: cameras that were enabled get a process, disabled
or deleted ones lose theirs, and a camera whose settings changed is restarted with the new ones.
Several supervisors (on one host or many) share the cameras through per-camera leases; the leases
of a supervisor that dies expire and the others take its cameras over. A camera process checks its
lease and its parent itself as well, so an orphan of a killed supervisor stops on its own.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from django.conf import settings

from cameras.models import Camera
from core import backoff
from core import metrics as core_metrics
from core.health import publish_enabled_cameras
from core.lease import RedisLease
from core.redisclient import get_redis, key
from detection.capture.outage import UNREACHABLE

logger = logging.getLogger(__name__)
# Children fork from a clean server process that preloaded the heavy modules (see preload.py).
_ctx = multiprocessing.get_context("forkserver")
_ctx.set_forkserver_preload(["detection.capture.preload"])

# A camera process that keeps dying is restarted at most this long after its last exit; one that
# ran RESTART_RESET_S before dying starts again at once (the count of failures starts over).
MAX_RESTART_DELAY_S = 10.0
RESTART_RESET_S = 60.0


def lease_key(camera_id: int) -> str:
    return key("lease", "camera", camera_id)


def supervisor_key(owner: str) -> str:
    return key("supervisor", owner)


@dataclass
class Child:
    camera_id: int
    fingerprint: str
    lease: RedisLease
    process: BaseProcess
    started: float = field(default_factory=time.monotonic)


@dataclass
class RestartState:
    failures: int = 0
    not_before: float = 0.0


@dataclass
class Supervisor:
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    lease_ttl_s: float = field(default_factory=lambda: settings.CAPTURE_LEASE_TTL_S)
    reconcile_s: float = field(default_factory=lambda: settings.CAPTURE_RECONCILE_S)
    children: dict[int, Child] = field(default_factory=dict)
    restarts: dict[int, RestartState] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)
    _enabled: dict[int, str] = field(default_factory=dict)  # what /readyz expects to be captured

    # -- one reconcile pass ---------------------------------------------------------------------
    def step(self) -> None:
        cameras = {c.pk: c for c in Camera.objects.filter(enabled=True)}
        self._enabled = {pk: camera.name for pk, camera in cameras.items()}
        for camera_id, child in list(self.children.items()):
            camera = cameras.get(camera_id)
            if not child.process.is_alive():
                self._child_died(child)
            elif camera is None:
                logger.info("camera %s disabled or removed: stopping its process", camera_id)
                self._stop_child(child)
            elif camera.capture_fingerprint() != child.fingerprint:
                logger.info("camera %s settings changed: restarting its process", camera_id)
                self._stop_child(child)
                self.restarts.pop(camera_id, None)
            elif not (child.lease.renew() or child.lease.acquire()):  # gone after a Redis restart: retake
                logger.warning("camera %s: lease lost to %s; stopping here", camera_id, child.lease.owner())
                self._stop_child(child, release=False)
        now = time.monotonic()
        for camera_id, camera in cameras.items():
            if camera_id in self.children or now < self.restarts.get(camera_id, RestartState()).not_before:
                continue
            lease = RedisLease(
                get_redis(), lease_key(camera_id), f"{self.owner}:{uuid.uuid4().hex[:8]}", self.lease_ttl_s
            )
            if lease.acquire():
                self._start_child(camera, lease)
        self._heartbeat()

    def _start_child(self, camera: Camera, lease: RedisLease) -> None:
        from detection.capture.process import camera_process_main

        process = _ctx.Process(
            target=camera_process_main,
            args=(camera.pk, lease.key, lease.token),
            name=f"camera-{camera.pk}",
            daemon=True,
        )
        process.start()
        self.children[camera.pk] = Child(camera.pk, camera.capture_fingerprint(), lease, process)
        logger.info("camera %s (%s): capture process %s started", camera.pk, camera.name, process.pid)

    def _stop_child(self, child: Child, *, release: bool = True, timeout_s: float = 15.0) -> None:
        # SIGTERM, not a shared multiprocessing.Event: setting an Event deadlocks when a process that
        # waited on it has died, and a camera process may die at any moment.
        child.process.terminate()
        child.process.join(timeout_s)
        if child.process.is_alive():
            logger.warning("camera %s: process did not stop in %.0f s; killing it", child.camera_id, timeout_s)
            child.process.kill()
            child.process.join(5)
        if child.process.pid is not None:
            core_metrics.mark_dead(child.process.pid)
        if release:
            child.lease.release()
        self.children.pop(child.camera_id, None)

    def _child_died(self, child: Child) -> None:
        state = self.restarts.setdefault(child.camera_id, RestartState())
        if time.monotonic() - child.started > RESTART_RESET_S:
            state.failures = 0
        state.failures += 1
        # 1 s doubling to a minute, without jitter: one supervisor restarting its own child is no herd.
        delay = backoff.exponential_s(state.failures, base_s=1.0, cap_s=MAX_RESTART_DELAY_S, jitter=0.0)
        state.not_before = time.monotonic() + delay
        logger.error(
            "camera %s: capture process exited with code %s; restarting in %.0f s",
            child.camera_id, child.process.exitcode, delay,
        )  # fmt: skip
        self._stop_child(child)

    def _heartbeat(self) -> None:
        client = get_redis()
        publish_enabled_cameras(client, self._enabled, self.lease_ttl_s)
        client.set(
            supervisor_key(self.owner), ",".join(map(str, sorted(self.children))), px=int(self.lease_ttl_s * 1000)
        )

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> None:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            self.stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        logger.info("capture supervisor %s started", self.owner)
        try:
            while not self.stopping.is_set():
                try:
                    self.step()
                except UNREACHABLE as exc:  # Redis away: the children ride it out, so does this loop
                    logger.warning("reconcile failed, Redis unreachable (%s); retrying", type(exc).__name__)
                except Exception:  # the database hiccuped: keep the children, try again
                    logger.exception("reconcile failed; retrying")
                self.stopping.wait(self.reconcile_s)
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        for child in list(self.children.values()):
            child.process.terminate()  # all at once, then wait for each
        for child in list(self.children.values()):
            self._stop_child(child)
        get_redis().delete(supervisor_key(self.owner))
        logger.info("capture supervisor %s stopped", self.owner)

    def status(self) -> dict[str, Any]:
        return {"owner": self.owner, "cameras": sorted(self.children)}
