"""An alert's video clip, cut from its camera's rolling cache (cameras/clipcache.py) without re-encoding.

The clip runs from the camera's ``pre_roll_s`` before the event's start to ``post_roll_s`` after its
detection. The alert is announced at once; :func:`schedule` sends ``alerts.cut_clip`` to run when the
post-roll has passed, and :func:`cut_clip` joins the cached MPEG-TS segments and remuxes them into an
MP4 with its index at the front (``-c copy -movflags +faststart``), which every browser plays while
it loads. The clip starts at the first keyframe at or before the wanted start (segments begin at
keyframes), so it may begin up to one segment (about ``CLIP_SEGMENT_S``, or the camera's keyframe
interval) early; ``clip_started_at`` says exactly where, and the players mark the event on that
timeline. Files go through Django's storage API (local folder or S3, see settings).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from alerts.models import Alert
from cameras import clipcache
from core.taskbase import send
from core.topology import CUT_CLIP

logger = logging.getLogger(__name__)

SEGMENT_SETTLE_S = 1.5  # a segment is listed when the next one starts, then polled into Redis


class NotYet(Exception):
    """The cache does not reach the clip's end yet: try again in ``countdown`` seconds."""

    def __init__(self, countdown: float) -> None:
        super().__init__(f"video up to the clip's end is not cached yet; again in {countdown:.1f} s")
        self.countdown = countdown


@dataclass(frozen=True)
class Window:
    start: float  # wall-clock seconds
    end: float

    @classmethod
    def of(cls, alert: Alert) -> Window:
        camera = alert.camera
        start = alert.event_started_at.timestamp() - camera.pre_roll_s
        return cls(start, alert.detected_at.timestamp() + camera.post_roll_s)


def expected_at(alert: Alert) -> datetime:
    return datetime.fromtimestamp(Window.of(alert).end + SEGMENT_SETTLE_S, tz=UTC)


def schedule(alert: Alert) -> None:
    """After the alert's commit: the clip is cut once its post-roll has been cached."""
    if alert.clip_status != Alert.ClipStatus.PENDING:
        return
    due = alert.clip_expected_at or expected_at(alert)
    countdown = max(0.0, (due - timezone.now()).total_seconds())
    send(CUT_CLIP, alert.pk, countdown=countdown)


def initial_state(alert: Alert) -> None:
    """Set a new alert's clip fields (before it is saved)."""
    if not settings.CLIP_RECORDING:
        alert.clip_status = Alert.ClipStatus.UNAVAILABLE
        alert.clip_note = "Clip recording is off (CLIP_RECORDING=false)."
        return
    alert.clip_status = Alert.ClipStatus.PENDING
    # An unknown camera: saving the alert fails on its foreign key, with the real error.
    with contextlib.suppress(ObjectDoesNotExist):
        alert.clip_expected_at = expected_at(alert)


def cut_clip(alert_id: int, *, now: float | None = None) -> str:
    """Cut and store the clip of one alert; idempotent. Raises :class:`NotYet` to be retried."""
    alert = Alert.objects.select_related("camera").filter(pk=alert_id).first()
    if alert is None:
        return "gone"
    if alert.clip_status != Alert.ClipStatus.PENDING:
        return alert.clip_status
    now = time.time() if now is None else now
    window = Window.of(alert)
    cached_to = clipcache.latest_end(alert.camera_id)
    if (cached_to is None or cached_to < window.end) and now < window.end + settings.CLIP_WAIT_S:
        raise NotYet(max(0.5, min(5.0, window.end - (cached_to or now))))
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        return _unavailable(alert, "ffmpeg is not installed where the alerts worker runs.")
    found = _one_run(clipcache.segments(alert.camera_id, window.start, window.end))
    pieces = [(segment, clipcache.read(alert.camera_id, segment)) for segment in found]
    # Only the contiguous stretch that is still cached up to the last piece (TTLs expire oldest first).
    while pieces and pieces[0][1] is None:
        pieces.pop(0)
    if not pieces or any(data is None for _, data in pieces):
        return _unavailable(alert, "The camera's rolling cache had no video for this time (camera down, recording "
                            "off, or the clip was cut too late).")  # fmt: skip
    first, last = pieces[0][0], pieces[-1][0]
    end = min(window.end, last.end)
    with tempfile.TemporaryDirectory(prefix="clip-") as tmp:
        joined, out = Path(tmp) / "joined.ts", Path(tmp) / "clip.mp4"
        with joined.open("wb") as handle:
            for _, data in pieces:
                handle.write(data or b"")
        remux(joined, out, duration_s=end - first.start)
        duration = probe_duration(out)
        notes = []
        if not first.copied:
            notes.append("re-encoded to H.264 (the camera's codec does not play in browsers)")
        if first.start > window.start + 0.05:
            notes.append(f"starts {first.start - window.start:.1f} s after the wanted pre-roll (cache began later)")
        if end < window.end - 0.05:
            notes.append(f"ends {window.end - end:.1f} s before the wanted post-roll (no more video cached)")
        name = f"clips/{alert.detected_at:%Y/%m/%d}/{alert.idempotency_key[:16]}-{alert.pk}.mp4"
        with out.open("rb") as handle:
            stored = default_storage.save(name, File(handle, name=name))
    updated = Alert.objects.filter(pk=alert.pk, clip_status=Alert.ClipStatus.PENDING).update(
        clip=stored,
        clip_status=Alert.ClipStatus.READY,
        clip_started_at=datetime.fromtimestamp(first.start, tz=UTC),
        clip_duration_s=round(duration, 3),
        clip_note=("Copied from the camera's stream" if first.copied else "Clip") + (
            "; " + "; ".join(notes) if notes else "") + ".",
    )  # fmt: skip
    if not updated:  # another run finished first (a redelivery): keep its file, drop ours
        default_storage.delete(stored)
        return "already"
    logger.info("alert #%s: clip of %.1f s ready (%s late)", alert.pk, duration,
                timedelta(seconds=round(time.time() - window.end, 1)))  # fmt: skip
    transaction.on_commit(lambda: _push(alert.pk))
    return "ready"


def _one_run(found: list[clipcache.Segment]) -> list[clipcache.Segment]:
    """Segments of different ffmpeg runs do not join: keep the run of the newest one (the detection's)."""
    if not found:
        return []
    run = found[-1].run
    return [segment for segment in found if segment.run == run]


def remux(source: Path, target: Path, *, duration_s: float) -> None:
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
               "-t", f"{max(0.1, duration_s):.3f}", "-map", "0:v:0", "-c", "copy", "-movflags", "+faststart",
               "-f", "mp4", str(target)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, timeout=CUT_CLIP.soft_time_limit / 2, check=False)
    if done.returncode != 0 or not target.exists():
        raise RuntimeError(f"ffmpeg could not remux the clip: {done.stderr.decode(errors='replace')[-300:]}")


def probe_duration(path: Path) -> float:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        capture_output=True, timeout=30, check=True,
    )  # fmt: skip
    return float(json.loads(done.stdout)["format"]["duration"])


def _unavailable(alert: Alert, note: str) -> str:
    Alert.objects.filter(pk=alert.pk, clip_status=Alert.ClipStatus.PENDING).update(
        clip_status=Alert.ClipStatus.UNAVAILABLE, clip_note=note
    )
    transaction.on_commit(lambda: _push(alert.pk))
    logger.warning("alert #%s: no clip: %s", alert.pk, note)
    return "unavailable"


def _push(alert_id: int) -> None:
    """Open dashboards replace the "clip in N s" line with the player (or the reason there is none)."""
    from alerts import live

    live.alerts_reviewed(Alert, [alert_id])  # pushes the alerts' current state, whatever changed
