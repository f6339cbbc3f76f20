"""Multi-object tracking for one camera, fed the detections in frame order.

ByteTrack (detection/bytetrack.py, a torch-free port of Ultralytics') keeps its state on the tracker
object, so one camera's tracker lives in exactly one process (the camera process) and sees frames
strictly in order. On top of it we keep
each track's recent history (frame timestamps and boxes) and group road users that are close
enough to interact, which is what the rules of the analysis step work on.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from cameras.config import (
    COCO_CLASSES,
    DEFAULT_CONFIDENCE,
    VEHICLE_CLASSES,
    VULNERABLE_CLASSES,
    detection_floor,
)
from cameras.geometry import Homography
from detection.bytetrack import ByteTrackConfig, ByteTracker
from detection.detector import Box

HISTORY_S = 20.0  # long enough for the slowest rule (a vehicle stalled for 10 s) with margin
# A track unseen for this long is forgotten (ByteTrack keeps it "lost" for the same time).
LOST_S = 2.0
BUFFER = 0.5  # each side of a box grows by half its size for the matching (box 2x as wide and tall)


def _buffered(xyxy: tuple[float, float, float, float], buffer: float) -> list[float]:
    x1, y1, x2, y2 = xyxy
    dx, dy = (x2 - x1) * buffer, (y2 - y1) * buffer
    return [(x1 - dx) * 1000, (y1 - dy) * 1000, (x2 + dx) * 1000, (y2 + dy) * 1000]


@dataclass(frozen=True)
class TrackPoint:
    ts: float  # frame time, seconds
    box: tuple[float, float, float, float]  # normalized xyxy
    conf: float

    @property
    def ground(self) -> tuple[float, float]:
        """Bottom centre of the box: where the road user touches the road (normalized)."""
        x1, _, x2, y2 = self.box
        return ((x1 + x2) / 2, y2)


@dataclass
class Track:
    track_id: int
    cls: str
    points: deque[TrackPoint] = field(default_factory=deque)
    # Confidence summed per class over the track's detections: the detector calls a half-hidden car a
    # "person" now and then, and a track must not keep the class of its first frame for ever.
    votes: dict[str, float] = field(default_factory=dict)

    def vote(self, cls: str, conf: float) -> None:
        self.votes[cls] = self.votes.get(cls, 0.0) + conf
        self.cls = max(self.votes, key=self.votes.__getitem__)

    def share(self, classes: frozenset[str]) -> float:
        """The share of the track's class votes that fall in ``classes`` (its class alone, before any vote)."""
        total = sum(self.votes.values())
        if total <= 0:
            return 1.0 if self.cls in classes else 0.0
        return sum(v for c, v in self.votes.items() if c in classes) / total

    @property
    def last(self) -> TrackPoint:
        return self.points[-1]

    @property
    def first_seen(self) -> float:
        return self.points[0].ts

    @property
    def is_vehicle(self) -> bool:
        return self.cls in VEHICLE_CLASSES


@dataclass(frozen=True)
class TrafficGroup:
    track_ids: tuple[int, ...]
    classes: tuple[str, ...]
    box: tuple[float, float, float, float]  # normalized union of the members' boxes

    @property
    def mixed(self) -> bool:
        """A vehicle together with a pedestrian, cyclist or motorcyclist: the risky kind."""
        return bool(VULNERABLE_CLASSES & set(self.classes)) and bool(VEHICLE_CLASSES & set(self.classes))


class CameraTracker:
    def __init__(self, fps: float, *, confidence: float = DEFAULT_CONFIDENCE, track_buffer_s: float = LOST_S) -> None:
        """``confidence``: the camera's threshold. Detections at or over it start and carry tracks;
        weaker ones, down to cameras.config.detection_floor, only keep an existing track going
        (ByteTrack's second association), so a road user the detector is unsure of for a few frames
        keeps its track and its measurements instead of breaking in two; they also find a lost track
        again where it was (a far stalled car the detector sees at 0.1-0.2)."""
        self._tracker = ByteTracker(
            ByteTrackConfig(
                track_high_thresh=confidence,
                track_low_thresh=detection_floor(confidence),
                new_track_thresh=confidence,
                track_buffer=max(1, round(track_buffer_s * fps)),  # in frames
                match_thresh=0.8,
                fuse_score=True,
                refind_weak=True,
                confirm_weak_classes=frozenset(COCO_CLASSES.index(name) for name in VULNERABLE_CLASSES),
            )
        )
        self.tracks: dict[int, Track] = {}
        self._history_len = max(2, round(HISTORY_S * fps))

    def update(self, ts: float, boxes: list[Box]) -> list[Track]:
        """Feed one frame's detections (frames strictly in order); returns the tracks seen in it.

        Boxes are tracked in a 1000x1000 space (normalized x 1000): ByteTrack's IoU matching
        does not depend on the scale, and its thresholds are tuned for pixel-sized numbers.
        ByteTrack matches by overlap, and a small fast vehicle at 5-10 fps may not overlap its own
        previous box at all: the boxes are enlarged for the matching only ("buffered IoU", as in
        C-BIoU), and each track keeps the detector's own box of the frame, not the filter's.
        """
        xyxy = np.asarray([_buffered(b.xyxy, BUFFER) for b in boxes], dtype=np.float32).reshape(-1, 4)
        scores = np.asarray([b.conf for b in boxes], dtype=np.float32)
        classes = np.asarray([COCO_CLASSES.index(b.cls) for b in boxes], dtype=np.float32)
        out = self._tracker.update(xyxy, scores, classes)
        seen: list[Track] = []
        for _x1, _y1, _x2, _y2, track_id, score, cls_id, idx in out:
            tid = int(track_id)
            track = self.tracks.get(tid)
            if track is None:
                track = self.tracks[tid] = Track(tid, COCO_CLASSES[int(cls_id)], deque(maxlen=self._history_len))
            box = boxes[int(idx)]
            track.points.append(TrackPoint(ts=ts, box=box.xyxy, conf=float(score)))
            track.vote(box.cls, box.conf)
            seen.append(track)
        for tid in [t for t, track in self.tracks.items() if ts - track.last.ts > LOST_S]:
            del self.tracks[tid]
        return seen


def traffic_groups(
    tracks: list[Track], homography: Homography | None, *, max_gap_m: float = 4.0, max_gap_heights: float = 1.0
) -> list[TrafficGroup]:
    """Clusters of two or more road users within interaction distance of each other.

    With a calibration, distance is measured between ground points on the road, in metres. Without
    one, it is the image distance between ground points relative to the taller box's height (a
    person is about 1.7 m tall, a car 1.5 m: one height is roughly a car length at that depth).
    """
    n = len(tracks)
    if n < 2:
        return []
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    ground = np.array([t.last.ground for t in tracks])
    if homography is not None:
        world = homography.to_world(ground)
    for i in range(n):
        for j in range(i + 1, n):
            if homography is not None:
                close = float(np.linalg.norm(world[i] - world[j])) <= max_gap_m
            else:
                height = max(
                    tracks[i].last.box[3] - tracks[i].last.box[1], tracks[j].last.box[3] - tracks[j].last.box[1]
                )
                close = float(np.linalg.norm(ground[i] - ground[j])) <= max_gap_heights * height
            if close:
                parent[find(i)] = find(j)
    clusters: dict[int, list[Track]] = {}
    for i, track in enumerate(tracks):
        clusters.setdefault(find(i), []).append(track)
    groups = []
    for members in clusters.values():
        if len(members) < 2:
            continue
        boxes = np.array([m.last.box for m in members])
        union = (float(boxes[:, 0].min()), float(boxes[:, 1].min()), float(boxes[:, 2].max()), float(boxes[:, 3].max()))
        groups.append(TrafficGroup(tuple(m.track_id for m in members), tuple(m.cls for m in members), union))
    return groups
