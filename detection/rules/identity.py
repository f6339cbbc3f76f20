"""Road users, not track ids: track fragments that are one road user are joined back together.

The tracker gives a road user a new id when it loses it for a moment (hidden behind a bus, a missed
detection too many, a cyclist whose box changes shape). Rules that measure over time (a 10 s stall,
a 3 s crosswalk stop) and the events they report must survive that. A new track id is joined to a
road user that was lost a short while ago when it appears where that road user should be by now
(its constant-velocity prediction and both uncertainties, a Mahalanobis gate) and is of a compatible
class. The joined road user keeps its first id: events, their idempotency keys and their duplicates
are keyed by it. The join itself breaks the measurement run, so nothing is differentiated across it.
The same holds for a handover, where the tracker starts the new id a few frames before it lets the old
one go (``RoadUsers._handovers``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cameras.geometry import Homography
from detection.rules.kalman import FloatArray
from detection.rules.kinematics import KinematicState
from detection.rules.noise import ground_measurement
from detection.tracking import Track

# Classes the detector confuses with one another for the same road user.
CLASS_GROUPS = ({"car", "truck", "bus"}, {"bicycle", "motorcycle"}, {"person"})
REJOIN_WITHIN_S = 3.0  # ByteTrack forgets a lost track after 2 s; allow a little more
# A road user that stood still when it was lost (a stalled car behind passing traffic) is still there
# much later: it may be joined for this long, and it stays where it stood.
STANDING_MS = 1.0
REJOIN_STANDING_WITHIN_S = 15.0
STANDING_DRIFT_M = 0.7
# Chi-square of two degrees of freedom at 99 %, plus a floor on the gate for a road user that stood
# still (its prediction is sharp, but its box reappears from behind an occluder a little off).
REJOIN_CHI2 = 9.21
REJOIN_FLOOR_M = 1.5
FORGET_S = 5.0
FORGET_STANDING_S = 20.0
# A handover: the tracker starts a new id on a road user's box a few frames before it lets the old id go
# (the box jumped, two boxes overlapped for a moment). When the old id vanishes, a road user this young
# where the old one should be by now is the old one.
HANDOVER_S = 0.6
# Two vehicles one behind the other stand a car's length apart at least (ground point to ground point:
# both rear bumpers, or both front ones). Two road positions nearer than this, of classes the detector
# confuses, are one road user: seen again under another track id, or boxed twice.
SAME_AS_SEEN_M = 3.0


def class_group(cls: str) -> int:
    for index, group in enumerate(CLASS_GROUPS):
        if cls in group:
            return index
    return -1


def same_road_user(cls_a: str, position_a: tuple[float, float], cls_b: str, position_b: tuple[float, float]) -> bool:
    """Whether two road positions (metres) of these classes are one road user (SAME_AS_SEEN_M)."""
    return class_group(cls_a) == class_group(cls_b) and math.dist(position_a, position_b) < SAME_AS_SEEN_M


@dataclass
class RoadUser:
    uid: int  # the first track id it had
    cls: str
    kinematics: KinematicState = field(default_factory=KinematicState)
    last_seen: float = 0.0
    track_id: int = 0  # the track that currently carries it
    first_seen: float = 0.0
    visible_since: float = 0.0  # the first frame of the run of frames it has been seen in without a break
    # Set by the rules while they time a stop of this road user: traffic passing by may have made its
    # last boxes look as if it moved, but as far as anyone knows it still stands there.
    stopped: bool = False
    last_track: Track | None = None  # the track that carried it when it was last seen

    @property
    def standing(self) -> bool:
        motion = self.kinematics.motion
        # It may well have stood.
        return self.stopped or (motion is not None and motion.speed_lo(1.0) < STANDING_MS)

    def predicted_position(self, t: float) -> tuple[FloatArray, FloatArray] | None:
        """Where it should be at t: where it stood, or where its velocity has taken it."""
        kin = self.kinematics
        if self.standing and kin.filter is not None:
            return kin.filter.position.copy(), kin.filter.block(0, 0) + np.eye(2) * STANDING_DRIFT_M**2
        return kin.predicted_position(t)


class RoadUsers:
    def __init__(self) -> None:
        self.by_track: dict[int, RoadUser] = {}
        self.users: dict[int, RoadUser] = {}
        self.joins = 0
        self._last_ts: float | None = None  # the previous frame's time

    def resolve(
        self, tracks: list[Track], ts: float, homography: Homography, frame_size: tuple[int, int]
    ) -> list[tuple[Track, RoadUser]]:
        """The road user of each track in this frame, joining new track ids to lost road users."""
        seen_ids = {t.track_id for t in tracks}
        resolved: list[tuple[Track, RoadUser]] = []
        new: list[Track] = []
        for track in tracks:
            user = self.by_track.get(track.track_id)
            if user is None:
                new.append(track)
            else:
                resolved.append((track, user))
        taken = {user.uid for _, user in resolved}
        for track in new:
            user = self._match_lost(track, ts, homography, frame_size, seen_ids, taken)
            if user is None:
                user = RoadUser(uid=track.track_id, cls=track.cls, first_seen=ts)
                self.users[user.uid] = user
            else:
                self.joins += 1
                user.kinematics.interrupt()
            user.track_id = track.track_id
            self.by_track[track.track_id] = user
            taken.add(user.uid)
            resolved.append((track, user))
        for _, user in resolved:
            if self._last_ts is None or user.last_seen != self._last_ts:
                user.visible_since = ts  # (re)appeared in this frame
        resolved = self._handovers(resolved, ts, homography, frame_size, seen_ids)
        for track, user in resolved:
            user.last_seen = ts
            user.last_track = track
            user.cls = track.cls  # the track's class by vote, which may settle after a few frames
        self._forget(ts)
        self._last_ts = ts
        return resolved

    def _handovers(
        self,
        resolved: list[tuple[Track, RoadUser]],
        ts: float,
        homography: Homography,
        frame_size: tuple[int, int],
        seen_ids: set[int],
    ) -> list[tuple[Track, RoadUser]]:
        """Give the tracks of young road users back to a road user whose track vanished in this frame.

        The tracker may start a new id on a road user's box while the old id still lives (matched to a
        fragment for a few frames): no lost road user to join then, and when the old id goes, the road
        user carries on under the young one's id, its timings (a stop, a close following) started over.
        """
        vanished = [
            user
            for user in self.users.values()
            if user.track_id not in seen_ids and self._last_ts is not None and user.last_seen == self._last_ts
        ]
        if not vanished:
            return resolved
        by_uid = {user.uid: index for index, (_, user) in enumerate(resolved)}
        handed: set[int] = set()  # road users given a track in this frame: not young ones to give away
        for lost in vanished:
            # Younger than the one that vanished: a duplicate box's short-lived id that goes is not the
            # road user, the one that carried it all along is.
            young = [
                (track, user)
                for track, user in resolved
                if user.uid != lost.uid
                and user.uid not in handed
                and lost.visible_since < user.visible_since
                and ts - user.visible_since <= HANDOVER_S
            ]
            match = self._nearest_to_prediction(lost, young, ts, homography, frame_size)
            if match is None:
                continue
            track, user = match
            del self.users[user.uid]
            self.by_track[track.track_id] = lost
            lost.track_id = track.track_id
            lost.kinematics.interrupt()
            self.joins += 1
            handed.add(lost.uid)
            resolved[by_uid.pop(user.uid)] = (track, lost)
        return resolved

    def _nearest_to_prediction(
        self,
        lost: RoadUser,
        candidates: list[tuple[Track, RoadUser]],
        ts: float,
        homography: Homography,
        frame_size: tuple[int, int],
    ) -> tuple[Track, RoadUser] | None:
        """The candidate whose box stands where ``lost`` should be by ``ts`` (REJOIN_CHI2 gate), if any."""
        predicted = lost.predicted_position(ts) if candidates else None
        if predicted is None:
            return None
        position, cov = predicted
        best: tuple[float, tuple[Track, RoadUser]] | None = None
        for track, user in candidates:
            if class_group(track.cls) != class_group(lost.cls):
                continue
            measured = ground_measurement(homography, track.last.box, track.last.conf, frame_size)
            d2 = _gate_distance(measured.position - position, cov + measured.covariance)
            if d2 <= REJOIN_CHI2 and (best is None or d2 < best[0]):
                best = (d2, (track, user))
        return best[1] if best else None

    def _match_lost(
        self,
        track: Track,
        ts: float,
        homography: Homography,
        frame_size: tuple[int, int],
        seen_ids: set[int],
        taken: set[int],
    ) -> RoadUser | None:
        group = class_group(track.cls)
        measured = ground_measurement(homography, track.last.box, track.last.conf, frame_size)
        best: tuple[float, RoadUser] | None = None
        for user in self.users.values():
            if (
                user.uid in taken
                or user.track_id in seen_ids
                or class_group(user.cls) != group
                or not 0 < ts - user.last_seen <= (REJOIN_STANDING_WITHIN_S if user.standing else REJOIN_WITHIN_S)
            ):
                continue
            predicted = user.predicted_position(ts)
            if predicted is None:
                continue
            position, cov = predicted
            d2 = _gate_distance(measured.position - position, cov + measured.covariance)
            if d2 <= REJOIN_CHI2 and (best is None or d2 < best[0]):
                best = (d2, user)
        return best[1] if best else None

    def _forget(self, ts: float) -> None:
        for uid in [
            u
            for u, user in self.users.items()
            if ts - user.last_seen > (FORGET_STANDING_S if user.standing else FORGET_S)
        ]:
            del self.users[uid]
        for tid in [t for t, user in self.by_track.items() if user.uid not in self.users]:
            del self.by_track[tid]


def _gate_distance(delta: FloatArray, cov: FloatArray) -> float:
    """Squared Mahalanobis distance of a position from a prediction, with the gate's floor (REJOIN_FLOOR_M)."""
    s = cov + np.eye(2) * REJOIN_FLOOR_M**2 / REJOIN_CHI2
    return float(delta @ np.linalg.inv(s) @ delta)
