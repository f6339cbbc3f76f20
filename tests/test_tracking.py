"""The torch-free ByteTrack port (detection/bytetrack.py) and the camera tracker on top of it."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import numpy as np
import numpy.typing as npt
import pytest

from detection.bytetrack import ByteTrackConfig, ByteTracker
from detection.detector import Box
from detection.tracking import CameraTracker


class _UltralyticsResults:
    """What Ultralytics' BYTETracker reads of a results object (as the camera tracker used to pass)."""

    def __init__(self, data: npt.NDArray[np.float32]) -> None:
        self.data = data

    conf = property(lambda self: self.data[:, 4])
    cls = property(lambda self: self.data[:, 5])
    xyxy = property(lambda self: self.data[:, :4])

    @property
    def xywh(self) -> npt.NDArray[np.float32]:
        wh = self.data[:, 2:4] - self.data[:, 0:2]
        return np.hstack([self.data[:, 0:2] + wh / 2, wh])

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: npt.NDArray[np.bool_]) -> _UltralyticsResults:
        return _UltralyticsResults(self.data[index])


def random_traffic(seed: int, frames: int = 200) -> list[npt.NDArray[np.float32]]:
    """Rows of (x1, y1, x2, y2, conf, cls) per frame: road users that appear, move, are missed now
    and then, detected weakly (below the first association's threshold) a quarter of the time, and
    leave; plus the odd zero-width box."""
    rng = np.random.default_rng(seed)
    users: list[list[float]] = []
    out = []
    for _ in range(frames):
        if rng.random() < 0.15:
            w, h = rng.uniform(20, 200, 2)
            users.append([rng.uniform(0, 900), rng.uniform(0, 900), w, h, rng.normal(0, 15), rng.normal(0, 5),
                          float(rng.integers(0, 8))])  # fmt: skip
        rows = []
        for u in users:
            u[0] += u[4]
            u[1] += u[5]
            if rng.random() < 0.1:
                continue
            jitter = rng.normal(0, 3, 4)
            conf = rng.uniform(0.05, 0.25) if rng.random() < 0.25 else rng.uniform(0.25, 0.95)
            rows.append(
                [u[0] + jitter[0], u[1] + jitter[1], u[0] + u[2] + jitter[2], u[1] + u[3] + jitter[3], conf, u[6]]
            )
        users = [u for u in users if -300 < u[0] < 1300 and rng.random() > 0.01]
        if rng.random() < 0.05:
            rows.append([500, 500, 500, 520, 0.9, 1])
        out.append(np.asarray(rows, dtype=np.float32).reshape(-1, 6))
    return out


@pytest.mark.skipif(importlib.util.find_spec("ultralytics") is None, reason="Ultralytics is not installed")
@pytest.mark.parametrize(("seed", "buffer", "fuse"), [(1, 20, True), (2, 3, True), (3, 40, False), (4, 1, True)])
def test_the_port_gives_exactly_what_ultralytics_bytetrack_gives_frame_by_frame(seed: int, buffer: int,
                                                                                fuse: bool) -> None:  # fmt: skip
    from ultralytics.trackers.byte_tracker import BYTETracker

    args = SimpleNamespace(track_high_thresh=0.25, track_low_thresh=0.1, new_track_thresh=0.25, track_buffer=buffer,
                           match_thresh=0.8, fuse_score=fuse)  # fmt: skip
    theirs = BYTETracker(args)  # type: ignore[no-untyped-call]
    ours = ByteTracker(ByteTrackConfig(track_buffer=buffer, fuse_score=fuse))
    ids: set[int] = set()
    for n, data in enumerate(random_traffic(seed)):
        expected = np.asarray(theirs.update(_UltralyticsResults(data)), dtype=np.float32).reshape(-1, 8)
        got = ours.update(data[:, :4], data[:, 4], data[:, 5])
        np.testing.assert_array_equal(got, expected, err_msg=f"frame {n}")
        ids |= {int(i) for i in got[:, 4]}
    assert len(ids) > 10  # the scene did exercise births, losses and re-finds


def test_a_track_keeps_its_id_through_a_missed_frame_and_a_weak_detection() -> None:
    tracker = ByteTracker(ByteTrackConfig(track_buffer=10))
    boxes = [[100 + 10 * i, 100, 200 + 10 * i, 180] for i in range(8)]
    confs = [0.9, 0.9, 0.9, None, 0.9, 0.15, 0.9, 0.9]  # missed in frame 3, weak in frame 5
    seen = []
    for box, conf in zip(boxes, confs, strict=True):
        rows = ([box], [conf], [2.0]) if conf is not None else (np.empty((0, 4)), [], [])
        out = tracker.update(np.asarray(rows[0], dtype=np.float32), np.asarray(rows[1]), np.asarray(rows[2]))
        seen.append([int(r[4]) for r in out])
    assert seen == [[1], [1], [1], [], [1], [1], [1], [1]]


def test_a_fast_small_vehicle_that_never_overlaps_its_last_box_keeps_its_track() -> None:
    """At 5 detect fps a car 4 % of the frame wide moves more than its width between frames: plain IoU
    would start a new track every frame; the buffered boxes keep one."""
    tracker = CameraTracker(fps=5)
    ids = []
    for i in range(6):
        x = 0.1 + 0.05 * i
        [track] = tracker.update(i / 5, [Box("car", 0.9, (x, 0.5, x + 0.04, 0.53))])
        ids.append(track.track_id)
        assert track.last.box == (x, 0.5, x + 0.04, 0.53)  # the detector's box, not the filter's
    assert len(set(ids)) == 1 and len(tracker.tracks) == 1


def test_a_track_unseen_for_longer_than_the_lost_time_is_forgotten() -> None:
    tracker = CameraTracker(fps=10)
    car = Box("car", 0.9, (0.4, 0.5, 0.5, 0.6))
    for i in range(3):
        tracker.update(i / 10, [car])
    assert len(tracker.tracks) == 1
    tracker.update(2.5, [])
    assert tracker.tracks == {}


# The tracker's two thresholds: the camera's confidence starts a track, weaker detections keep it going.
def car_box(x: float, conf: float) -> Box:
    return Box("car", conf, (x, 0.40, x + 0.08, 0.48))


def test_a_track_goes_on_through_frames_where_the_detector_is_unsure() -> None:
    tracker = CameraTracker(10.0, confidence=0.35)
    ids = []
    for i in range(12):
        conf = 0.8 if i < 4 else 0.18  # then half-hidden: seen, but only at 0.18
        seen = tracker.update(i / 10, [car_box(0.1 + 0.01 * i, conf)])
        ids.append([t.track_id for t in seen])
    assert all(len(frame) == 1 for frame in ids), ids
    assert len({frame[0] for frame in ids}) == 1  # one road user, one id, every frame


def test_weak_detections_alone_never_start_a_track() -> None:
    tracker = CameraTracker(10.0, confidence=0.35)
    for i in range(10):
        assert tracker.update(i / 10, [car_box(0.1 + 0.01 * i, 0.2)]) == []


def test_nothing_under_the_floor_is_used() -> None:
    tracker = CameraTracker(10.0, confidence=0.35)
    tracker.update(0.0, [car_box(0.1, 0.8)])
    assert tracker.update(0.1, [car_box(0.11, 0.05)]) == []  # under the 0.1 floor: not a sighting


def test_a_track_takes_the_class_most_of_its_detections_give_it() -> None:
    tracker = CameraTracker(10.0, confidence=0.35)
    first = Box("person", 0.5, (0.1, 0.40, 0.18, 0.48))  # a car's first, half-hidden box
    tracker.update(0.0, [first])
    for i in range(1, 6):
        (track,) = tracker.update(i / 10, [car_box(0.1 + 0.01 * i, 0.8)])
    assert track.cls == "car"


def test_a_lost_standing_car_is_found_again_by_a_weak_detection_where_it_stood() -> None:
    # A far stalled car: detected at 0.5, then at 0.12-0.15 with one frame under the floor. ByteTrack
    # alone keeps the lost track waiting for a confident box; ours takes the weak one where it stood.
    tracker = CameraTracker(10.0, confidence=0.35)
    parked = (0.40, 0.30, 0.44, 0.33)
    ids = []
    for i, conf in enumerate([0.5, 0.5, 0.5, 0.08, 0.12, 0.15, 0.12, 0.13]):
        ids.append([t.track_id for t in tracker.update(i / 10, [Box("car", conf, parked)])])
    assert ids[3] == [] and ids[4:] == [ids[0]] * 4


def test_a_lost_track_is_not_found_again_by_a_weak_box_that_only_overlaps_it() -> None:
    # Two cars standing one behind the other give weak boxes in between: following those, a track
    # would wander from one car to the other.
    tracker = CameraTracker(10.0, confidence=0.35)
    for i in range(3):
        tracker.update(i / 10, [Box("car", 0.5, (0.40, 0.30, 0.44, 0.33))])
    tracker.update(0.3, [])
    assert tracker.update(0.4, [Box("car", 0.15, (0.40, 0.31, 0.44, 0.345))]) == []  # IoU 0.6


def test_a_cyclist_seen_sure_once_then_weakly_gets_a_track_and_a_car_does_not() -> None:
    # The detector splits a cyclist's confidence between person, bicycle and motorcycle: 0.45 once,
    # then 0.2-0.3. ByteTrack confirms a new track only with a second confident box; ours takes a weak
    # one over it for the vulnerable classes. A car's weak boxes (a sliver beside another car) do not.
    for cls, tracked in (("motorcycle", True), ("person", True), ("car", False)):
        tracker = CameraTracker(10.0, confidence=0.35)
        tracker.update(0.0, [])  # tracks of a camera's very first frame are confirmed at once
        seen = [tracker.update((i + 1) / 10, [Box(cls, conf, (0.30 + 0.005 * i, 0.40, 0.34 + 0.005 * i, 0.48))])
                for i, conf in enumerate([0.45, 0.27, 0.22, 0.3, 0.25])]  # fmt: skip
        assert bool(seen[-1]) is tracked, cls
        if tracked:
            assert seen[0] == [] and len({t.track_id for frame in seen[1:] for t in frame}) == 1


def test_without_refind_weak_the_port_is_bytetrack() -> None:
    assert ByteTrackConfig().refind_weak is False  # the frame-by-frame comparison above runs with it off
    assert ByteTrackConfig().confirm_weak_classes == frozenset()
