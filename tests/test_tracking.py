"""The tracker's two thresholds: the camera's confidence starts a track, weaker detections keep it going."""

from __future__ import annotations

from detection.detector import Box
from detection.tracking import CameraTracker


def car(x: float, conf: float) -> Box:
    return Box("car", conf, (x, 0.40, x + 0.08, 0.48))


def test_a_track_goes_on_through_frames_where_the_detector_is_unsure() -> None:
    tracker = CameraTracker(10.0, confidence=0.35)
    ids = []
    for i in range(12):
        conf = 0.8 if i < 4 else 0.18  # then half-hidden: seen, but only at 0.18
        seen = tracker.update(i / 10, [car(0.1 + 0.01 * i, conf)])
        ids.append([t.track_id for t in seen])
    assert all(len(frame) == 1 for frame in ids), ids
    assert len({frame[0] for frame in ids}) == 1  # one road user, one id, every frame


def test_weak_detections_alone_never_start_a_track() -> None:
    tracker = CameraTracker(10.0, confidence=0.35)
    for i in range(10):
        assert tracker.update(i / 10, [car(0.1 + 0.01 * i, 0.2)]) == []


def test_nothing_under_the_floor_is_used() -> None:
    tracker = CameraTracker(10.0, confidence=0.35)
    tracker.update(0.0, [car(0.1, 0.8)])
    assert tracker.update(0.1, [car(0.11, 0.05)]) == []  # under the 0.1 floor: not a sighting


def test_a_track_takes_the_class_most_of_its_detections_give_it() -> None:
    tracker = CameraTracker(10.0, confidence=0.35)
    first = Box("person", 0.5, (0.1, 0.40, 0.18, 0.48))  # a car's first, half-hidden box
    tracker.update(0.0, [first])
    for i in range(1, 6):
        (track,) = tracker.update(i / 10, [car(0.1 + 0.01 * i, 0.8)])
    assert track.cls == "car"
