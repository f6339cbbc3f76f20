"""The dangerous-driving rules of ../shared/SCENARIOS.md, on the road users of one camera.

Each rule watches a condition per road user (or per pair), measures how long it has held, and
proposes a candidate event once the definition is met, minimum duration included, with the values
that justify it and their uncertainty. Measurements come from a Kalman filter per road user
(detection.rules.kinematics), so each rule decides on a confidence bound, not on a point value:
speeding when even the lower bound of the speed is over the threshold, hard braking when even the
lower bound of the deceleration is, over a minimum time and within one unbroken run of
measurements. A far, jittery road user has wide bounds and proposes nothing until it is known well.

Events are keyed by what happened, not by track ids: track fragments of one road user are joined
(detection.rules.identity), and a (rule, road user) fires once; it may fire again only after the
condition has cleared and the cooldown has passed. Every threshold comes from the camera's settings
(defaults in cameras.config.RULE_DEFAULTS), the same settings an operator edits in the admin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from cameras.boxes import area, intersection, union_box
from cameras.config import (
    FOUR_WHEELED_CLASSES,
    RULE_DEFAULTS,
    VEHICLE_CLASSES,
    rule_settings,
)
from detection.events import CameraContext, CandidateEvent, FrameTracks
from detection.rules.hidden import hidden_road_users, lost_vehicles
from detection.rules.identity import RoadUser, RoadUsers, same_road_user
from detection.rules.kinematics import UPRIGHT_CLASSES, Motion
from detection.rules.noise import covering_boxes, hidden_below_px
from detection.rules.zones import Zone, build_zones
from detection.tracking import Track

HYSTERESIS = 0.97  # a condition that holds stays held until the value falls 3 % back from its threshold
# Confidence bounds: how many standard deviations below (or above) the estimate a rule decides on.
K_SPEED = 1.64  # one-sided 95 %: a speed is "over" only when its lower bound is
K_BRAKE = 1.64  # one-sided 95 %, and it must hold for BRAKING_MIN_S
K_HEADWAY = 1.0
K_DISTANCE = 1.0
K_WRONG_WAY = 1.64  # one-sided 95 %: the most severe alert, and a far jittery box can seem to go back
K_MISS = 1.0  # a near miss: how close two road users will come, at its lower bound
BRAKING_WINDOWS_S = (0.25, 0.4, 0.6, 0.9)  # deceleration: the smoothed speed lost over one of these
BRAKING_MIN_S = 0.1  # and it must go on this long (a real braking lasts a second or more)
MAX_PLAUSIBLE_DECEL = 12.0  # m/s^2: beyond what tyres can do, the measurement is wrong, not the driver
# m/s^2, surely: no road vehicle gains speed this fast; a "braking" right after such a gain is a speed
# bump made by a box that grew or slid for a few frames, not a driver.
MAX_PLAUSIBLE_ACCEL = 5.0
# A speed known only this roughly (one sigma, share of the speed) is not evidence of speeding, nor a
# motion this rough of driving the wrong way, whatever its bounds say: on the dev splits only far
# tracks that jumped between road users were this rough (13-31 %), real offenders 2-11 %.
SPEED_EVIDENCE_REL_SIGMA = 0.08
WRONG_WAY_REL_SIGMA = 0.15
# A box's bottom centre is not the middle of the road user's wheel track: seen at an angle, the box
# spans its side too, and the point moves sideways by up to half its length times the sine of the
# angle (about 1.1 m for a car seen 30 degrees off its axis). Lane membership for a wrong-way alert
# allows for that: in the next lane, with the other flow, the driver is doing nothing wrong.
GROUND_LATERAL_M = 1.2
# The smoothed speed at a moment is made of the boxes around it: a cover this recent may be in it.
COVERED_WINDOW_S = 0.5
SLIDING_MIN_SPEED_MS = 1.0  # a nearer road user slower than this (standing) drags no edge along
BRAKING_LOOKBACK_S = 1.5  # the speed braking started from: the best-known speed this long before
STILL_MAX_SIGMA = 1.5  # m/s: a speed this uncertain cannot tell standing from crawling
K_STILL = 1.64
STOP_TIMING_MARGIN_S = 0.33  # 1.64 sigma of a stop's timing (about 0.2 s): stops are timed on their lower bound
STOP_DEBOUNCE_S = 0.5  # a standing road user has moved off once its speed has been over the limit this long
STANDING_RULES = frozenset({"stalled_vehicle", "crosswalk_stop"})
# A pair is tailgating only between vehicles, and a cyclist is not one: the detector calls a cyclist a
# motorcycle in some frames and a bicycle or a person in others. A road user is a vehicle for that rule
# only when at least this share of its track's class votes say so (a car overtaking a cyclist that was
# a motorcycle by 18.5 votes to 16.1 "tailgated" it, dev3-022; the tailgaters of the tuning splits are
# 0.99-1.0 vehicle).
SURE_VEHICLE_SHARE = 2 / 3
CROWDED_SHARE = 0.1  # of a box's area covered by other road users' boxes: its edges are not all its own
# A moving event repeated this soon by a new road user where a vanished one would be by now (at its last
# velocity) is the same one: a car hidden behind a passing bus for a few seconds comes back under a new
# id, too late to be joined to its road user (detection.rules.identity).
PLACE_AND_TIME_S = 6.0
PLACE_RADIUS_M = 4.0
UNSEEN_SPEED_SHARE = 0.1  # and the place it would be is known to this share of the way it went unseen
# A condition timed over a minimum duration (speeding 0.5 s, tailgating 1 s) is timed from when its
# best estimate first met it, as long as that held without a break; it fires once its sure version
# (the confidence bound) has also held this long. A far road user's bound tightens only as it nears:
# by then the violation has usually been going on for a while, and waiting out the whole minimum
# duration again would only make the alert later, not surer.
SURE_CONFIRM_S = 0.2
# Nobody is this tall: a "person" box this high in road metres is part of a vehicle that the detector
# boxed twice (dev5-072: 2.6-2.8 m, driving along with the car it was part of). The tallest person
# of the near misses on the tuning splits measures 2.06 m (a cyclist boxed as a person, bicycle and
# all, which a camera looking down at it sees taller than it stands).
PERSON_MAX_HEIGHT_M = 2.5
# Nobody on foot or on a bicycle is surely faster than 50 km/h (a fast e-bike does 45): a "person" or
# "bicycle" whose speed's lower bound says so is a far box whose ground point jumps, or a vehicle the
# detector boxed as one, and no near miss is judged on its velocity. (The vulnerable road users of the
# tuning splits' true near misses move at up to 5 m/s.) Motorcycles are fast and stay in.
PEDAL_CLASSES = frozenset({"person", "bicycle"})
PEDAL_MAX_SPEED_MS = 14.0
NEAR_MISS_CONFIRM_S = 0.1  # two frames at 20 fps: one frame of crossed velocity vectors is not a near miss
SEVERITY = {
    "speeding": 2,
    "wrong_way": 4,
    "tailgating": 2,
    "near_miss": 3,
    "hard_braking": 2,
    "stalled_vehicle": 2,
    "crosswalk_stop": 2,
}


@dataclass
class _UserState:
    # lane -> (entry position, its sigma along the flow, the measurement run it belongs to)
    lane_entry: dict[str, tuple[tuple[float, float], float, float]] = field(default_factory=dict)
    samples: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # (value, sigma) while held
    covered_at: float | None = None  # the last time a nearer road user slid over its bottom edge (_bottom_slid_over)
    # The last smoothed (speed, sigma) in m/s read with the bottom edge in the open (see _speeding).
    open_speed: tuple[float, float] | None = None


@dataclass(frozen=True)
class _Seen:
    track: Track
    user: RoadUser
    motion: Motion
    crowded: bool = False  # another road user's box covers part of this one's (see CROWDED_SHARE)
    # Not seen in this frame: hidden behind a nearer road user, at this predicted ground point
    # (detection.rules.hidden); its motion is the prediction.
    hidden_at: tuple[float, float] | None = None

    @property
    def uid(self) -> int:
        return self.user.uid

    @property
    def ground(self) -> tuple[float, float]:
        return self.hidden_at if self.hidden_at is not None else self.track.last.ground


class TrafficRules:
    def __init__(self, camera: CameraContext, cooldown_s: float = 30.0) -> None:
        self.camera = camera
        self.cooldown_s = cooldown_s
        self.settings = {rule: rule_settings(camera.rules, rule) for rule in RULE_DEFAULTS}
        self.zones = build_zones(camera.zones, camera.homography)
        self._has_lanes = any(z.kind == "lane" for z in self.zones)
        self.road_users = RoadUsers()
        self.state: dict[int, _UserState] = {}
        self._since: dict[tuple[Any, ...], float] = {}
        self._likely_since: dict[tuple[Any, ...], float] = {}  # condition key -> its best estimate met it since
        self._fire_of: dict[tuple[Any, ...], tuple[Any, ...]] = {}  # condition key -> what happened
        self._fired: dict[tuple[Any, ...], tuple[float, bool]] = {}  # what happened -> (when, cleared since)
        self._reported: list[tuple[str, int, float]] = []  # type, road user, when
        # road user -> when it was last seen, where, at what velocity (for _same_place_and_time)
        self._last_seen: dict[int, tuple[float, tuple[float, float], tuple[float, float]]] = {}
        self._moving_since: dict[tuple[Any, ...], float] = {}

    # -- the interface --------------------------------------------------------------------------
    def process(self, frame: FrameTracks) -> list[CandidateEvent]:
        homography = self.camera.homography
        if homography is None:
            return []  # every rule measures on the road plane: an uncalibrated camera proposes nothing
        seen: list[_Seen] = []
        boxes = {t.track_id: t.last.box for t in frame.tracks}
        resolved = self.road_users.resolve(frame.tracks, frame.ts, homography, frame.size)
        motions: dict[int, Motion | None] = {}  # track id -> this frame's motion (None: not measured)
        for track, user in resolved:
            motions[track.track_id] = None
            if _cut_by_border(track.last.box):
                # Half a car at the edge of the picture: its box bottom is not where it stands, and the
                # box grows as it drives in. Measure only whole boxes, and not across the cut.
                user.kinematics.interrupt()
                continue
            others = [box for tid, box in boxes.items() if tid != track.track_id]
            hidden = hidden_below_px(track.last.box, others, frame.size[1])
            motion = motions[track.track_id] = user.kinematics.update(
                track.last, homography, frame.size, hidden, upright=track.cls in UPRIGHT_CLASSES
            )
            if motion is not None and motion.settled:
                seen.append(_Seen(track, user, motion, _covered_share(track.last.box, others) > CROWDED_SHARE))
        for track, user in resolved:
            if self._bottom_slid_over(track, boxes, motions):
                self._user_state(user.uid).covered_at = frame.ts
        self._forget()
        events: list[CandidateEvent] = []
        for item in seen:
            zones = [z for z in self.zones if z.contains(item.track.last.ground)]
            if item.track.cls in VEHICLE_CLASSES:
                events += self._speeding(frame, item, zones)
                events += self._wrong_way(frame, item, zones)
                events += self._hard_braking(frame, item, zones)
                events += self._standing(frame, item, zones)
        events += self._tailgating(frame, seen, self._hidden(frame, resolved))
        events += self._near_miss(frame, seen)
        return self._same_place_and_time(frame, events, {item.uid: item for item in seen})

    @staticmethod
    def _bottom_slid_over(
        track: Track, boxes: dict[int, tuple[float, float, float, float]], motions: dict[int, Motion | None]
    ) -> bool:
        """A nearer road user covers this one's bottom edge and can make it creep the way it drives.

        Its top edge is where the covered box now ends: a road user overtaking it the same way drags
        that edge along, which reads as a speeder (noise.covering_boxes). One passing the other way
        or standing can only make the edge stand or run back, which reads slower, never faster; and
        a box merely overlapped by it keeps its bottom edge. Unmeasured motions count as the same way.
        """
        ids = [tid for tid in boxes if tid != track.track_id]
        covering = covering_boxes(track.last.box, [boxes[tid] for tid in ids])
        if not covering:
            return False
        motion = motions.get(track.track_id)
        for index in covering:
            other = motions.get(ids[index])
            if motion is None or other is None:
                return True
            (vx, vy), (ox, oy) = motion.velocity, other.velocity
            if math.hypot(ox, oy) >= SLIDING_MIN_SPEED_MS and vx * ox + vy * oy > 0:
                return True
        return False

    def _hidden(self, frame: FrameTracks, resolved: list[tuple[Track, RoadUser]]) -> list[_Seen]:
        """Vehicles hidden behind a road user in view, for the pair rules (detection.rules.hidden)."""
        homography = self.camera.homography
        if not self._enabled("tailgating") or homography is None or not resolved:
            return []
        lost = lost_vehicles(self.road_users.users.values(), {user.uid for _, user in resolved}, frame.ts)
        if not lost:
            return []  # the common frame: nothing to look for, no positions to map
        grounds = homography.to_world([track.last.ground for track, _ in resolved])
        visible = [
            (user, track.last.box, (float(g[0]), float(g[1])))
            for (track, user), g in zip(resolved, grounds, strict=True)
        ]
        return [
            _Seen(h.user.last_track, h.user, h.motion, hidden_at=h.ground)
            for h in hidden_road_users(lost, visible, frame.ts, homography)
            if h.user.last_track is not None
        ]

    def _same_place_and_time(
        self, frame: FrameTracks, events: list[CandidateEvent], seen: dict[int, _Seen]
    ) -> list[CandidateEvent]:
        """Drop an event that repeats one just reported at the same place by a road user now gone.

        The road user of the earlier event has vanished and a new one is where it would be by now (where
        it stood, or where its last velocity took it): the track broke and the fragments could not be
        joined (a long occlusion, a box that changed too much). It is one event, whatever the ids say.
        Standing still is one event at one place for the whole cooldown; moving events only within
        PLACE_AND_TIME_S.
        """
        kept = []
        for event in events:
            offender = seen.get(event.track_ids[0])
            if offender is None:
                kept.append(event)
                continue
            position = offender.motion.position
            window = self.cooldown_s if event.event_type in STANDING_RULES else PLACE_AND_TIME_S
            repeat = any(
                earlier_type == event.event_type
                and earlier_uid != offender.uid
                and earlier_uid not in seen
                and frame.ts - when <= window
                and self._near_where_it_would_be(earlier_uid, position, frame.ts)
                for earlier_type, earlier_uid, when in self._reported
            )
            if not repeat:
                kept.append(event)
                self._reported.append((event.event_type, offender.uid, frame.ts))
        for uid, item in seen.items():
            self._last_seen[uid] = (frame.ts, item.motion.position, item.motion.velocity)
        horizon = frame.ts - self.cooldown_s
        self._reported = [r for r in self._reported if r[2] >= horizon]
        reported = {r[1] for r in self._reported}
        self._last_seen = {u: m for u, m in self._last_seen.items() if u in self.road_users.users or u in reported}
        return kept

    def _near_where_it_would_be(self, uid: int, position: tuple[float, float], ts: float) -> bool:
        """Whether a road user now gone would be about at ``position`` by ``ts``, at its last velocity."""
        last = self._last_seen.get(uid)
        if last is None:
            return False
        seen_at, (x, y), (vx, vy) = last
        dt = max(ts - seen_at, 0.0)
        radius = PLACE_RADIUS_M + UNSEEN_SPEED_SHARE * math.hypot(vx, vy) * dt
        return math.dist(position, (x + vx * dt, y + vy * dt)) <= radius

    # -- bookkeeping shared by the rules --------------------------------------------------------
    def _enabled(self, rule: str) -> bool:
        return bool(self.settings[rule]["enabled"])

    def _forget(self) -> None:
        """Drop what is kept about road users that are gone (their conditions cannot clear any more)."""
        alive = self.road_users.users
        for uid in [u for u in self.state if u not in alive]:
            del self.state[uid]
        for key in [
            k
            for k in self._since.keys() | self._likely_since.keys()
            if not all(u in alive for u in k[1:] if isinstance(u, int))
        ]:
            for held in (self._since, self._likely_since, self._fire_of, self._moving_since):
                held.pop(key, None)

    def _user_state(self, uid: int) -> _UserState:
        return self.state.setdefault(uid, _UserState())

    def _hold(
        self,
        key: tuple[Any, ...],
        ts: float,
        met: bool | None,
        min_duration_s: float,
        fire_key: tuple[Any, ...] | None = None,
        likely: bool | None = None,
    ) -> float | None:
        """Track how long a condition holds; when it should fire now, return when its definition was met.

        ``met`` None: the measurement cannot tell right now (too uncertain); the condition neither
        clears nor fires, and the time it has held so far still counts.

        ``fire_key`` (default: the condition's key) is what happened: a second condition with the same
        fire key inside the cooldown is the same event (a near miss of one vehicle with a cyclist whose
        track broke in two), so it does not fire again.

        ``likely``: whether the condition's best estimate (not its sure bound) meets it. When given, the
        minimum duration counts from when the best estimate first met it without a break, and the
        sure condition itself needs to have held only SURE_CONFIRM_S (or the minimum, if shorter).
        """
        fire_key = fire_key or key
        if likely is not None:
            if likely or met:
                self._likely_since.setdefault(key, ts)
            elif met is not None:
                self._likely_since.pop(key, None)
        if met is None:
            return None
        if not met:
            self._since.pop(key, None)
            self._fire_of.pop(key, None)
            if fire_key in self._fired and fire_key not in self._fire_of.values():
                self._fired[fire_key] = (self._fired[fire_key][0], True)
            return None
        since = self._since.setdefault(key, ts)
        self._fire_of[key] = fire_key
        start = since
        confirm_s = min_duration_s
        if likely is not None:
            start = min(since, self._likely_since.get(key, since))
            confirm_s = min(SURE_CONFIRM_S, min_duration_s)
        if ts - start + 1e-6 < min_duration_s or ts - since + 1e-6 < confirm_s:
            return None
        fired = self._fired.get(fire_key)
        if fired is not None and (not fired[1] or ts - fired[0] < self.cooldown_s):
            return None
        self._fired[fire_key] = (ts, False)
        return start + min_duration_s

    def _holding(self, key: tuple[Any, ...]) -> bool:
        return key in self._since

    def _event(
        self,
        frame: FrameTracks,
        rule: str,
        who: tuple[_Seen, ...],
        started_at: float,
        measurements: dict[str, Any],
        severity: int | None = None,
    ) -> CandidateEvent:
        group_box = union_box(s.track.last.box for s in who)
        return CandidateEvent(
            camera_id=self.camera.camera_id,
            event_type=rule,
            track_ids=tuple(s.uid for s in who),  # road users: a re-joined fragment keeps its first id
            started_at=round(started_at, 3),
            triggered_at=frame.ts,
            measurements={k: round(v, 3) if isinstance(v, float) else v for k, v in measurements.items()},
            severity=severity or SEVERITY[rule],
            group_box=group_box,
        )

    def _off_the_lanes(self, zones: list[Zone]) -> bool:
        """Off the lanes the operator drew (when there are any): a car park, or the road beyond the
        calibrated stretch, where the calibration only extrapolates and a far box's jitter reads as
        violent changes of speed. Driving is judged on the drawn road only."""
        return self._has_lanes and not any(z.kind == "lane" for z in zones)

    def _speed_limit(self, zones: list[Zone]) -> float:
        limits = [z.speed_limit_kmh for z in zones if z.kind == "lane" and z.speed_limit_kmh]
        return float(min(limits)) if limits else self.camera.speed_limit_kmh

    # -- per-road-user rules --------------------------------------------------------------------
    def _speeding(self, frame: FrameTracks, item: _Seen, zones: list[Zone]) -> list[CandidateEvent]:
        lagged = item.motion.lagged
        if not self._enabled("speeding") or lagged is None or self._off_the_lanes(zones):
            return []
        cfg = self.settings["speeding"]
        limit = self._speed_limit(zones)
        threshold = limit * cfg["over_limit_factor"]
        key = ("speeding", item.uid)
        # The smoothed speed a moment ago (the measurements after it halve its noise), on its own
        # clock: speeding when even its lower bound is over the threshold for the minimum time.
        lower = max(0.0, lagged.speed_ms - K_SPEED * lagged.speed_sigma) * 3.6
        bar = threshold * HYSTERESIS if self._holding(key) else threshold
        # And known well enough to be evidence: a far or jumping track whose speed is this uncertain
        # can have its lower bound over the bar and still be a measurement error, not a speeder.
        met = lower > bar and lagged.speed_sigma <= SPEED_EVIDENCE_REL_SIGMA * lagged.speed_ms
        if met and item.user.kinematics.max_speed_rise(lagged.ts - BRAKING_LOOKBACK_S, lagged.ts, K_SPEED) > (
            MAX_PLAUSIBLE_ACCEL
        ):
            # Nor a speed that has just risen faster than any car gains speed: a box whose bottom slides
            # up behind a nearer road user (or over a neighbour) reads as sudden speed, not a speeder.
            met = False
        state = self._user_state(item.uid)
        covered = state.covered_at is not None and state.covered_at >= lagged.ts - COVERED_WINDOW_S
        if not covered:
            state.open_speed = (lagged.speed_ms, lagged.speed_sigma)
        elif met and not _same_speed(state.open_speed, lagged.speed_ms, lagged.speed_sigma):
            # Nor a speed read while a nearer road user covered its bottom edge: the edge creeps up the
            # picture as the other slides over it (the condition neither clears nor fires meanwhile),
            # unless the speed is still the one read in the open before (a box merely overlapped by a
            # car passing in the other lane, its bottom edge intact: a speeder stays a speeder).
            met = None
        samples = state.samples.setdefault("speeding", [])
        if met is False:
            samples.clear()
        elif met:
            samples.append((lagged.speed_ms * 3.6, lagged.speed_sigma * 3.6))
        likely = lagged.speed_ms * 3.6 > bar
        start = self._hold(key, lagged.ts, met, cfg["min_duration_s"], likely=likely)
        if start is None:
            return []
        # The latest smoothed estimate, not a mean over the hold: each estimate already holds every box
        # before it, and averaging them weighs again the first ones, made while the filter was still
        # settling (a truck entering near the camera read 57 km/h, true 47, with a sigma of 1.7).
        speed, sigma = lagged.speed_ms * 3.6, lagged.speed_sigma * 3.6
        severity = 3 if speed > limit * 1.3 else 2
        return [
            self._event(
                frame,
                "speeding",
                (item,),
                start,
                {
                    "speed_kmh": speed,
                    "speed_kmh_sigma": sigma,
                    "speed_kmh_lo": lower,
                    "max_speed_kmh": max(s for s, _ in samples),
                    "limit_kmh": limit,
                    "threshold_kmh": threshold,
                    "class": item.track.cls,
                },
                severity,
            )
        ]

    def _wrong_way(self, frame: FrameTracks, item: _Seen, zones: list[Zone]) -> list[CandidateEvent]:
        if not self._enabled("wrong_way"):
            return []
        state = self._user_state(item.uid)
        motion = item.motion
        events = []
        for zone in zones:
            if zone.kind != "lane" or zone.flow is None:
                continue
            sigma_now = motion.position_sigma_along(zone.flow)
            # The distance is measured within one run of measurements: a box that jumped to another road
            # user (the filter restarted) starts the measurement again.
            entry, sigma_entry, run = state.lane_entry.get(zone.name, (motion.position, sigma_now, -1.0))
            if run != motion.continuous_since:
                entry, sigma_entry, run = motion.position, sigma_now, motion.continuous_since
                state.lane_entry[zone.name] = (entry, sigma_entry, run)
            against = -((motion.position[0] - entry[0]) * zone.flow[0] + (motion.position[1] - entry[1]) * zone.flow[1])
            sigma = math.hypot(sigma_now, sigma_entry)
            # And it must be driving against the flow now, surely: its velocity along the flow is negative
            # even at its upper bound.
            along = motion.velocity[0] * zone.flow[0] + motion.velocity[1] * zone.flow[1]
            # And it must surely be in this lane, not in the next one with the other flow (GROUND_LATERAL_M).
            across = motion.position_sigma_along((-zone.flow[1], zone.flow[0]))
            key = ("wrong_way", item.uid, zone.name)
            met = (
                against - K_WRONG_WAY * sigma >= self.settings["wrong_way"]["min_distance_m"]
                and along + K_SPEED * motion.velocity_sigma < 0
                and motion.speed_sigma <= WRONG_WAY_REL_SIGMA * motion.speed_ms
                and zone.margin_m(motion.position) > GROUND_LATERAL_M + K_WRONG_WAY * across
            )
            start = self._hold(key, frame.ts, met, 0.0)
            if start is not None:
                events.append(
                    self._event(
                        frame,
                        "wrong_way",
                        (item,),
                        start,
                        {
                            "distance_against_flow_m": against,
                            "distance_against_flow_m_sigma": sigma,
                            "lane": zone.name,
                            "lane_margin_m": zone.margin_m(motion.position),
                            "lane_margin_m_sigma": across,
                            "speed_kmh": motion.speed_kmh,
                            "speed_kmh_sigma": motion.speed_sigma * 3.6,
                            "class": item.track.cls,
                        },
                    )
                )
        for name in [n for n in state.lane_entry if n not in {z.name for z in zones}]:
            del state.lane_entry[name]  # left the lane: a new entry starts a new measurement
        return events

    def _hard_braking(self, frame: FrameTracks, item: _Seen, zones: list[Zone]) -> list[CandidateEvent]:
        lagged = item.motion.lagged
        if not self._enabled("hard_braking") or lagged is None or self._off_the_lanes(zones):
            return []
        cfg = self.settings["hard_braking"]
        kin = item.user.kinematics
        # Keyed by the measurement run too: a condition never holds across an occlusion or a re-join.
        key = ("hard_braking", item.uid, item.motion.continuous_since)
        threshold = cfg["deceleration_mps2"]
        # The speed lost over a short window, between two smoothed speeds: a second derivative of box
        # positions is too noisy to decide on, a sustained loss of speed is not. A short window
        # decides early on a near, sharp track; a longer one lets a far, noisier one decide at all.
        best: tuple[float, float, float, float] | None = None  # (lower bound, deceleration, sigma, span)
        for window in BRAKING_WINDOWS_S:
            reference = kin.smoothed_at(lagged.ts - window)
            if reference is None or lagged.ts - reference[0] < window * 0.8:
                continue
            span = lagged.ts - reference[0]
            decel = (reference[1] - lagged.speed_ms) / span
            sigma = math.hypot(reference[2], lagged.speed_sigma) / span
            if best is None or decel - K_BRAKE * sigma > best[0]:
                best = (decel - K_BRAKE * sigma, decel, sigma, span)
        if best is None:
            return []
        decel_lo, decel, sigma, span = best
        if kin.occluded_at is not None and kin.occluded_at >= lagged.ts - span - BRAKING_MIN_S:
            return []  # its ground point was hidden behind a nearer road user: no braking read across that
        # "From a reliably measured speed": its one-sigma lower bound, within this run of measurements.
        from_speed_lo = kin.max_smoothed_speed_lo(lagged.ts - BRAKING_LOOKBACK_S, lagged.ts, 1.0)
        met = decel_lo > threshold and decel <= MAX_PLAUSIBLE_DECEL and from_speed_lo * 3.6 >= cfg["min_speed_kmh"]
        if met and kin.max_speed_rise(lagged.ts - BRAKING_LOOKBACK_S, lagged.ts, K_BRAKE) > MAX_PLAUSIBLE_ACCEL:
            met = False
        start = self._hold(key, lagged.ts, met, BRAKING_MIN_S, fire_key=("hard_braking", item.uid))
        if start is None:
            return []
        from_speed = kin.max_smoothed_speed_lo(lagged.ts - BRAKING_LOOKBACK_S, lagged.ts, 0.0)
        return [
            self._event(
                frame,
                "hard_braking",
                (item,),
                start - BRAKING_MIN_S - span,  # when the speed began to drop
                {
                    "deceleration_mps2": decel,
                    "deceleration_mps2_sigma": sigma,
                    "deceleration_mps2_lo": decel_lo,
                    "accel_smoothed_mps2": lagged.accel_ms2,
                    "accel_smoothed_mps2_sigma": lagged.accel_sigma,
                    "from_speed_kmh": from_speed * 3.6,
                    "from_speed_kmh_lo": from_speed_lo * 3.6,
                    "speed_kmh": lagged.speed_ms * 3.6,
                    "speed_kmh_sigma": lagged.speed_sigma * 3.6,
                    "class": item.track.cls,
                },
            )
        ]

    def _standing(self, frame: FrameTracks, item: _Seen, zones: list[Zone]) -> list[CandidateEvent]:
        """stalled_vehicle (in a lane) and crosswalk_stop (on a crosswalk): standing still for a while."""
        events = []
        motion = item.motion
        item.user.stopped = False
        for rule, kind in (("stalled_vehicle", "lane"), ("crosswalk_stop", "crosswalk")):
            if not self._enabled(rule):
                continue
            cfg = self.settings[rule]
            inside = [z for z in zones if z.kind == kind]
            # Standing: the smoothed speed (a moment ago, with the measurements after it) is under the
            # limit, and known well enough to tell standing from crawling. The stop is timed on the
            # smoothed estimate's own clock. Once it stands, a speed over the limit that may be jitter
            # (its lower bound is not over it) leaves the stop undecided: the stop goes on but cannot
            # fire on such a frame, so a far, jittery stall is not cut in two and a stop just under the
            # minimum time is not lengthened either. It ends when the speed is surely over the limit
            # for STOP_DEBOUNCE_S. Right after a break (a re-joined fragment) nothing is known yet.
            key = (rule, item.uid)
            lagged = motion.lagged
            when = lagged.ts if lagged is not None else frame.ts
            still: bool | None = None
            if lagged is not None and lagged.speed_sigma < STILL_MAX_SIGMA:
                limit = cfg["max_speed_kmh"] / 3.6
                if lagged.speed_ms < limit or not self._holding(key):
                    still = lagged.speed_ms < limit
                    self._moving_since.pop(key, None)
                elif item.crowded:
                    # Traffic passing by (or in front of) a standing car merges with its box and
                    # drags its ground point along: whether it moved off shows once it is clear again.
                    self._moving_since.pop(key, None)
                elif lagged.speed_ms - K_STILL * lagged.speed_sigma > limit:
                    moving_for = when - self._moving_since.setdefault(key, when)
                    still = None if moving_for < STOP_DEBOUNCE_S else False
            # The stop's start and end are known to a few frames only (the smoother follows a car that
            # pulls away with a little delay): decide on the lower bound of its duration.
            start = self._hold(key, when, still if inside else False, cfg["min_duration_s"] + STOP_TIMING_MARGIN_S)
            item.user.stopped = item.user.stopped or self._holding(key)
            if start is not None:
                events.append(
                    self._event(
                        frame,
                        rule,
                        (item,),
                        start - STOP_TIMING_MARGIN_S,
                        {
                            "stopped_s": when - start + cfg["min_duration_s"] + STOP_TIMING_MARGIN_S,
                            "stopped_s_sigma": STOP_TIMING_MARGIN_S / K_SPEED,
                            "zone": inside[0].name,
                            "speed_kmh": motion.speed_kmh,
                            "speed_kmh_sigma": motion.speed_sigma * 3.6,
                            "class": item.track.cls,
                        },
                    )
                )
        return events

    # -- pair rules -----------------------------------------------------------------------------
    def _tailgating(self, frame: FrameTracks, seen: list[_Seen], hidden: list[_Seen]) -> list[CandidateEvent]:
        """A follower too close behind its leader. Seen along the lane, the nearer of the two often hides
        the other; a pair is still measured while one of them (not both) is hidden, on its prediction."""
        if not self._enabled("tailgating"):
            return []
        cfg = self.settings["tailgating"]
        lanes = [z for z in self.zones if z.kind == "lane"]
        vehicles = [
            s
            for s in [*seen, *hidden]
            if s.track.cls in VEHICLE_CLASSES and s.track.share(VEHICLE_CLASSES) >= SURE_VEHICLE_SHARE
        ]
        events = []
        for follower in vehicles:
            fm = follower.motion
            if fm.speed_kmh <= cfg["min_speed_kmh"] or fm.direction is None:
                continue
            lane = next((z for z in lanes if z.contains(follower.ground)), None)
            if lanes and lane is None:
                # "In the same lane": where the camera has lanes drawn, a pair beyond them (often the
                # road past the calibrated stretch, seen far and small) is not judged.
                continue
            direction = lane.flow if lane is not None and lane.flow is not None else fm.direction
            best: tuple[float, _Seen, float] | None = None
            for leader in vehicles:
                if leader.uid == follower.uid or (leader.hidden_at is not None and follower.hidden_at is not None):
                    continue
                if lane is not None and not lane.contains(leader.ground):
                    continue
                lm = leader.motion
                dx, dy = lm.position[0] - fm.position[0], lm.position[1] - fm.position[1]
                gap = dx * direction[0] + dy * direction[1]
                lateral = abs(dx * direction[1] - dy * direction[0])
                if gap <= 0 or lateral > 2.5:
                    continue
                if same_road_user(leader.user.cls, lm.position, follower.user.cls, fm.position):
                    continue  # nearer than a car's length: the follower boxed twice (a truck as a truck and a car)
                if best is None or gap < best[0]:
                    sigma_gap = math.hypot(fm.position_sigma_along(direction), lm.position_sigma_along(direction))
                    best = (gap, leader, sigma_gap)
            key = ("tailgating", follower.uid)
            holding = self._holding(key)
            threshold = cfg["headway_s"] / (HYSTERESIS if holding else 1.0)
            headway = headway_hi = math.inf
            if best is not None:
                headway = best[0] / fm.speed_ms
                # The upper bound: the gap could be longer and the follower slower than measured.
                headway_hi = (best[0] + K_HEADWAY * best[2]) / max(fm.speed_lo(K_HEADWAY), 0.1)
            met = headway_hi < threshold
            samples = self._user_state(follower.uid).samples.setdefault("tailgating", [])
            if met:
                samples.append((headway, headway_hi - headway))
            else:
                samples.clear()
            start = self._hold(key, frame.ts, met, cfg["min_duration_s"], likely=headway < threshold)
            if start is not None and best is not None:
                value, sigma = _weighted_mean(samples)
                events.append(
                    self._event(
                        frame,
                        "tailgating",
                        (follower, best[1]),
                        start,
                        {
                            "headway_s": value,
                            "headway_s_sigma": sigma,
                            "min_headway_s": min(v for v, _ in samples),
                            "gap_m": best[0],
                            "gap_m_sigma": best[2],
                            # Which of the two was hidden behind a nearer road user (its position predicted).
                            "hidden": next(
                                (
                                    r
                                    for r, s in (("follower", follower), ("leader", best[1]))
                                    if s.hidden_at is not None
                                ),
                                None,
                            ),
                            "speed_kmh": fm.speed_kmh,
                            "speed_kmh_sigma": fm.speed_sigma * 3.6,
                            "class": follower.track.cls,
                        },
                    )
                )
        return events

    def _near_miss(self, frame: FrameTracks, seen: list[_Seen]) -> list[CandidateEvent]:
        if not self._enabled("near_miss"):
            return []
        cfg = self.settings["near_miss"]
        vehicles = [s for s in seen if s.track.cls in FOUR_WHEELED_CLASSES]
        riders = [s for s in seen if s.track.cls in {"bicycle", "motorcycle"}]
        # A cyclist is detected as a person on a bicycle: count the pair once, as the bicycle.
        persons = [s for s in seen if s.track.cls == "person" and not any(_rides(s.track, r.track) for r in riders)]
        road_users = [s for s in riders + persons if _plausibly_vulnerable(s)]
        radius = cfg["distance_m"]
        events = []
        for vehicle in vehicles:
            vm = vehicle.motion
            if vm.speed_lo(K_DISTANCE) * 3.6 <= cfg["min_speed_kmh"]:
                continue
            for user in road_users:
                if _seen_over(user.track, vehicle.track):
                    continue
                um = user.motion
                dx, dy = um.position[0] - vm.position[0], um.position[1] - vm.position[1]
                dvx, dvy = um.velocity[0] - vm.velocity[0], um.velocity[1] - vm.velocity[1]
                distance = math.hypot(dx, dy)
                ttc = _time_to_within(dx, dy, dvx, dvy, radius)
                # Decide on the sure version: the two come within the radius even if their closest
                # approach is off by K sigma. How close they come depends on the errors across their
                # relative motion (errors along it change when they meet, not how near): positions and
                # velocities both, the latter growing with the look-ahead.
                sigma_now = _distance_sigma(vm, um, (dx, dy))
                across = _unit(-dvy, dvx) or _unit(dx, dy)
                horizon = min(ttc if ttc is not None else cfg["ttc_s"], cfg["ttc_s"])
                sigma = (
                    math.hypot(
                        _distance_sigma(vm, um, across),
                        horizon * math.hypot(vm.velocity_sigma_along(across), um.velocity_sigma_along(across)),
                    )
                    if across is not None
                    else sigma_now
                )
                sure_radius = radius - K_MISS * sigma
                close = distance + K_DISTANCE * sigma_now < radius
                sure_ttc = _time_to_within(dx, dy, dvx, dvy, sure_radius) if sure_radius > 0 else None
                met = close or (sure_ttc is not None and sure_ttc < cfg["ttc_s"])
                # One near miss per vehicle and cooldown: the vulnerable road user's track may break in two.
                start = self._hold(
                    ("near_miss", vehicle.uid, user.uid),
                    frame.ts,
                    met,
                    NEAR_MISS_CONFIRM_S,
                    fire_key=("near_miss", vehicle.uid),
                )
                if start is not None:
                    severity = 4 if close or (ttc is not None and ttc < cfg["ttc_s"] / 2) else 3
                    events.append(
                        self._event(
                            frame,
                            "near_miss",
                            (vehicle, user),
                            start - NEAR_MISS_CONFIRM_S,
                            {
                                "distance_m": distance,
                                "distance_m_sigma": sigma_now,
                                "ttc_s": ttc,
                                "ttc_s_sure": sure_ttc,
                                "miss_sigma_m": sigma,
                                "speed_kmh": vm.speed_kmh,
                                "speed_kmh_sigma": vm.speed_sigma * 3.6,
                                "class": vehicle.track.cls,
                                "other_class": user.track.cls,
                            },
                            severity,
                        )
                    )
        return events


def _plausibly_vulnerable(item: _Seen) -> bool:
    """Whether a person, cyclist or motorcyclist track is one (PERSON_MAX_HEIGHT_M, PEDAL_MAX_SPEED_MS)."""
    if item.track.cls == "person" and (item.user.kinematics.size_m or 0.0) > PERSON_MAX_HEIGHT_M:
        return False
    return not (item.track.cls in PEDAL_CLASSES and item.motion.speed_lo(K_SPEED) > PEDAL_MAX_SPEED_MS)


def _same_speed(before: tuple[float, float] | None, speed: float, sigma: float) -> bool:
    """Whether a speed (m/s, with its sigma) is the one read before, within K_SPEED of their combined noise."""
    if before is None:
        return False
    return abs(speed - before[0]) <= K_SPEED * math.hypot(sigma, before[1])


def _weighted_mean(samples: list[tuple[float, float]]) -> tuple[float, float]:
    """Inverse-variance weighted mean of (value, sigma) samples and the sigma of a single sample at the end.

    Successive filter estimates are strongly correlated, so the mean's own sigma would be far too
    small; the latest sample's sigma is the honest one.
    """
    weights = [1.0 / max(s, 1e-6) ** 2 for _, s in samples]
    mean = sum(w * v for w, (v, _) in zip(weights, samples, strict=True)) / sum(weights)
    return mean, samples[-1][1]


def _distance_sigma(a: Motion, b: Motion, delta: tuple[float, float]) -> float:
    norm = math.hypot(*delta)
    if norm < 1e-6:
        return 0.0
    d = (delta[0] / norm, delta[1] / norm)
    return math.hypot(a.position_sigma_along(d), b.position_sigma_along(d))


def _unit(x: float, y: float) -> tuple[float, float] | None:
    norm = math.hypot(x, y)
    return (x / norm, y / norm) if norm > 1e-6 else None


def _covered_share(box: tuple[float, float, float, float], others: list[tuple[float, float, float, float]]) -> float:
    """The largest share of the box's area that one other box covers."""
    return max((intersection(box, other) for other in others), default=0.0) / max(area(box), 1e-12)


def _cut_by_border(box: tuple[float, float, float, float], margin: float = 0.01) -> bool:
    # YOLO boxes a road user cut by the frame's side 2-3 model pixels short of it (5-7 px of a 720-px
    # frame): a margin of 0.4 % took such a truck's stuck bottom edge for a ground point (dev3-006).
    x1, y1, x2, y2 = box
    return x1 <= margin or y1 <= margin or x2 >= 1 - margin or y2 >= 1 - margin


def _rides(person: Track, rider: Track) -> bool:
    """The person's feet are within the bicycle's (or motorcycle's) box: they are its rider."""
    x, y = person.last.ground
    x1, y1, x2, y2 = rider.last.box
    mx, my = (x2 - x1) * 0.25, (y2 - y1) * 0.25
    return x1 - mx <= x <= x2 + mx and y1 - my <= y <= y2 + my


def _seen_over(user: Track, vehicle: Track) -> bool:
    """The user's box lies within the vehicle's and does not reach below it: its ground point is where
    the vehicle's box ends, not where it stands (someone seen over or through a car, a driver's
    head), so its distance from the vehicle cannot be measured."""
    inside = intersection(user.last.box, vehicle.last.box) / max(area(user.last.box), 1e-9)
    _, vy1, _, vy2 = vehicle.last.box
    return inside >= 0.8 and user.last.box[3] <= vy2 + 0.02 * (vy2 - vy1)


def _time_to_within(px: float, py: float, vx: float, vy: float, radius: float) -> float | None:
    """Smallest t >= 0 with |p + v t| <= radius, at constant velocities; None if it never happens."""
    a = vx * vx + vy * vy
    b = 2 * (px * vx + py * vy)
    c = px * px + py * py - radius * radius
    if c <= 0:
        return 0.0
    if a < 1e-9:
        return None
    disc = b * b - 4 * a * c
    if disc < 0:
        return None
    t = (-b - math.sqrt(disc)) / (2 * a)
    return t if t >= 0 else None
