"""Two detectors' boxes on the same frames, compared as a speed measurement sees them.

Used to check a quantized detector against fp32 (tests/test_int8.py, bench/int8_boxes.py). Speeds are
measured from the bottom-centre of a road user's box across frames, so besides whether a box is found
(IoU) what counts is how far its bottom edge and its centre x lie from the reference's, and how far
the box's motion between two consecutive frames does: a bias a box keeps from frame to frame cancels
in a speed, noise does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cameras.boxes import area, intersection
from detection.detector import Box

MATCH_IOU = 0.5
Pair = tuple[Box, Box]  # a reference box and the box matched to it


def iou(a: Box, b: Box) -> float:
    inter = intersection(a.xyxy, b.xyxy)
    union = area(a.xyxy) + area(b.xyxy) - inter
    return inter / union if union > 0 else 0.0


def _best(box: Box, candidates: list[Box], taken: set[int]) -> tuple[float, int]:
    scored = [(iou(box, c), i) for i, c in enumerate(candidates) if c.cls == box.cls and i not in taken]
    return max(scored, default=(0.0, -1))


@dataclass
class Agreement:
    """Accumulates frames: how many reference boxes were found, and the geometry of those found (pixels)."""

    reference_boxes: int = 0
    matched: int = 0
    extra: int = 0  # boxes the reference has no box for
    missed_sure: int = 0  # reference boxes of confidence >= 0.5 not found
    ious: list[float] = field(default_factory=list)
    bottom: list[float] = field(default_factory=list)  # other - reference
    centre_x: list[float] = field(default_factory=list)
    step_bottom: list[float] = field(default_factory=list)  # motion between consecutive frames, other - reference
    step_centre_x: list[float] = field(default_factory=list)

    def add(self, ref: list[Box], got: list[Box], width: int, height: int) -> list[Pair]:
        """One frame: each reference box (highest confidence first) against the unused box of its class
        with the highest IoU, a match from ``MATCH_IOU``. Returns the matched pairs."""
        taken: set[int] = set()
        pairs: list[Pair] = []
        self.reference_boxes += len(ref)
        for r in sorted(ref, key=lambda b: -b.conf):
            best, index = _best(r, got, taken)
            if best < MATCH_IOU:
                self.missed_sure += r.conf >= 0.5
                continue
            taken.add(index)
            g = got[index]
            pairs.append((r, g))
            self.ious.append(best)
            self.bottom.append((g.xyxy[3] - r.xyxy[3]) * height)
            self.centre_x.append(((g.xyxy[0] + g.xyxy[2]) - (r.xyxy[0] + r.xyxy[2])) / 2 * width)
        self.matched += len(pairs)
        self.extra += len(got) - len(taken)
        return pairs

    def add_step(self, before: list[Pair], after: list[Pair], width: int, height: int) -> None:
        """Two consecutive frames' pairs: a road user is the reference box overlapping most in the next frame."""
        after_refs = [r for r, _ in after]
        for r0, g0 in before:
            best, index = _best(r0, after_refs, set())
            if best < MATCH_IOU:
                continue
            r1, g1 = after[index]
            self.step_bottom.append(((g1.xyxy[3] - g0.xyxy[3]) - (r1.xyxy[3] - r0.xyxy[3])) * height)
            moved = (g1.xyxy[0] + g1.xyxy[2]) - (g0.xyxy[0] + g0.xyxy[2])
            moved_ref = (r1.xyxy[0] + r1.xyxy[2]) - (r0.xyxy[0] + r0.xyxy[2])
            self.step_centre_x.append((moved - moved_ref) / 2 * width)

    @property
    def share(self) -> float:
        return self.matched / self.reference_boxes if self.reference_boxes else 0.0

    def lines(self) -> list[str]:
        def stats(values: list[float]) -> str:
            a = np.abs(np.array(values))
            return f"|err| mean {a.mean():.2f} p95 {p95(values):.2f} bias {np.mean(values):+.2f} px"

        return [
            f"agree {self.matched}/{self.reference_boxes} = {self.share:.3f} (missed with conf >= 0.5: "
            f"{self.missed_sure}), extra {self.extra}, mean IoU {np.mean(self.ious):.3f}",
            f"position: bottom {stats(self.bottom)}; centre x {stats(self.centre_x)}",
            f"frame-to-frame motion ({len(self.step_bottom)} steps): bottom {stats(self.step_bottom)}; "
            f"centre x {stats(self.step_centre_x)}",
        ]


def p95(values: list[float]) -> float:
    """The 95th percentile of the absolute values."""
    return float(np.percentile(np.abs(np.array(values)), 95))
