"""Boxes in normalized image coordinates (x1, y1, x2, y2 in 0..1): the one home of box arithmetic
shared by the rules, the evidence crops and the privacy pixelation."""

from __future__ import annotations

from collections.abc import Iterable

NormBox = tuple[float, float, float, float]

CROP_MARGIN = 0.15  # share of the box's size added around it, so a crop shows the context


def union_box(boxes: Iterable[NormBox]) -> NormBox | None:
    """The smallest box around all of them; None for none."""
    items = list(boxes)
    if not items:
        return None
    return (min(b[0] for b in items), min(b[1] for b in items), max(b[2] for b in items), max(b[3] for b in items))


def intersection(a: NormBox, b: NormBox) -> float:
    """The area two boxes share (0 when apart)."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def area(box: NormBox) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def crop_rect(width: int, height: int, box: NormBox, margin: float = CROP_MARGIN) -> tuple[int, int, int, int] | None:
    """Pixel rectangle (left, top, right, bottom) of the box with its margin; None if tiny."""
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    left, top = max(0, int((x1 - mx) * width)), max(0, int((y1 - my) * height))
    right, bottom = min(width, int((x2 + mx) * width)), min(height, int((y2 + my) * height))
    if right - left < 8 or bottom - top < 8:
        return None
    return left, top, right, bottom
