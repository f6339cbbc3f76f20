"""Measurements that know their uncertainty: box noise on the road, the Kalman filter, the smoother,
and road users re-joined across a track id switch."""

from __future__ import annotations

import random
from collections import deque

import numpy as np
import pytest

from cameras.geometry import fit_homography
from detection.rules.identity import RoadUsers
from detection.rules.kalman import ConstantAcceleration, smooth
from detection.rules.kinematics import KinematicState
from detection.rules.noise import ground_measurement, hidden_below_px, jacobian
from detection.tracking import Track, TrackPoint

# A camera 6 m up looking along a road from 10 m to 80 m away (960x720).
F, CAMH, HORIZON = 1.5, 6.0, 0.05


def project(x: float, y: float) -> tuple[float, float]:
    return (0.5 + F * 0.75 * (x - 4.0) / y, HORIZON + F * CAMH / y)


CORNERS = [(0.0, 10.0), (8.0, 10.0), (8.0, 80.0), (0.0, 80.0)]
H = fit_homography([project(*p) for p in CORNERS], [list(p) for p in CORNERS])
SIZE = (960, 720)


def box_at(x: float, y: float) -> tuple[float, float, float, float]:
    u, v = project(x, y)
    pixels_per_metre = F * SIZE[1] / y
    w, h = 1.8 * pixels_per_metre / SIZE[0], 1.5 * pixels_per_metre / SIZE[1]
    return (u - w / 2, v - h, u + w / 2, v)


def test_the_jacobian_is_the_derivative_of_the_homography() -> None:
    point = project(3.0, 42.0)
    step = 1e-6
    numeric = np.column_stack(
        [
            (H.to_world([(point[0] + step, point[1])])[0] - H.to_world([(point[0] - step, point[1])])[0]) / (2 * step),
            (H.to_world([(point[0], point[1] + step)])[0] - H.to_world([(point[0], point[1] - step)])[0]) / (2 * step),
        ]
    )
    assert np.allclose(jacobian(H, point), numeric, rtol=1e-4)


def test_position_noise_on_the_road_grows_with_distance_and_with_an_unsure_detection() -> None:
    near = ground_measurement(H, box_at(4.0, 15.0), 0.9, SIZE)
    far = ground_measurement(H, box_at(4.0, 70.0), 0.9, SIZE)
    assert near.position == pytest.approx([4.0, 15.0], abs=1e-6)
    assert far.sigma_m > 5 * near.sigma_m  # the same pixel is centimetres near, most of a metre far
    unsure = ground_measurement(H, box_at(4.0, 70.0), 0.3, SIZE)
    assert unsure.sigma_m > far.sigma_m
    hidden = ground_measurement(H, box_at(4.0, 70.0), 0.9, SIZE, hidden_px=10.0)
    assert hidden.sigma_m > far.sigma_m
    with pytest.raises(ValueError, match="frame size"):
        ground_measurement(H, box_at(4.0, 15.0), 0.9, (0, 720))


def test_a_ground_point_behind_a_nearer_box_is_hidden() -> None:
    behind, front = box_at(6.0, 40.0), box_at(6.0, 34.0)
    assert hidden_below_px(behind, [front], SIZE[1]) == pytest.approx((front[3] - behind[3]) * SIZE[1])
    assert hidden_below_px(front, [behind], SIZE[1]) == 0.0
    assert hidden_below_px(behind, [box_at(1.0, 34.0)], SIZE[1]) == 0.0  # the other lane: not in front of it


def test_the_filter_finds_a_constant_speed_and_its_sigma_covers_the_error() -> None:
    rng = random.Random(3)
    state = KinematicState()
    errors = []
    for i in range(60):
        t = i / 20
        x1, y1, x2, y2 = box_at(6.0, 20.0 + 15.0 * t)
        jitter = 0.5 / SIZE[1] + 0.015 * (y2 - y1)
        box = (x1, y1 + rng.gauss(0, jitter), x2, y2 + rng.gauss(0, jitter))
        motion = state.update(TrackPoint(t, box, 0.8), H, SIZE)
        assert motion is not None
        if i > 20:
            errors.append((motion.speed_ms - 15.0) / motion.speed_sigma)
    assert abs(np.mean(errors)) < 1.0 and np.abs(errors).max() < 3.0
    assert motion.lagged is not None and motion.lagged.speed_sigma < motion.speed_sigma  # smoothing helps


def test_the_gate_refuses_a_box_that_jumped_and_the_filter_restarts_if_it_stays_there() -> None:
    kf = ConstantAcceleration(0.0, np.array([0.0, 20.0]), np.eye(2) * 0.01, jerk_psd=10.0)
    for i in range(1, 11):
        assert kf.step(i / 10, np.array([0.0, 20.0 + 1.0 * i / 10]), np.eye(2) * 0.01)
    assert not kf.step(1.1, np.array([0.0, 35.0]), np.eye(2) * 0.01)  # 14 m off: another road user's box
    assert kf.position[1] == pytest.approx(21.1, abs=0.1)
    state = KinematicState()
    for i in range(10):
        state.update(TrackPoint(i / 10, box_at(6.0, 30.0), 0.8), H, SIZE)
    for i in range(10, 14):
        motion = state.update(TrackPoint(i / 10, box_at(6.0, 50.0), 0.8), H, SIZE)
    assert motion is not None and motion.position[1] == pytest.approx(50.0, abs=1.0)
    assert motion.continuous_since >= 1.0  # a new run: nothing is differentiated across the jump


def test_smoothing_with_no_later_steps_is_the_filtered_state() -> None:
    kf = ConstantAcceleration(0.0, np.array([1.0, 2.0]), np.eye(2), jerk_psd=10.0)
    x, p = smooth([(kf.t, kf.x, kf.p, kf.x_pred, kf.p_pred)])
    assert np.allclose(x, kf.x) and np.allclose(p, kf.p)


def test_a_new_track_id_where_a_lost_road_user_should_be_is_that_road_user() -> None:
    users = RoadUsers()
    car = Track(1, "car", deque())
    for i in range(10):
        car.points.append(TrackPoint(i / 10, box_at(6.0, 30.0 + 1.0 * i), 0.8))
        ((_, user),) = users.resolve([car], i / 10, H, SIZE)
        user.kinematics.update(car.last, H, SIZE)
    # Lost for half a second, then found 5 m further on (10 m/s) under a new id, and called a truck.
    again = Track(7, "truck", deque([TrackPoint(1.4, box_at(6.0, 44.0), 0.8)]))
    ((_, joined),) = users.resolve([again], 1.4, H, SIZE)
    assert joined.uid == 1 and users.joins == 1
    elsewhere = Track(8, "car", deque([TrackPoint(1.5, box_at(1.0, 70.0), 0.8)]))
    ((_, other),) = users.resolve([again, elsewhere][1:], 1.5, H, SIZE)
    assert other.uid == 8  # nowhere near a lost road user: a new one
    person = Track(9, "person", deque([TrackPoint(1.6, box_at(6.0, 46.0), 0.8)]))
    ((_, walker),) = users.resolve([person], 1.6, H, SIZE)
    assert walker.uid == 9  # not the car's class group


def test_a_road_user_handed_over_to_a_new_track_id_while_the_old_one_lived_keeps_its_id() -> None:
    # The tracker starts a second id on the car's box (the box jumped) two frames before it lets the
    # first one go: when the first goes, the second carries the car, under the car's first id.
    users = RoadUsers()
    car, handover = Track(1, "car", deque()), Track(5, "car", deque())
    other = Track(3, "car", deque())  # a car in the other lane, seen all along
    for i in range(14):
        ts = i / 10
        other.points.append(TrackPoint(ts, box_at(1.5, 60.0 - 1.5 * i), 0.8))
        tracks = [other]
        if i < 12:
            car.points.append(TrackPoint(ts, box_at(6.0, 30.0 + 1.0 * i), 0.8))
            tracks.append(car)
        if i >= 10:
            handover.points.append(TrackPoint(ts, box_at(6.0, 30.3 + 1.0 * i), 0.8))
            tracks.append(handover)
        resolved = users.resolve(tracks, ts, H, SIZE)
        for track, user in resolved:
            user.kinematics.update(track.last, H, SIZE)
        by_track = {track.track_id: user.uid for track, user in resolved}
        assert by_track[3] == 3
        if i >= 12:
            assert by_track == {3: 3, 5: 1}, (i, by_track)  # handed over to the car
        elif i >= 10:
            assert by_track[5] == 5  # while both live, two road users as far as anyone can tell


def test_a_duplicate_box_that_goes_does_not_take_the_road_user_it_doubled() -> None:
    # A short-lived second id on the car's box vanishes: the car, seen longer, stays itself.
    users = RoadUsers()
    car, duplicate = Track(1, "car", deque()), Track(2, "car", deque())
    for i in range(10):
        ts = i / 10
        car.points.append(TrackPoint(ts, box_at(6.0, 30.0 + 1.0 * i), 0.8))
        tracks = [car]
        if i in (5, 6):
            duplicate.points.append(TrackPoint(ts, box_at(6.0, 30.2 + 1.0 * i), 0.8))
            tracks.append(duplicate)
        resolved = users.resolve(tracks, ts, H, SIZE)
        for track, user in resolved:
            user.kinematics.update(track.last, H, SIZE)
        assert {track.track_id: user.uid for track, user in resolved}[1] == 1


def _fed(last_box: tuple[float, float, float, float], hidden_px: float) -> KinematicState:
    state = KinematicState()
    for i in range(10):
        state.update(TrackPoint(i / 10, box_at(4.0, 30.0 + i), 0.9), H, SIZE)
    state.update(TrackPoint(1.0, last_box, 0.9), H, SIZE, hidden_px)
    return state


def test_a_box_that_keeps_its_shape_behind_a_nearer_box_still_shows_its_ground_point() -> None:
    # A nearer road user's box reaches over the ground point (boxes are rectangles: often only road is
    # behind it). The box keeps its shape, so its bottom is seen: a full measurement (the frame still
    # counts as occluded for what is read across it, such as hard braking).
    clear, covered = _fed(box_at(4.0, 40.0), 0.0), _fed(box_at(4.0, 40.0), 60.0)
    assert covered.filter is not None and clear.filter is not None
    assert np.allclose(covered.filter.p, clear.filter.p)
    # Cut by a third from below, it is hidden: the measurement counts for little.
    x1, y1, x2, y2 = box_at(4.0, 40.0)
    cut = _fed((x1, y1, x2, y2 - (y2 - y1) / 3), 60.0)
    assert cut.filter is not None and cut.filter.block(0, 0)[1, 1] > clear.filter.block(0, 0)[1, 1]
    assert cut.occluded_at == 1.0


def test_a_first_box_of_another_shape_does_not_start_the_estimate() -> None:
    # The first box of a track is a car half out from behind a truck (a tall, narrow box): the next,
    # whole boxes restart the estimate instead of being measured against that one.
    state = KinematicState()
    x1, y1, x2, y2 = box_at(4.0, 30.0)
    state.update(TrackPoint(0.0, (x1 + (x2 - x1) * 0.6, y1, x2, y2 - 0.02), 0.5), H, SIZE)
    state.update(TrackPoint(0.1, box_at(4.0, 31.0), 0.9), H, SIZE)
    assert state.continuous_since == 0.1


def person_at(x: float, y: float, grown_m: float = 0.0) -> tuple[float, float, float, float]:
    """A 1.7 m tall person's box; ``grown_m``: the box reaches this far below its feet (a bicycle's
    wheels the detector boxes with the rider, say)."""
    u, v = project(x, y)
    pixels_per_metre = F * SIZE[1] / y
    w, h = 0.6 * pixels_per_metre / SIZE[0], 1.7 * pixels_per_metre / SIZE[1]
    return (u - w / 2, v - h, u + w / 2, v + grown_m * pixels_per_metre / SIZE[1])


def test_a_person_box_that_grows_at_its_bottom_makes_its_velocity_uncertain_not_fast() -> None:
    # Crossing the road 45 m away at 1.5 m/s; after 1 s the detector's box takes in what is below the
    # rider over 0.15 s, its top where it was: the box's bottom edge reads about 2 m nearer. (dev4-060)
    rng = random.Random(5)
    worst: dict[bool, float] = {}
    for upright in (False, True):
        state = KinematicState()
        worst[upright] = 0.0
        for i in range(50):
            t = i / 25
            grown = 0.45 * min(max((t - 1.0) / 0.15, 0.0), 1.0)
            x1, y1, x2, y2 = person_at(1.0 + 1.5 * t, 45.0, grown)
            jitter = 0.3 / SIZE[1]
            box = (x1, y1 + rng.gauss(0, jitter), x2, y2 + rng.gauss(0, jitter))
            motion = state.update(TrackPoint(t, box, 0.6), H, SIZE, upright=upright)
            assert motion is not None
            if t >= 0.5:
                # Truly it does not move towards the camera: how many sigmas off is its velocity?
                off = abs(motion.velocity[1]) / max(motion.velocity_sigma_along((0.0, 1.0)), 1e-6)
                worst[upright] = max(worst[upright], off)
    assert worst[False] > 4.0  # the bottom edge alone: a sure, false 2-3 m/s towards the camera
    assert worst[True] < 2.0  # with the top edge: as uncertain as it is


def test_a_person_walking_steadily_is_as_certain_with_its_top_edge_as_without() -> None:
    rng = random.Random(9)
    sigmas: dict[bool, list[float]] = {False: [], True: []}
    for upright in (False, True):
        state = KinematicState()
        for i in range(60):
            t = i / 25
            x1, y1, x2, y2 = person_at(3.0, 40.0 - 1.5 * t)  # walking towards the camera
            jitter = 0.3 / SIZE[1]
            box = (x1, y1 + rng.gauss(0, jitter), x2, y2 + rng.gauss(0, jitter))
            motion = state.update(TrackPoint(t, box, 0.8), H, SIZE, upright=upright)
            assert motion is not None
            if t >= 0.8:
                sigmas[upright].append(motion.velocity_sigma)
                assert motion.velocity[1] == pytest.approx(-1.5, abs=3 * motion.velocity_sigma)
    assert np.mean(sigmas[True]) < 1.25 * np.mean(sigmas[False])
