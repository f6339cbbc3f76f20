"""The last seconds of detected frames of a camera, so an event's evidence can show how it unfolded.

The camera loop adds each detected frame (the JPEG it already made for the frame store, and the boxes
of everyone tracked in it); when a rule fires, :meth:`FrameHistory.pick` chooses a short strip of
frames from just before the event's start up to the triggering frame, evenly spread in time. The LLM
step sees them, pixelated, in one multi-image message (analysis/strip.py): hard braking, tailgating
or a stall are temporal, and one still cannot show them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from cameras.payload import BoxInView, TrackFrame
from detection.capture.downscale import downscale
from detection.tracking import Track

STRIP_FRAMES = 5
# Longest side of a remembered frame: what the LLM step uploads a strip frame at (analysis/strip.py's
# STRIP_MAX_SIDE), so the history holds nothing larger than will be sent.
STRIP_SIDE = 448
LEAD_S = 0.5  # the strip starts this long before the event's start: the situation before it


@dataclass(frozen=True)
class PastFrame:
    seq: int
    ts: float  # frame time (video seconds for files, capture time for streams)
    wall_time: float
    jpeg: bytes
    boxes: list[BoxInView]  # everyone tracked: the player's overlay draws these
    private: list[BoxInView] = field(default_factory=list)  # the privacy pass's people and vehicles

    @property
    def pixelate(self) -> list[BoxInView]:
        """Everything to pixelate before this frame leaves for the cloud."""
        return self.boxes + self.private


def strip_jpeg(image: npt.NDArray[np.uint8]) -> bytes:
    """A frame as the history keeps it: scaled to STRIP_SIDE and JPEG-encoded (about 0.7 ms of CPU for an
    800x600 frame; it was 3 ms with INTER_AREA, see detection/capture/downscale.py).

    Made here for every detected frame because the frame store no longer carries a JPEG of it (frames
    travel raw, and the full keyframe is encoded only when a rule fires)."""
    height, width = image.shape[:2]
    scale = min(1.0, STRIP_SIDE / max(height, width))
    if scale < 1.0:
        size = (round(width * scale), round(height * scale))
        image = downscale(image, size)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return bytes(buf) if ok else b""


class FrameHistory:
    """A bounded window of the camera's detected frames (a few MB: JPEGs for ``keep_s`` seconds)."""

    def __init__(self, keep_s: float = 8.0, max_frames: int = 120) -> None:
        self.keep_s = keep_s
        self.frames: deque[PastFrame] = deque(maxlen=max_frames)

    def add(self, seq: int, ts: float, wall_time: float, jpeg: bytes, tracks: list[Track],
            private: list[BoxInView] | None = None) -> None:  # fmt: skip
        boxes: list[BoxInView] = [{"track_id": t.track_id, "cls": t.cls, "xyxy": list(t.last.box)} for t in tracks]
        self.frames.append(PastFrame(seq, ts, wall_time, jpeg, boxes, private or []))
        while self.frames and self.frames[0].ts < ts - self.keep_s:
            self.frames.popleft()

    def pick(self, started_at: float, triggered_at: float, count: int = STRIP_FRAMES) -> list[PastFrame]:
        """Up to ``count`` frames spread over [start - lead, trigger], the triggering frame last."""
        window = [f for f in self.frames if started_at - LEAD_S - 1e-6 <= f.ts <= triggered_at + 1e-6]
        if len(window) <= count:
            return window
        first, last = window[0].ts, window[-1].ts
        chosen: list[PastFrame] = []
        for index in range(count):
            target = first + (last - first) * index / (count - 1)
            best = min(window, key=lambda f: abs(f.ts - target))
            if best not in chosen:
                chosen.append(best)
        return sorted(chosen, key=lambda f: f.ts)

    def track(self, triggered_at: float) -> list[TrackFrame]:
        """Every remembered frame's boxes up to the trigger, timed from it: the clip player's overlay."""
        return [
            {"t": round(f.ts - triggered_at, 3),
             "boxes": [[b["track_id"], b["cls"], *(round(v, 3) for v in b["xyxy"])] for b in f.boxes]}
            for f in self.frames
            if f.ts <= triggered_at + 1e-6
        ]  # fmt: skip
