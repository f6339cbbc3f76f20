"""Every rule on hand-made tracks: road users moved along known trajectories on a calibrated road."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import pytest

from cameras.geometry import Homography, fit_homography
from detection.events import CameraContext, CandidateEvent, FrameTracks
from detection.rules.engine import TrafficRules
from detection.tracking import Track, TrackPoint

FPS = 10.0
# A straight road, 10 m wide and 50 m long, seen in perspective (far end narrower, higher up).
CALIBRATION = {
    "image_points": [[0.1, 0.95], [0.9, 0.95], [0.65, 0.3], [0.35, 0.3]],
    "world_points": [[0, 0], [10, 0], [10, 50], [0, 50]],
}
H = fit_homography(CALIBRATION["image_points"], CALIBRATION["world_points"])


def lane(name: str, x0: float, x1: float, flow_up: bool, **extra: object) -> dict[str, object]:
    corners = H.to_image([[x0, 0], [x1, 0], [x1, 50], [x0, 50]]).tolist()
    start, end = H.to_image([[(x0 + x1) / 2, 5], [(x0 + x1) / 2, 45]]).tolist()
    return {
        "name": name,
        "kind": "lane",
        "polygon": corners,
        "flow": [start, end] if flow_up else [end, start],
        **extra,
    }


def crosswalk(y0: float, y1: float) -> dict[str, object]:
    return {
        "name": "crossing",
        "kind": "crosswalk",
        "polygon": H.to_image([[0, y0], [10, y0], [10, y1], [0, y1]]).tolist(),
    }


ZONES = [lane("northbound", 5, 10, True), lane("southbound", 0, 5, False), crosswalk(24, 28)]

Trajectory = Callable[[float], tuple[float, float] | None]  # time -> road position in metres, None: not in view


def constant(x: float, y0: float, speed_kmh: float, *, t0: float = 0.0) -> Trajectory:
    return lambda t: (x, y0 + speed_kmh / 3.6 * (t - t0)) if t >= t0 else None


def braking(x: float, speed_kmh: float, decel: float, brake_at: float) -> Trajectory:
    v0 = speed_kmh / 3.6

    def position(t: float) -> tuple[float, float]:
        if t <= brake_at:
            return (x, v0 * t)
        dt = min(t - brake_at, v0 / decel)
        return (x, v0 * brake_at + v0 * dt - decel * dt * dt / 2)

    return position


def run(
    actors: dict[int, tuple[str, Trajectory]],
    seconds: float,
    *,
    zones: list | None = None,
    rules: dict | None = None,
    limit: float = 50.0,
    homography: Homography | None = H,
) -> list[CandidateEvent]:
    context = CameraContext(1, limit, ZONES if zones is None else zones, rules or {}, homography)
    engine = TrafficRules(context)
    tracks: dict[int, Track] = {}
    events: list[CandidateEvent] = []
    for i in range(int(seconds * FPS)):
        ts = i / FPS
        seen = []
        for tid, (cls, trajectory) in actors.items():
            where = trajectory(ts)
            if where is None or not (0 <= where[1] <= 50):
                continue
            u, v = H.to_image([where])[0]
            height = 0.08 if cls != "person" else 0.12
            track = tracks.setdefault(tid, Track(tid, cls, deque(maxlen=400)))
            track.points.append(TrackPoint(ts, (u - 0.03, v - height, u + 0.03, v), 0.9))
            seen.append(track)
        events += engine.process(FrameTracks(context, i, ts, 1_800_000_000 + ts, (800, 600), seen, []))
    return events


def only(events: list[CandidateEvent], event_type: str) -> CandidateEvent:
    matching = [e for e in events if e.event_type == event_type]
    assert len(matching) == 1, events
    return matching[0]


def test_speeding_fires_once_after_half_a_second_over_the_limit_with_the_speed_measured() -> None:
    events = run({1: ("car", constant(7.5, 0, 80))}, 2.5)
    event = only(events, "speeding")
    assert event.measurements["speed_kmh"] == pytest.approx(80, rel=0.02)
    assert event.measurements["limit_kmh"] == 50
    # Speed is known after the 0.6 s velocity window; then 0.5 s over the limit.
    assert event.started_at == pytest.approx(0.7, abs=0.15)
    assert event.triggered_at - event.started_at < 0.05
    assert len(events) == 1


def test_speeding_has_no_cap_and_honours_a_lane_limit() -> None:
    fast = only(run({1: ("car", constant(7.5, 0, 190))}, 1.2), "speeding")
    assert fast.measurements["speed_kmh"] == pytest.approx(190, rel=0.02)
    zones = [lane("northbound", 5, 10, True, speed_limit_kmh=30), *ZONES[1:]]
    assert only(run({1: ("car", constant(7.5, 0, 40))}, 3, zones=zones), "speeding").measurements["limit_kmh"] == 30


def test_driving_at_the_limit_plus_a_tolerance_is_not_speeding() -> None:
    assert run({1: ("car", constant(7.5, 0, 54))}, 3) == []  # 54 < 50 x 1.10


def test_wrong_way_fires_after_five_metres_against_the_flow() -> None:
    event = only(run({1: ("car", constant(7.5, 40, -30))}, 3), "wrong_way")  # northbound lane, driving south
    assert event.measurements["lane"] == "northbound"
    assert event.measurements["distance_against_flow_m"] == pytest.approx(5, abs=1.0)
    assert event.started_at == pytest.approx(0.6 + 5 / (30 / 3.6) - 0.6, abs=0.4)
    assert run({1: ("car", constant(2.5, 40, -30))}, 3) == []  # the southbound lane: right way


def test_tailgating_needs_a_short_headway_for_a_full_second() -> None:
    follower, leader = constant(7.5, 0, 54), constant(7.5, 9, 54)  # 9 m at 15 m/s: 0.6 s headway
    event = only(run({1: ("car", follower), 2: ("car", leader)}, 3.5), "tailgating")
    assert event.track_ids == (1, 2)
    assert event.measurements["headway_s"] == pytest.approx(0.6, abs=0.05)
    assert event.triggered_at - event.started_at < 0.05
    safe = run({1: ("car", follower), 2: ("car", constant(7.5, 20, 54))}, 3.5)  # 1.33 s headway
    assert [e for e in safe if e.event_type == "tailgating"] == []


def test_a_near_miss_is_a_short_time_to_collision_between_a_vehicle_and_a_pedestrian() -> None:
    car = constant(7.5, 0, 36)  # 10 m/s up the northbound lane
    walker: Trajectory = lambda t: (6.0 + 1.2 * t, 22.0)  # noqa: E731 - crossing ahead of the car
    event = only(run({1: ("car", car), 2: ("person", walker)}, 3), "near_miss")
    assert event.track_ids == (1, 2)
    assert event.measurements["ttc_s"] < 1.5
    assert event.measurements["speed_kmh"] == pytest.approx(36, rel=0.05)
    far_walker: Trajectory = lambda t: (2.0 - 1.2 * t, 40.0)  # noqa: E731 - on the other side, walking away
    assert run({1: ("car", car), 2: ("person", far_walker)}, 3) == []


def test_hard_braking_from_speed_fires_and_gentle_braking_does_not() -> None:
    event = only(run({1: ("car", braking(7.5, 50, 8.0, 1.0))}, 3), "hard_braking")
    assert event.measurements["deceleration_mps2"] > 6
    assert event.measurements["from_speed_kmh"] == pytest.approx(50, rel=0.05)
    assert event.started_at == pytest.approx(1.0, abs=0.5)
    gentle = run({1: ("car", braking(7.5, 50, 3.0, 1.0))}, 5)
    assert [e for e in gentle if e.event_type == "hard_braking"] == []


def test_a_vehicle_standing_in_a_lane_for_ten_seconds_is_stalled() -> None:
    event = only(run({1: ("car", lambda t: (7.5, 12.0))}, 12), "stalled_vehicle")
    assert event.started_at == pytest.approx(10.0, abs=1.2)
    assert event.measurements["zone"] == "northbound"
    assert run({1: ("car", lambda t: (7.5, 12.0))}, 9) == []


def test_stopping_on_the_crosswalk_for_three_seconds() -> None:
    events = run({1: ("car", lambda t: (7.5, 26.0))}, 5)
    event = only(events, "crosswalk_stop")
    assert event.started_at == pytest.approx(3.0, abs=1.2)
    assert event.measurements["zone"] == "crossing"


def test_rules_can_be_switched_off_and_tuned_per_camera() -> None:
    assert run({1: ("car", constant(7.5, 0, 80))}, 2.5, rules={"speeding": {"enabled": False}}) == []
    assert run({1: ("car", constant(7.5, 0, 80))}, 2.5, rules={"speeding": {"over_limit_factor": 1.7}}) == []
    follower, leader = constant(7.5, 0, 54), constant(7.5, 20, 54)  # 1.33 s headway
    stricter = run({1: ("car", follower), 2: ("car", leader)}, 3.5, rules={"tailgating": {"headway_s": 1.5}})
    assert only(stricter, "tailgating").measurements["headway_s"] == pytest.approx(1.33, abs=0.05)


def test_an_uncalibrated_camera_proposes_nothing() -> None:
    assert run({1: ("car", constant(7.5, 0, 120))}, 2, homography=None) == []
