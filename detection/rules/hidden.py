"""Road users hidden behind a nearer one, and where they should be by now.

Seen along a lane, a car that follows another closely hides it, or is hidden by it: the farther one's
box merges into the nearer one's or is not detected at all, and its track is lost. It has not gone
away: it is somewhere in the nearer road user's shadow. For a short while its filter's prediction
says where, with an uncertainty that grows with what it may have done unseen (braked, accelerated).

Only a rule about a pair whose two members line up along the lane (tailgating) reads a hidden road
user, and only as one member of the pair: it needs the other one seen. Nothing is measured on a
hidden road user alone (no speeding, no braking, no stop), since nothing about it is being observed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from cameras.config import VEHICLE_CLASSES
from cameras.geometry import Homography
from detection.rules.identity import RoadUser, same_road_user
from detection.rules.kinematics import Motion

Box = tuple[float, float, float, float]

# The longest a road user is carried unseen. Its prediction's uncertainty grows with the square of
# this (see UNSEEN_ACCEL_SIGMA); ByteTrack itself gives a lost track up after 2 s.
HIDDEN_MAX_S = 1.5
# m/s^2, one sigma: what a car may have done about its speed while no one saw it. Ordinary driving
# changes speed by up to 2-3 m/s^2; a hard braking is rarer and would only make a follower closer.
UNSEEN_ACCEL_SIGMA = 2.5
# Its speed must have been known this well when it was lost (one sigma, share of the speed): a far,
# rough track predicts nothing worth deciding on.
MAX_REL_SPEED_SIGMA = 0.15


@dataclass(frozen=True)
class Hidden:
    user: RoadUser
    motion: Motion  # predicted to the frame's time, its uncertainty grown
    ground: tuple[float, float]  # the predicted ground point, normalized image coordinates
    behind: int  # uid of the road user whose box hides it


def predicted_motion(motion: Motion, ts: float) -> Motion:
    """The motion carried on to ts at constant velocity, with the uncertainty of an unknown acceleration."""
    dt = max(ts - motion.ts, 0.0)
    position = (motion.position[0] + motion.velocity[0] * dt, motion.position[1] + motion.velocity[1] * dt)
    speed_var = (UNSEEN_ACCEL_SIGMA * dt) ** 2
    # Position: the velocity's uncertainty over dt, and half an unknown acceleration over dt^2.
    position_cov = (
        motion.position_cov + dt * dt * motion.velocity_cov + np.eye(2) * (0.5 * UNSEEN_ACCEL_SIGMA * dt * dt) ** 2
    )
    return dataclasses.replace(
        motion,
        ts=ts,
        position=position,
        position_cov=position_cov,
        velocity_cov=motion.velocity_cov + np.eye(2) * speed_var,
        speed_sigma=math.sqrt(motion.speed_sigma**2 + speed_var),
        velocity_sigma=math.sqrt(motion.velocity_sigma**2 + speed_var),
        accel_ms2=0.0,
        accel_sigma=UNSEEN_ACCEL_SIGMA,
        lagged=None,  # nothing was measured: no smoothed estimate to decide a change on
    )


def lost_vehicles(users: Iterable[RoadUser], seen_uids: set[int], ts: float) -> list[RoadUser]:
    """Vehicles not in this frame, lost a moment ago with a settled, well-known motion: the only road
    users that may be hidden (most frames have none, and then nothing else need be computed)."""
    lost = []
    for user in users:
        motion = user.kinematics.motion
        if (
            user.uid not in seen_uids
            and user.cls in VEHICLE_CLASSES
            and motion is not None
            and motion.settled
            and 0 < ts - motion.ts <= HIDDEN_MAX_S
            and motion.speed_sigma <= MAX_REL_SPEED_SIGMA * max(motion.speed_ms, 1.0)
        ):
            lost.append(user)
    return lost


Visible = tuple[RoadUser, Box, tuple[float, float]]  # a road user in view, its box, its road position


def hidden_road_users(lost: list[RoadUser], visible: list[Visible], ts: float, homography: Homography) -> list[Hidden]:
    """Of the vehicles ``lost_vehicles`` found, those whose predicted ground point lies within a visible
    road user's box.

    ``visible``: this frame's road users with their box (normalized xyxy) and the road point under its
    bottom centre. A prediction on a road user in view is that road user (``same_road_user``), not one
    hidden behind it.
    """
    found = []
    for user in lost:
        assert user.kinematics.motion is not None  # lost_vehicles keeps only road users with one
        carried = predicted_motion(user.kinematics.motion, ts)
        if any(same_road_user(other.cls, position, user.cls, carried.position) for other, _, position in visible):
            continue
        gx, gy = (float(v) for v in homography.to_image([carried.position])[0])
        behind = next(
            (other.uid for other, (x1, y1, x2, y2), _ in visible if x1 <= gx <= x2 and y1 <= gy <= y2),
            None,
        )
        if behind is not None:
            found.append(Hidden(user, carried, (gx, gy), behind))
    return found
