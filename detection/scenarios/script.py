"""Scripted road users: where each one is on the road at every moment, and the true events that follow.

Trajectories are integrated from piecewise-constant accelerations along a straight heading, so
speeds and decelerations are exact. True events are computed on these exact kinematics with the
definitions and default thresholds of ../shared/SCENARIOS.md — independently of the rule engine,
which only ever sees what the detector finds in the rendered video.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cameras.config import RULE_DEFAULTS

DT = 0.005  # integration step, seconds


@dataclass(frozen=True)
class RoadBox:
    """A rectangle of road in metres: x across the road, y along it."""

    name: str
    kind: str  # lane or crosswalk
    x0: float
    x1: float
    y0: float
    y1: float
    flow: int = 0  # lanes: +1 travel towards larger y is allowed, -1 towards smaller y

    def contains(self, p: tuple[float, float]) -> bool:
        return self.x0 <= p[0] <= self.x1 and self.y0 <= p[1] <= self.y1


@dataclass
class Actor:
    cls: str
    start: tuple[float, float]
    heading: tuple[float, float]  # unit vector on the road
    speed_kmh: float
    t0: float = 0.0
    changes: list[tuple[float, float]] = field(default_factory=list)  # (time, acceleration m/s^2 from then on)
    sprite: int = 0

    def sample(self, duration: float, view: RoadBox) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Times, positions (N x 2, NaN when not in view) and speeds (m/s) on a fine grid."""
        times = np.arange(0.0, duration + DT, DT)
        positions = np.full((len(times), 2), np.nan)
        speeds = np.zeros(len(times))
        distance, speed, accel = 0.0, self.speed_kmh / 3.6, 0.0
        changes = sorted(self.changes)
        entered = left = False
        for i, t in enumerate(times):
            if t < self.t0:
                continue
            while changes and changes[0][0] <= t:
                accel = changes.pop(0)[1]
            speeds[i] = speed  # the true speed, in view or not (decelerations are derived from it)
            p = (self.start[0] + self.heading[0] * distance, self.start[1] + self.heading[1] * distance)
            if view.contains(p) and not left:
                entered = True
                positions[i] = p
            elif entered:
                left = True  # gone for good: a road user that leaves the view does not come back
            new_speed = max(0.0, speed + accel * DT)
            distance += (speed + new_speed) / 2 * DT
            speed = new_speed
        return times, positions, speeds


@dataclass(frozen=True)
class TrueEvent:
    type: str
    start: float
    end: float
    cls: str
    speed_kmh: float | None = None


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges [a, b] where mask is true."""
    runs, start = [], None
    for i, value in enumerate(mask):
        if value and start is None:
            start = i
        elif not value and start is not None:
            runs.append((start, i - 1))
            start = None
    if start is not None:
        runs.append((start, len(mask) - 1))
    return runs


def true_events(
    actors: list[Actor], zones: list[RoadBox], view: RoadBox, duration: float, limit_kmh: float
) -> list[TrueEvent]:
    cfg = RULE_DEFAULTS
    samples = [a.sample(duration, view) for a in actors]
    times = samples[0][0] if samples else np.arange(0.0, duration, DT)
    events: list[TrueEvent] = []
    lanes = [z for z in zones if z.kind == "lane"]
    crossings = [z for z in zones if z.kind == "crosswalk"]
    vehicle = {"car", "truck", "bus", "motorcycle"}
    for actor, (_, pos, speed) in zip(actors, samples, strict=True):
        present = ~np.isnan(pos[:, 0])
        if actor.cls not in vehicle:
            continue
        kmh = speed * 3.6
        # speeding: over limit x 1.10 for 0.5 s
        over = present & (kmh > limit_kmh * float(cfg["speeding"]["over_limit_factor"]))
        for a, b in _runs(over):
            if times[b] - times[a] >= float(cfg["speeding"]["min_duration_s"]):
                start = times[a] + float(cfg["speeding"]["min_duration_s"])
                during = kmh[a : b + 1]
                events.append(TrueEvent("speeding", start, times[b], actor.cls, round(float(during.mean()), 2)))
        # wrong way: 5 m against a lane's flow since entering it
        for lane in lanes:
            inside = present & np.array([lane.contains(tuple(p)) for p in pos])
            for a, b in _runs(inside):
                against = -(pos[a : b + 1, 1] - pos[a, 1]) * lane.flow
                hit = np.nonzero(against >= float(cfg["wrong_way"]["min_distance_m"]))[0]
                if len(hit):
                    events.append(TrueEvent("wrong_way", times[a + hit[0]], times[b], actor.cls))
        # hard braking: deceleration over 6 m/s^2, having driven at least 30 km/h when it began
        decel = -np.gradient(speed, DT)
        braking = present & (decel > float(cfg["hard_braking"]["deceleration_mps2"]))
        for a, b in _runs(braking):
            before = kmh[max(0, a - int(0.1 / DT)) : a + 1].max()
            if before >= float(cfg["hard_braking"]["min_speed_kmh"]):
                events.append(TrueEvent("hard_braking", times[a], times[b], actor.cls))
        # standing still in a lane (stalled) or on a crosswalk
        for rule, boxes in (("stalled_vehicle", lanes), ("crosswalk_stop", crossings)):
            for box in boxes:
                still = (
                    present
                    & (kmh < float(cfg[rule]["max_speed_kmh"]))
                    & np.array([box.contains(tuple(p)) for p in pos])
                )
                for a, b in _runs(still):
                    if times[b] - times[a] >= float(cfg[rule]["min_duration_s"]):
                        events.append(
                            TrueEvent(rule, times[a] + float(cfg[rule]["min_duration_s"]), times[b], actor.cls)
                        )
    events += _pair_events(actors, samples, lanes, times)
    return sorted(events, key=lambda e: (e.start, e.type))


def _pair_events(
    actors: list[Actor],
    samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    lanes: list[RoadBox],
    times: np.ndarray,
) -> list[TrueEvent]:
    cfg = RULE_DEFAULTS
    events = []
    motor = {"car", "truck", "bus", "motorcycle"}
    for i, follower in enumerate(actors):
        if follower.cls not in motor:
            continue
        _, fpos, fspeed = samples[i]
        # tailgating: headway under 0.8 s for 1 s, above 15 km/h, in the same lane
        for j, leader in enumerate(actors):
            if i == j or leader.cls not in motor:
                continue
            _, lpos, _ = samples[j]
            cond = np.zeros(len(times), dtype=bool)
            for k in range(len(times)):
                if (
                    np.isnan(fpos[k, 0])
                    or np.isnan(lpos[k, 0])
                    or fspeed[k] * 3.6 <= float(cfg["tailgating"]["min_speed_kmh"])
                ):
                    continue
                lane = next((z for z in lanes if z.contains(tuple(fpos[k]))), None)
                if lane is None or not lane.contains(tuple(lpos[k])):
                    continue
                gap = (lpos[k, 1] - fpos[k, 1]) * follower.heading[1]
                cond[k] = 0 < gap < float(cfg["tailgating"]["headway_s"]) * fspeed[k]
            for a, b in _runs(cond):
                if times[b] - times[a] >= float(cfg["tailgating"]["min_duration_s"]):
                    events.append(
                        TrueEvent(
                            "tailgating", times[a] + float(cfg["tailgating"]["min_duration_s"]), times[b], follower.cls
                        )
                    )
        # near miss with a pedestrian or cyclist: TTC under 1.5 s or closer than 1.5 m, above 10 km/h
        if follower.cls not in {"car", "truck", "bus"}:
            continue
        for j, other in enumerate(actors):
            if other.cls not in {"person", "bicycle", "motorcycle"}:
                continue
            _, opos, ospeed = samples[j]
            radius = float(cfg["near_miss"]["distance_m"])
            cond = np.zeros(len(times), dtype=bool)
            for k in range(len(times)):
                if (
                    np.isnan(fpos[k, 0])
                    or np.isnan(opos[k, 0])
                    or fspeed[k] * 3.6 <= float(cfg["near_miss"]["min_speed_kmh"])
                ):
                    continue
                p = opos[k] - fpos[k]
                v = np.asarray(other.heading) * ospeed[k] - np.asarray(follower.heading) * fspeed[k]
                ttc = _time_to_within(p, v, radius)
                cond[k] = float(np.hypot(*p)) < radius or (ttc is not None and ttc < float(cfg["near_miss"]["ttc_s"]))
            for a, b in _runs(cond):
                events.append(TrueEvent("near_miss", times[a], times[b], follower.cls))
    return events


def _time_to_within(p: np.ndarray, v: np.ndarray, radius: float) -> float | None:
    a = float(v @ v)
    b = 2 * float(p @ v)
    c = float(p @ p) - radius * radius
    if c <= 0:
        return 0.0
    if a < 1e-12 or b * b - 4 * a * c < 0:
        return None
    t = (-b - math.sqrt(b * b - 4 * a * c)) / (2 * a)
    return t if t >= 0 else None
