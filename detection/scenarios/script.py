"""Scripted road users: where each one is on the road at every moment, and the true events that follow.

Trajectories are integrated from piecewise-constant accelerations along a straight heading, so
speeds and decelerations are exact. True events are computed on these exact kinematics with the
definitions and thresholds of the scenario format (``contract.py``), and only where the road user
is in view (the caller's visibility rule) -- independently of the rule engine, which only ever
sees what the detector finds in the rendered video.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from detection.scenarios.contract import NEAR_MISS_VEHICLES, THRESHOLDS, VEHICLES, VULNERABLE

DT = 0.005  # integration step, seconds
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


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

    def contains_all(self, pos: FloatArray) -> BoolArray:
        """Vectorized ``contains`` over N x 2 positions (NaN rows are outside)."""
        with np.errstate(invalid="ignore"):
            return np.asarray(
                (pos[:, 0] >= self.x0) & (pos[:, 0] <= self.x1) & (pos[:, 1] >= self.y0) & (pos[:, 1] <= self.y1)
            )


@dataclass
class Actor:
    cls: str
    start: tuple[float, float]
    heading: tuple[float, float]  # unit vector on the road
    speed_kmh: float
    t0: float = 0.0
    changes: list[tuple[float, float]] = field(default_factory=list)  # (time, acceleration m/s^2 from then on)
    sprite: int = 0

    def trajectory(self, duration: float) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Times, positions (N x 2, NaN before ``t0``) and speeds (m/s) on a fine grid."""
        times = np.arange(0.0, duration + DT, DT)
        positions = np.full((len(times), 2), np.nan)
        speeds = np.zeros(len(times))
        distance, speed, accel = 0.0, self.speed_kmh / 3.6, 0.0
        changes = sorted(self.changes)
        for i, t in enumerate(times):
            if t < self.t0:
                continue
            while changes and changes[0][0] <= t:
                accel = changes.pop(0)[1]
            speeds[i] = speed  # the true speed (decelerations are derived from it)
            positions[i] = (self.start[0] + self.heading[0] * distance, self.start[1] + self.heading[1] * distance)
            new_speed = max(0.0, speed + accel * DT)
            distance += (speed + new_speed) / 2 * DT
            speed = new_speed
        return times, positions, speeds


# Whether an actor is in view at each of its positions (N x 2, NaN where it does not exist yet).
Visibility = Callable[[Actor, FloatArray], BoolArray]


def box_view(view: RoadBox) -> Visibility:
    """Visibility of the original street set: inside a rectangle of road; once gone, gone for good."""

    def visible(actor: Actor, pos: FloatArray) -> BoolArray:
        inside = view.contains_all(pos)
        seen = np.cumsum(inside) > 0
        left = seen & ~inside
        return np.asarray(inside & ~(np.cumsum(left) > 0))

    return visible


@dataclass(frozen=True)
class TrueEvent:
    type: str
    start: float
    end: float
    cls: str
    speed_kmh: float | None = None


def _runs(mask: BoolArray) -> list[tuple[int, int]]:
    """Index ranges [a, b] where mask is true."""
    padded = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


@dataclass(frozen=True)
class _Sampled:
    actor: Actor
    pos: FloatArray  # NaN where not in view
    speed: FloatArray  # m/s, true speed whether in view or not
    present: BoolArray


def true_events(
    actors: list[Actor], zones: list[RoadBox], visible: Visibility, duration: float, limit_kmh: float
) -> list[TrueEvent]:
    times = np.arange(0.0, duration + DT, DT)
    sampled = []
    for actor in actors:
        _, pos, speed = actor.trajectory(duration)
        exists = ~np.isnan(pos[:, 0])
        present = exists & visible(actor, pos)
        pos = np.where(present[:, None], pos, np.nan)
        sampled.append(_Sampled(actor, pos, speed, present))
    lanes = [z for z in zones if z.kind == "lane"]
    crossings = [z for z in zones if z.kind == "crosswalk"]
    events: list[TrueEvent] = []
    for s in sampled:
        if s.actor.cls in VEHICLES:
            events += _single_events(s, times, lanes, crossings, limit_kmh)
    events += _pair_events(sampled, lanes, times)
    return sorted(events, key=lambda e: (e.start, e.type))


def _single_events(
    s: _Sampled, times: FloatArray, lanes: list[RoadBox], crossings: list[RoadBox], limit_kmh: float
) -> list[TrueEvent]:
    events = []
    cls, kmh, pos, present = s.actor.cls, s.speed * 3.6, s.pos, s.present
    # speeding: over limit x 1.10 for at least 0.5 s
    rule = THRESHOLDS["speeding"]
    over = present & (kmh > limit_kmh * rule["over_limit_factor"])
    for a, b in _runs(over):
        if times[b] - times[a] >= rule["min_duration_s"]:
            speed = round(float(kmh[a : b + 1].mean()), 2)
            events.append(TrueEvent("speeding", float(times[a] + rule["min_duration_s"]), float(times[b]), cls, speed))
    # wrong way: at least 5 m travelled against a lane's flow since entering it
    for lane in lanes:
        for a, b in _runs(present & lane.contains_all(pos)):
            against = -(pos[a : b + 1, 1] - pos[a, 1]) * lane.flow
            hit = np.flatnonzero(against >= THRESHOLDS["wrong_way"]["min_distance_m"])
            if len(hit):
                events.append(TrueEvent("wrong_way", float(times[a + hit[0]]), float(times[b]), cls))
    # hard braking: deceleration over 6 m/s^2 from at least 30 km/h
    rule = THRESHOLDS["hard_braking"]
    decel = -np.gradient(s.speed, DT)
    for a, b in _runs(present & (decel > rule["deceleration_mps2"])):
        before = kmh[max(0, a - int(0.1 / DT)) : a + 1].max()
        if before >= rule["min_speed_kmh"]:
            events.append(TrueEvent("hard_braking", float(times[a]), float(times[b]), cls))
    # standing still in a lane (stalled) or on a crosswalk
    for kind, boxes in (("stalled_vehicle", lanes), ("crosswalk_stop", crossings)):
        rule = THRESHOLDS[kind]
        for box in boxes:
            still = present & (kmh < rule["max_speed_kmh"]) & box.contains_all(pos)
            for a, b in _runs(still):
                if times[b] - times[a] >= rule["min_duration_s"]:
                    events.append(TrueEvent(kind, float(times[a] + rule["min_duration_s"]), float(times[b]), cls))
    return events


def _lane_index(pos: FloatArray, lanes: list[RoadBox]) -> npt.NDArray[np.int64]:
    """Index of the lane each position is in, -1 for none."""
    index = np.full(len(pos), -1, dtype=np.int64)
    for i, lane in reversed(list(enumerate(lanes))):
        index[lane.contains_all(pos)] = i
    return index


def _pair_events(sampled: list[_Sampled], lanes: list[RoadBox], times: FloatArray) -> list[TrueEvent]:
    events = []
    tail, near = THRESHOLDS["tailgating"], THRESHOLDS["near_miss"]
    lane_of = [_lane_index(s.pos, lanes) for s in sampled]
    for i, f in enumerate(sampled):
        if f.actor.cls not in VEHICLES:
            continue
        heading = np.asarray(f.actor.heading)
        # tailgating: headway under 0.8 s for at least 1 s, above 15 km/h, in the same lane
        for j, leader in enumerate(sampled):
            if i == j or leader.actor.cls not in VEHICLES:
                continue
            with np.errstate(invalid="ignore"):
                gap = (leader.pos - f.pos) @ heading
                cond = (
                    f.present
                    & leader.present
                    & (f.speed * 3.6 > tail["min_speed_kmh"])
                    & (lane_of[i] >= 0)
                    & (lane_of[i] == lane_of[j])
                    & (gap > 0)
                    & (gap < tail["headway_s"] * f.speed)
                )
            for a, b in _runs(cond):
                if times[b] - times[a] >= tail["min_duration_s"]:
                    start = float(times[a] + tail["min_duration_s"])
                    events.append(TrueEvent("tailgating", start, float(times[b]), f.actor.cls))
        # near miss with a pedestrian or cyclist: TTC under 1.5 s or closer than 1.5 m, above 10 km/h
        if f.actor.cls not in NEAR_MISS_VEHICLES:
            continue
        for other in sampled:
            if other.actor.cls not in VULNERABLE:
                continue
            both = f.present & other.present & (f.speed * 3.6 > near["min_speed_kmh"])
            p = other.pos - f.pos
            v = np.asarray(other.actor.heading) * other.speed[:, None] - heading * f.speed[:, None]
            with np.errstate(invalid="ignore"):
                close = np.hypot(p[:, 0], p[:, 1]) < near["distance_m"]
                cond = both & (close | (_time_to_within(p, v, near["distance_m"]) < near["ttc_s"]))
            for a, b in _runs(cond):
                events.append(TrueEvent("near_miss", float(times[a]), float(times[b]), f.actor.cls))
    return events


def _time_to_within(p: FloatArray, v: FloatArray, radius: float) -> FloatArray:
    """Time until two road users at relative position ``p`` and velocity ``v`` (N x 2) come within
    ``radius`` metres: 0 when already within, inf when they never do (vectorized)."""
    a = (v * v).sum(axis=1)
    b = 2 * (p * v).sum(axis=1)
    c = (p * p).sum(axis=1) - radius * radius
    disc = b * b - 4 * a * c
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (-b - np.sqrt(np.where(disc >= 0, disc, np.nan))) / (2 * a)
        t = np.where((a > 1e-12) & (disc >= 0) & (t >= 0), t, np.inf)
        return np.asarray(np.where(c <= 0, 0.0, t), dtype=np.float64)
