"""The interface between capture and the rules: tracks in, candidate events out.

The camera process builds one :class:`FrameTracks` per detected frame, in frame order, and hands it
to a :class:`RuleEngine`; the engine returns :class:`CandidateEvent` objects, which the camera
process passes to a :class:`CandidateSink` (the LLM step or the alerts step). Rules never touch
capture, Redis or Celery code, so they are tested on hand-made tracks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from cameras.geometry import Homography
from cameras.payload import BoxInView
from detection.tracking import Track, TrafficGroup


@dataclass(frozen=True)
class CameraContext:
    """What rules need to know about the camera; the same settings an operator edits in the admin."""

    camera_id: int
    speed_limit_kmh: float
    zones: list[dict[str, Any]]
    rules: dict[str, dict[str, Any]]
    homography: Homography | None


@dataclass(frozen=True)
class FrameTracks:
    camera: CameraContext
    seq: int  # frame sequence number in this camera process
    ts: float  # frame time in seconds (video time for files, capture time for streams)
    wall_time: float  # Unix time when the frame was read
    size: tuple[int, int]  # width, height in pixels
    tracks: list[Track]  # tracks seen in this frame, with their history
    groups: list[TrafficGroup]
    # People and vehicles the detector's privacy pass found, whatever the camera's classes (track_id 0):
    # only for pixelating what goes to the cloud, never tracked or judged by rules.
    private: list[BoxInView] = field(default_factory=list)


@dataclass(frozen=True)
class CandidateEvent:
    camera_id: int
    event_type: str
    # Road users, not raw tracker ids: a road user whose track broke and was re-joined keeps its first
    # track id (detection.rules.identity), so this and the idempotency key survive id switches.
    track_ids: tuple[int, ...]
    started_at: float  # frame time at which the rule's definition was first met
    triggered_at: float  # frame time of the frame that triggered it
    measurements: dict[str, Any]
    severity: int = 2
    group_box: tuple[float, float, float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def idempotency_key(self, session: str) -> str:
        """Stable for the same event: re-processing or redelivery must not make a second alert."""
        raw = f"{self.camera_id}|{session}|{self.event_type}|{','.join(map(str, self.track_ids))}|{self.started_at:.2f}"
        return hashlib.sha256(raw.encode()).hexdigest()[:40]


class RuleEngine(Protocol):
    def process(self, frame: FrameTracks) -> list[CandidateEvent]: ...


class CandidateSink(Protocol):
    def __call__(self, event: CandidateEvent, frame: FrameTracks, jpeg: bytes) -> None: ...
