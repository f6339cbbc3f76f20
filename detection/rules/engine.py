"""The dangerous-driving rules of ../shared/SCENARIOS.md, on the tracks of one camera.

Each rule watches a condition per track (or per pair of tracks), measures how long it has held, and
proposes a candidate event once the definition is met, minimum duration included, with the values
that justify it. A (rule, track) pair fires once; it may fire again only after the condition has
cleared and the cooldown has passed. Every threshold comes from the camera's settings (defaults in
cameras.config.RULE_DEFAULTS), the same settings an operator edits in the admin.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from cameras.config import RULE_DEFAULTS, rule_settings
from detection.events import CameraContext, CandidateEvent, FrameTracks
from detection.rules.kinematics import KinematicState, Motion
from detection.rules.zones import Zone, build_zones
from detection.tracking import Track

HEAVY_VEHICLES = frozenset({"car", "bus", "truck"})
VULNERABLE = frozenset({"person", "bicycle", "motorcycle"})
MOTOR_VEHICLES = frozenset({"car", "bus", "truck", "motorcycle"})
HYSTERESIS = 0.97  # a condition that holds stays held until the value falls 3 % back from its threshold
FORGET_S = 5.0  # per-track state of a track unseen this long is dropped
BRAKING_CONFIRM_S = 0.1  # two or three frames in a row, so a single jittery estimate cannot fire
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
class _TrackState:
    kinematics: KinematicState = field(default_factory=KinematicState)
    lane_entry: dict[str, tuple[float, float]] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)  # values measured while a condition holds
    last_seen: float = 0.0


class TrafficRules:
    def __init__(self, camera: CameraContext, cooldown_s: float = 30.0) -> None:
        self.camera = camera
        self.cooldown_s = cooldown_s
        self.settings = {rule: rule_settings(camera.rules, rule) for rule in RULE_DEFAULTS}
        self.zones = build_zones(camera.zones, camera.homography)
        self.tracks: dict[int, _TrackState] = {}
        self._since: dict[tuple[Any, ...], float] = {}
        self._fired: dict[tuple[Any, ...], tuple[float, bool]] = {}  # key -> (when, cleared since)

    # -- the interface --------------------------------------------------------------------------
    def process(self, frame: FrameTracks) -> list[CandidateEvent]:
        homography = self.camera.homography
        if homography is None:
            return []  # every rule measures on the road plane: an uncalibrated camera proposes nothing
        moving: dict[int, tuple[Track, Motion]] = {}
        for track in frame.tracks:
            state = self.tracks.setdefault(track.track_id, _TrackState())
            state.last_seen = frame.ts
            if _cut_by_border(track.last.box):
                # Half a car at the edge of the picture: its box bottom is not where it stands, and the
                # box grows as it drives in. Measure only from whole boxes, from scratch.
                state.kinematics = KinematicState()
                continue
            motion = state.kinematics.update(track, homography)
            if motion is not None:
                moving[track.track_id] = (track, motion)
        for tid in [t for t, s in self.tracks.items() if frame.ts - s.last_seen > FORGET_S]:
            del self.tracks[tid]
        events: list[CandidateEvent] = []
        for track, motion in moving.values():
            zones = [z for z in self.zones if z.contains(track.last.ground)]
            if track.cls in MOTOR_VEHICLES:
                events += self._speeding(frame, track, motion, zones)
                events += self._wrong_way(frame, track, motion, zones)
                events += self._hard_braking(frame, track, motion)
                events += self._standing(frame, track, motion, zones)
        events += self._tailgating(frame, moving)
        events += self._near_miss(frame, moving)
        return events

    # -- bookkeeping shared by the rules --------------------------------------------------------
    def _enabled(self, rule: str) -> bool:
        return bool(self.settings[rule]["enabled"])

    def _hold(self, key: tuple[Any, ...], ts: float, met: bool, min_duration_s: float) -> float | None:
        """Track how long a condition holds; when it should fire now, return when its definition was met."""
        if not met:
            self._since.pop(key, None)
            if key in self._fired:
                self._fired[key] = (self._fired[key][0], True)
            return None
        since = self._since.setdefault(key, ts)
        if ts - since + 1e-6 < min_duration_s:
            return None
        fired = self._fired.get(key)
        if fired is not None and (not fired[1] or ts - fired[0] < self.cooldown_s):
            return None
        self._fired[key] = (ts, False)
        return since + min_duration_s

    def _holding(self, key: tuple[Any, ...]) -> bool:
        return key in self._since

    def _event(
        self,
        frame: FrameTracks,
        rule: str,
        track_ids: tuple[int, ...],
        started_at: float,
        measurements: dict[str, Any],
        severity: int | None = None,
    ) -> CandidateEvent:
        boxes = [t.last.box for t in frame.tracks if t.track_id in track_ids]
        group_box = (
            (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
            if boxes
            else None
        )
        return CandidateEvent(
            camera_id=self.camera.camera_id,
            event_type=rule,
            track_ids=track_ids,
            started_at=round(started_at, 3),
            triggered_at=frame.ts,
            measurements={k: round(v, 3) if isinstance(v, float) else v for k, v in measurements.items()},
            severity=severity or SEVERITY[rule],
            group_box=group_box,
        )

    def _speed_limit(self, zones: list[Zone]) -> float:
        limits = [z.speed_limit_kmh for z in zones if z.kind == "lane" and z.speed_limit_kmh]
        return float(min(limits)) if limits else self.camera.speed_limit_kmh

    # -- per-track rules ------------------------------------------------------------------------
    def _speeding(self, frame: FrameTracks, track: Track, motion: Motion, zones: list[Zone]) -> list[CandidateEvent]:
        if not self._enabled("speeding"):
            return []
        cfg = self.settings["speeding"]
        limit = self._speed_limit(zones)
        threshold = limit * cfg["over_limit_factor"]
        key = ("speeding", track.track_id)
        met = motion.speed_kmh > (threshold * HYSTERESIS if self._holding(key) else threshold)
        samples = self.tracks[track.track_id].samples.setdefault("speeding", [])
        if not met:
            samples.clear()
        else:
            samples.append(motion.speed_kmh)
        start = self._hold(key, frame.ts, met, cfg["min_duration_s"])
        if start is None:
            return []
        speed = statistics.median(samples)
        severity = 3 if speed > limit * 1.3 else 2
        return [
            self._event(
                frame,
                "speeding",
                (track.track_id,),
                start,
                {
                    "speed_kmh": speed,
                    "max_speed_kmh": max(samples),
                    "limit_kmh": limit,
                    "threshold_kmh": threshold,
                    "class": track.cls,
                },
                severity,
            )
        ]

    def _wrong_way(self, frame: FrameTracks, track: Track, motion: Motion, zones: list[Zone]) -> list[CandidateEvent]:
        if not self._enabled("wrong_way"):
            return []
        state = self.tracks[track.track_id]
        events = []
        for zone in zones:
            if zone.kind != "lane" or zone.flow is None:
                continue
            entry = state.lane_entry.setdefault(zone.name, motion.position)
            against = -((motion.position[0] - entry[0]) * zone.flow[0] + (motion.position[1] - entry[1]) * zone.flow[1])
            key = ("wrong_way", track.track_id, zone.name)
            start = self._hold(key, frame.ts, against >= self.settings["wrong_way"]["min_distance_m"], 0.0)
            if start is not None:
                events.append(
                    self._event(
                        frame,
                        "wrong_way",
                        (track.track_id,),
                        start,
                        {
                            "distance_against_flow_m": against,
                            "lane": zone.name,
                            "speed_kmh": motion.speed_kmh,
                            "class": track.cls,
                        },
                    )
                )
        for name in [n for n in state.lane_entry if n not in {z.name for z in zones}]:
            del state.lane_entry[name]  # left the lane: a new entry starts a new measurement
        return events

    def _hard_braking(self, frame: FrameTracks, track: Track, motion: Motion) -> list[CandidateEvent]:
        if not self._enabled("hard_braking") or motion.accel_ms2 is None:
            return []
        cfg = self.settings["hard_braking"]
        kin = self.tracks[track.track_id].kinematics
        from_speed = kin.max_speed_since(frame.ts - 1.5) * 3.6
        key = ("hard_braking", track.track_id)
        threshold = cfg["deceleration_mps2"] * (HYSTERESIS if self._holding(key) else 1.0)
        # A second derivative of box positions is noisy: besides the fitted deceleration, the speed
        # must really have dropped (by what a quarter second at the threshold takes off).
        lost = from_speed / 3.6 - motion.speed_ms
        met = (
            -motion.accel_ms2 > threshold
            and from_speed >= cfg["min_speed_kmh"]
            and lost >= 0.25 * cfg["deceleration_mps2"]
        )
        start = self._hold(key, frame.ts, met, BRAKING_CONFIRM_S)
        if start is None:
            return []
        return [
            self._event(
                frame,
                "hard_braking",
                (track.track_id,),
                start - BRAKING_CONFIRM_S,
                {
                    "deceleration_mps2": -motion.accel_ms2,
                    "from_speed_kmh": from_speed,
                    "speed_kmh": motion.speed_kmh,
                    "class": track.cls,
                },
            )
        ]

    def _standing(self, frame: FrameTracks, track: Track, motion: Motion, zones: list[Zone]) -> list[CandidateEvent]:
        """stalled_vehicle (in a lane) and crosswalk_stop (on a crosswalk): standing still for a while."""
        events = []
        for rule, kind in (("stalled_vehicle", "lane"), ("crosswalk_stop", "crosswalk")):
            if not self._enabled(rule):
                continue
            cfg = self.settings[rule]
            inside = [z for z in zones if z.kind == kind]
            still = motion.still_speed_ms is not None and motion.still_speed_ms * 3.6 < cfg["max_speed_kmh"]
            key = (rule, track.track_id)
            start = self._hold(key, frame.ts, bool(inside) and still, cfg["min_duration_s"])
            if start is not None:
                events.append(
                    self._event(
                        frame,
                        rule,
                        (track.track_id,),
                        start,
                        {
                            "stopped_s": frame.ts - start + cfg["min_duration_s"],
                            "zone": inside[0].name,
                            "class": track.cls,
                        },
                    )
                )
        return events

    # -- pair rules -----------------------------------------------------------------------------
    def _tailgating(self, frame: FrameTracks, moving: dict[int, tuple[Track, Motion]]) -> list[CandidateEvent]:
        if not self._enabled("tailgating"):
            return []
        cfg = self.settings["tailgating"]
        lanes = [z for z in self.zones if z.kind == "lane"]
        vehicles = [(t, m) for t, m in moving.values() if t.cls in MOTOR_VEHICLES]
        events = []
        for follower, fm in vehicles:
            if fm.speed_kmh <= cfg["min_speed_kmh"] or fm.direction is None:
                continue
            lane = next((z for z in lanes if z.contains(follower.last.ground)), None)
            direction = lane.flow if lane is not None and lane.flow is not None else fm.direction
            best: tuple[float, Track, float] | None = None
            for leader, lm in vehicles:
                if leader.track_id == follower.track_id:
                    continue
                if lane is not None and not lane.contains(leader.last.ground):
                    continue
                dx, dy = lm.position[0] - fm.position[0], lm.position[1] - fm.position[1]
                gap = dx * direction[0] + dy * direction[1]
                lateral = abs(dx * direction[1] - dy * direction[0])
                if gap <= 0 or lateral > 2.5:
                    continue
                if best is None or gap < best[0]:
                    best = (gap, leader, gap / fm.speed_ms)
            key = ("tailgating", follower.track_id)
            holding = self._holding(key)
            threshold = cfg["headway_s"] / (HYSTERESIS if holding else 1.0)
            met = best is not None and best[2] < threshold
            samples = self.tracks[follower.track_id].samples.setdefault("tailgating", [])
            if met and best is not None:
                samples.append(best[2])
            else:
                samples.clear()
            start = self._hold(key, frame.ts, met, cfg["min_duration_s"])
            if start is not None and best is not None:
                events.append(
                    self._event(
                        frame,
                        "tailgating",
                        (follower.track_id, best[1].track_id),
                        start,
                        {
                            "headway_s": statistics.median(samples),
                            "min_headway_s": min(samples),
                            "gap_m": best[0],
                            "speed_kmh": fm.speed_kmh,
                            "class": follower.cls,
                        },
                    )
                )
        return events

    def _near_miss(self, frame: FrameTracks, moving: dict[int, tuple[Track, Motion]]) -> list[CandidateEvent]:
        if not self._enabled("near_miss"):
            return []
        cfg = self.settings["near_miss"]
        vehicles = [(t, m) for t, m in moving.values() if t.cls in HEAVY_VEHICLES]
        riders = [(t, m) for t, m in moving.values() if t.cls in {"bicycle", "motorcycle"}]
        # A cyclist is detected as a person on a bicycle: count the pair once, as the bicycle.
        road_users = riders + [
            (t, m) for t, m in moving.values() if t.cls == "person" and not any(_rides(t, r) for r, _ in riders)
        ]
        events = []
        for vehicle, vm in vehicles:
            if vm.speed_kmh <= cfg["min_speed_kmh"]:
                continue
            for user, um in road_users:
                dx, dy = um.position[0] - vm.position[0], um.position[1] - vm.position[1]
                distance = math.hypot(dx, dy)
                ttc = _time_to_within(
                    dx, dy, um.velocity[0] - vm.velocity[0], um.velocity[1] - vm.velocity[1], cfg["distance_m"]
                )
                met = distance < cfg["distance_m"] or (ttc is not None and ttc < cfg["ttc_s"])
                key = ("near_miss", vehicle.track_id, user.track_id)
                start = self._hold(key, frame.ts, met, 0.0)
                if start is not None:
                    severity = 4 if distance < cfg["distance_m"] or (ttc is not None and ttc < cfg["ttc_s"] / 2) else 3
                    events.append(
                        self._event(
                            frame,
                            "near_miss",
                            (vehicle.track_id, user.track_id),
                            start,
                            {
                                "distance_m": distance,
                                "ttc_s": ttc,
                                "speed_kmh": vm.speed_kmh,
                                "class": vehicle.cls,
                                "other_class": user.cls,
                            },
                            severity,
                        )
                    )
        return events


def _cut_by_border(box: tuple[float, float, float, float], margin: float = 0.004) -> bool:
    x1, y1, x2, y2 = box
    return x1 <= margin or y1 <= margin or x2 >= 1 - margin or y2 >= 1 - margin


def _rides(person: Track, rider: Track) -> bool:
    """The person's feet are within the bicycle's (or motorcycle's) box: they are its rider."""
    x, y = person.last.ground
    x1, y1, x2, y2 = rider.last.box
    mx, my = (x2 - x1) * 0.25, (y2 - y1) * 0.25
    return x1 - mx <= x <= x2 + mx and y1 - my <= y <= y2 + my


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
