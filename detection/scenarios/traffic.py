"""Scripted traffic on a two-lane road with opposite flows and a crosswalk across both lanes.

Each template draws one scene from a random generator: true events of every type at varied
margins, and normal traffic that comes close to every rule's threshold without crossing it
(0.85-0.95x the limit, 3-5 m/s^2 braking, 0.9-1.3 s headways, stops just under 10 s in a lane or
3 s on a crosswalk, pedestrians passing 3-5 m from cars, a leader stopping at the crosswalk with a
follower behind, dense traffic where road users hide each other). Positions are road metres of
``camera_model`` (x across, lanes x 0-4 and 4-8; y along the road).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from detection.scenarios.camera_model import DIMENSIONS, LANE_WIDTH, ROAD_WIDTH, CameraGeometry
from detection.scenarios.script import Actor, RoadBox

CROSSWALK_DEPTH = 3.0
# The closest a tailgater drives to the car ahead, bumper to bumper: nearer, the two would touch. The
# gap of the format's headway is measured front to front, so it is at least a car's length more.
MIN_BUMPER_GAP_M = 2.0
PAVEMENT = 2.5  # pedestrians walk this far beyond the kerbs


@dataclass
class Scene:
    kind: str  # the template that drew it
    duration: float
    actors: list[Actor]
    zones: list[RoadBox]
    expect: set[str] = field(default_factory=set)  # the event types the script is meant to produce


@dataclass(frozen=True)
class Road:
    """The calibrated stretch of road of one scene: two lanes and a crosswalk."""

    rig: CameraGeometry
    near: float  # y of the near end of the calibrated stretch
    far: float
    lanes: tuple[RoadBox, RoadBox]
    crosswalk: RoadBox

    @property
    def limit(self) -> float:
        return self.rig.speed_limit_kmh

    def at(self, fraction: float) -> float:
        """A y position a fraction of the way from the near to the far end."""
        return self.near + (self.far - self.near) * fraction

    def centre(self, lane: RoadBox) -> float:
        return (lane.x0 + lane.x1) / 2

    def other(self, lane: RoadBox) -> RoadBox:
        return self.lanes[1] if lane is self.lanes[0] else self.lanes[0]


def make_road(rng: random.Random, rig: CameraGeometry) -> Road:
    near, far = rig.road_span()
    up = rng.random() < 0.5  # which lane flows away from the camera
    lanes = (
        RoadBox("lane-a", "lane", 0.0, LANE_WIDTH, near, far, flow=1 if up else -1),
        RoadBox("lane-b", "lane", LANE_WIDTH, ROAD_WIDTH, near, far, flow=-1 if up else 1),
    )
    y0 = round(near + (far - near) * rng.uniform(0.18, 0.42), 2)
    crosswalk = RoadBox("crosswalk", "crosswalk", 0.0, ROAD_WIDTH, y0, y0 + CROSSWALK_DEPTH)
    return Road(rig, near, far, lanes, crosswalk)


# -- road users ----------------------------------------------------------------------------------
def drive(
    road: Road,
    lane: RoadBox,
    kmh: float,
    at_y: float,
    at_t: float,
    *,
    cls: str = "car",
    changes: list[tuple[float, float]] | None = None,
    wrong_way: bool = False,
    dx: float = 0.0,
    sprite: int = 0,
) -> Actor:
    """A vehicle in ``lane`` that passes ``at_y`` at time ``at_t`` (at constant speed until then)."""
    direction = -lane.flow if wrong_way else lane.flow
    start_y = at_y - direction * kmh / 3.6 * at_t
    return Actor(cls, (road.centre(lane) + dx, start_y), (0.0, float(direction)), kmh, 0.0, changes or [], sprite)


def stop(kmh: float, decel: float, t_brake: float, wait: float, go: float = 2.0) -> list[tuple[float, float]]:
    """Acceleration changes: brake at ``decel`` from ``t_brake`` to a standstill, wait, drive off."""
    t_stop = t_brake + kmh / 3.6 / decel
    return [(t_brake, -decel), (t_stop, 0.0), (t_stop + wait, go), (t_stop + wait + kmh / 3.6 / go, 0.0)]


def braking_distance(kmh: float, decel: float) -> float:
    v = kmh / 3.6
    return v * v / (2 * decel)


def stopping_driver(
    road: Road,
    lane: RoadBox,
    kmh: float,
    stop_y: float,
    decel: float,
    t_brake: float,
    wait: float,
    sprite: int,
    cls: str = "car",
) -> Actor:
    """A vehicle that comes to a standstill at ``stop_y`` and drives off after ``wait`` seconds."""
    brake_y = stop_y - lane.flow * braking_distance(kmh, decel)
    return drive(road, lane, kmh, brake_y, t_brake, cls=cls, changes=stop(kmh, decel, t_brake, wait), sprite=sprite)


def walker(
    road: Road,
    y: float,
    kmh: float,
    at_x: float,
    at_t: float,
    *,
    towards_far_kerb: bool,
    cls: str = "person",
    sprite: int = 0,
) -> Actor:
    """A pedestrian (or a cyclist) crossing the road along x, at ``at_x`` at time ``at_t``."""
    sign = -1.0 if towards_far_kerb else 1.0  # the far kerb is x = 0
    start_x = at_x - sign * kmh / 3.6 * at_t
    return Actor(cls, (start_x, y), (sign, 0.0), kmh, 0.0, [], sprite)


def background(
    rng: random.Random,
    road: Road,
    lanes: list[RoadBox],
    count: int,
    duration: float,
    *,
    factor: tuple[float, float] = (0.8, 0.9),
    gap_s: tuple[float, float] = (1.8, 3.5),
) -> list[Actor]:
    """Ordinary traffic: vehicles at 0.8-0.9x the limit, well spaced, spread over the scene."""
    actors: list[Actor] = []
    if not lanes:
        return actors
    per_lane = {lane.name: rng.uniform(-1.5, 1.0) for lane in lanes}  # when the next one passes mid-road
    for _ in range(count):
        lane = rng.choice(lanes)
        at_t = per_lane[lane.name]
        per_lane[lane.name] += rng.uniform(*gap_s)
        if at_t > duration - 1.0:
            continue
        cls = rng.choices(["car", "truck", "bus"], weights=[8, 1, 1])[0]
        kmh = road.limit * rng.uniform(*factor)
        actors.append(
            drive(road, lane, kmh, road.at(0.5), at_t, cls=cls, sprite=rng.randrange(1000), dx=rng.uniform(-0.3, 0.3))
        )
    return actors


def _lane(rng: random.Random, road: Road) -> RoadBox:
    return rng.choice(road.lanes)


def _cruise(rng: random.Random, road: Road, low: float = 0.6, high: float = 0.95) -> float:
    """A speed below speeding, at least 32 km/h (hard braking counts from 30 km/h)."""
    return max(32.0, road.limit * rng.uniform(low, high))


# -- true events ---------------------------------------------------------------------------------
def speeding(rng: random.Random, road: Road) -> Scene:
    lane = _lane(rng, road)
    kmh = road.limit * rng.uniform(1.15, 1.6)
    duration = 10.0
    # Where it is mid-scene: the near or the far half of the road.
    at_y = road.at(rng.choice([0.25, 0.45, 0.65]))
    actors = [
        drive(
            road,
            lane,
            kmh,
            at_y,
            rng.uniform(3.0, 5.0),
            sprite=rng.randrange(1000),
            cls=rng.choice(["car", "car", "truck"]),
        )
    ]
    actors += background(rng, road, [road.other(lane)], rng.randint(1, 3), duration)
    return Scene("speeding", duration, actors, [*road.lanes, road.crosswalk], {"speeding"})


def wrong_way(rng: random.Random, road: Road) -> Scene:
    lane = _lane(rng, road)
    duration = 9.0
    actors = [
        drive(
            road,
            lane,
            rng.uniform(25.0, 50.0),
            road.at(rng.uniform(0.3, 0.6)),
            rng.uniform(3.0, 4.5),
            wrong_way=True,
            sprite=rng.randrange(1000),
        )
    ]
    actors += background(rng, road, [road.other(lane)], rng.randint(0, 2), duration)
    return Scene("wrong_way", duration, actors, [*road.lanes, road.crosswalk], {"wrong_way"})


def tailgating(rng: random.Random, road: Road) -> Scene:
    lane = _lane(rng, road)
    # At least 40 km/h: slower, a headway well under 0.8 s would leave the cars no room between them.
    kmh = max(40.0, _cruise(rng, road, 0.7, 1.0))
    shortest = max(0.3, (DIMENSIONS["car"][0] + MIN_BUMPER_GAP_M) / (kmh / 3.6))  # s: slow cars keep more
    headway = rng.uniform(shortest, max(0.6, shortest + 0.05))
    at_y, at_t = road.at(rng.uniform(0.3, 0.55)), rng.uniform(3.5, 5.0)
    duration = 10.0
    leader = drive(road, lane, kmh, at_y, at_t, sprite=rng.randrange(1000))
    follower = drive(road, lane, kmh, at_y, at_t + headway, sprite=rng.randrange(1000), dx=rng.uniform(-0.3, 0.3))
    actors = [leader, follower, *background(rng, road, [road.other(lane)], rng.randint(1, 2), duration)]
    return Scene("tailgating", duration, actors, [*road.lanes, road.crosswalk], {"tailgating"})


def near_miss(rng: random.Random, road: Road) -> Scene:
    lane = _lane(rng, road)
    kmh = rng.uniform(25.0, min(50.0, road.limit))
    duration = 10.0
    cw = road.crosswalk
    meet_t = rng.uniform(4.0, 6.0)
    variant = rng.choice(["crossing", "crossing", "cyclist_crossing", "overtaking"])
    car = drive(road, lane, kmh, (cw.y0 + cw.y1) / 2, meet_t, sprite=rng.randrange(1000))
    if variant == "overtaking":
        # A cyclist near the kerb, overtaken with a lateral clearance of 0.6-1.2 m.
        side = -1.0 if lane.x0 == 0.0 else 1.0
        cyclist_x = road.centre(lane) + side * 1.2
        car = drive(
            road, lane, kmh, (cw.y0 + cw.y1) / 2, meet_t, dx=-side * rng.uniform(0.0, 0.6), sprite=rng.randrange(1000)
        )
        bike = Actor(
            "bicycle", (cyclist_x, 0.0), (0.0, float(lane.flow)), rng.uniform(12.0, 18.0), 0.0, [], rng.randrange(1000)
        )
        v = bike.speed_kmh / 3.6
        bike.start = (cyclist_x, (cw.y0 + cw.y1) / 2 - lane.flow * v * meet_t)
        other: Actor = bike
    else:
        cls, walk = (
            ("bicycle", rng.uniform(10.0, 16.0)) if variant == "cyclist_crossing" else ("person", rng.uniform(4.0, 6.5))
        )
        towards_far = rng.random() < 0.5
        # Where the walker is when the car reaches the crossing line: 0.3-1.2 m short of (or past) the car's path.
        miss = rng.uniform(0.3, 1.2) * rng.choice([-1, 1])
        at_x = road.centre(lane) + (miss if not towards_far else -miss)
        other = walker(
            road,
            (cw.y0 + cw.y1) / 2 + rng.uniform(-0.8, 0.8),
            walk,
            at_x,
            meet_t,
            towards_far_kerb=towards_far,
            cls=cls,
            sprite=rng.randrange(1000),
        )
    actors = [car, other, *background(rng, road, [road.other(lane)], rng.randint(0, 1), duration)]
    return Scene("near_miss", duration, actors, [*road.lanes, road.crosswalk], {"near_miss"})


def hard_braking(rng: random.Random, road: Road) -> Scene:
    lane = _lane(rng, road)
    kmh = max(38.0, road.limit * rng.uniform(0.8, 1.0))
    decel = rng.uniform(6.8, 9.5)
    duration = 9.0
    cw = road.crosswalk
    # It stops short of the crosswalk (something ran out), waits 1-2 s and drives on.
    stop_y = (cw.y0 - 2.0) if lane.flow > 0 else (cw.y1 + 2.0)
    if rng.random() < 0.4:  # or somewhere farther along the road
        stop_y = road.at(rng.uniform(0.5, 0.75))
    actors = [
        stopping_driver(
            road, lane, kmh, stop_y, decel, rng.uniform(2.5, 4.0), rng.uniform(1.0, 2.0), rng.randrange(1000)
        )
    ]
    actors += background(rng, road, [road.other(lane)], rng.randint(1, 2), duration)
    return Scene("hard_braking", duration, actors, [*road.lanes, road.crosswalk], {"hard_braking"})


def stalled(rng: random.Random, road: Road) -> Scene:
    lane = _lane(rng, road)
    kmh = _cruise(rng, road, 0.6, 0.9)
    decel = rng.uniform(2.0, 3.5)
    t_brake = rng.uniform(1.0, 2.5)
    t_stop = t_brake + kmh / 3.6 / decel
    duration = round(t_stop + 10.0 + rng.uniform(2.5, 4.0), 1)
    cw = road.crosswalk
    stop_y = road.at(rng.uniform(0.2, 0.7))
    if cw.y0 - 5.0 < stop_y < cw.y1 + 5.0:  # in a lane, not on or at the crosswalk
        stop_y = cw.y1 + 8.0
    actors = [stopping_driver(road, lane, kmh, stop_y, decel, t_brake, 1000.0, rng.randrange(1000))]
    actors += background(rng, road, [road.other(lane)], rng.randint(2, 4), duration, gap_s=(2.5, 5.0))
    return Scene("stalled_vehicle", duration, actors, [*road.lanes, road.crosswalk], {"stalled_vehicle"})


def crosswalk_stop(rng: random.Random, road: Road) -> Scene:
    lane = _lane(rng, road)
    kmh = rng.uniform(25.0, min(45.0, road.limit))
    decel = rng.uniform(2.0, 3.5)
    t_brake = rng.uniform(1.5, 3.0)
    wait = rng.uniform(4.5, 7.0)
    t_stop = t_brake + kmh / 3.6 / decel
    duration = round(min(18.0, t_stop + wait + 3.0), 1)
    cw = road.crosswalk
    stop_y = (cw.y0 + cw.y1) / 2 + rng.uniform(-0.7, 0.7)
    actors = [stopping_driver(road, lane, kmh, stop_y, decel, t_brake, wait, rng.randrange(1000))]
    actors += background(rng, road, [road.other(lane)], rng.randint(1, 3), duration)
    return Scene("crosswalk_stop", duration, actors, [*road.lanes, road.crosswalk], {"crosswalk_stop"})


# -- normal traffic close to the thresholds ------------------------------------------------------
def free_flow(rng: random.Random, road: Road) -> Scene:
    duration = 10.0
    actors = background(rng, road, list(road.lanes), rng.randint(3, 6), duration, factor=(0.85, 0.9))
    return Scene("normal_free_flow", duration, actors, [*road.lanes, road.crosswalk])


def near_limit(rng: random.Random, road: Road) -> Scene:
    lane = _lane(rng, road)
    duration = 10.0
    factor = rng.uniform(0.9, 0.95) if rng.random() < 0.6 else rng.uniform(1.0, 1.06)
    actors = [
        drive(
            road,
            lane,
            road.limit * factor,
            road.at(rng.uniform(0.3, 0.6)),
            rng.uniform(3.0, 5.0),
            sprite=rng.randrange(1000),
        )
    ]
    actors += background(rng, road, [road.other(lane)], rng.randint(1, 3), duration, factor=(0.85, 0.9))
    return Scene("normal_near_limit", duration, actors, [*road.lanes, road.crosswalk])


def moderate_braking(rng: random.Random, road: Road) -> Scene:
    """A car brakes at 3-5 m/s^2 for a pedestrian, stops 4 m short of the crosswalk, drives on."""
    lane = _lane(rng, road)
    kmh = max(35.0, road.limit * rng.uniform(0.8, 1.0))
    decel = rng.uniform(3.0, 5.0)
    t_brake = rng.uniform(2.0, 3.5)
    wait = rng.uniform(2.5, 4.0)
    cw = road.crosswalk
    stop_y = (cw.y0 - 4.0) if lane.flow > 0 else (cw.y1 + 4.0)
    t_stop = t_brake + kmh / 3.6 / decel
    duration = round(t_stop + wait + 5.0, 1)
    car = stopping_driver(road, lane, kmh, stop_y, decel, t_brake, wait, rng.randrange(1000))
    # The pedestrian is in front of the car while it stands, and out of its lane before it drives off.
    towards_far = rng.random() < 0.5
    person = walker(
        road,
        (cw.y0 + cw.y1) / 2,
        rng.uniform(5.0, 6.5),
        road.centre(lane),
        t_stop + wait * rng.uniform(0.3, 0.45),
        towards_far_kerb=towards_far,
        sprite=rng.randrange(1000),
    )
    actors = [car, person, *background(rng, road, [road.other(lane)], rng.randint(0, 2), duration)]
    return Scene("normal_moderate_braking", duration, actors, [*road.lanes, road.crosswalk])


def safe_headway(rng: random.Random, road: Road) -> Scene:
    lane = _lane(rng, road)
    kmh = _cruise(rng, road, 0.7, 0.95)
    headway = rng.uniform(0.9, 1.3)
    at_y, at_t = road.at(rng.uniform(0.3, 0.55)), rng.uniform(3.0, 4.5)
    duration = 10.0
    actors = [
        drive(road, lane, kmh, at_y, at_t, sprite=rng.randrange(1000)),
        drive(road, lane, kmh, at_y, at_t + headway, sprite=rng.randrange(1000)),
        *background(rng, road, [road.other(lane)], rng.randint(1, 2), duration),
    ]
    return Scene("normal_headway", duration, actors, [*road.lanes, road.crosswalk])


def short_stop_in_lane(rng: random.Random, road: Road) -> Scene:
    """Stands 7-9.5 s in a lane (a stall needs 10 s), then drives off."""
    lane = _lane(rng, road)
    kmh = _cruise(rng, road, 0.6, 0.85)
    decel = rng.uniform(2.0, 3.5)
    t_brake = rng.uniform(1.0, 2.0)
    wait = rng.uniform(7.0, 9.5)
    t_stop = t_brake + kmh / 3.6 / decel
    duration = round(t_stop + wait + 4.0, 1)
    cw = road.crosswalk
    stop_y = road.at(rng.uniform(0.2, 0.7))
    if cw.y0 - 5.0 < stop_y < cw.y1 + 5.0:
        stop_y = cw.y1 + 8.0
    actors = [stopping_driver(road, lane, kmh, stop_y, decel, t_brake, wait, rng.randrange(1000))]
    actors += background(rng, road, [road.other(lane)], rng.randint(1, 3), duration, gap_s=(2.5, 5.0))
    return Scene("normal_short_stop", duration, actors, [*road.lanes, road.crosswalk])


def short_crosswalk_stop(rng: random.Random, road: Road) -> Scene:
    """Stands 1.5-2.6 s on the crosswalk (the rule needs 3 s), then drives off."""
    lane = _lane(rng, road)
    kmh = rng.uniform(25.0, min(45.0, road.limit))
    decel = rng.uniform(2.0, 3.5)
    t_brake = rng.uniform(1.5, 3.0)
    wait = rng.uniform(1.5, 2.6)
    t_stop = t_brake + kmh / 3.6 / decel
    cw = road.crosswalk
    stop_y = (cw.y0 + cw.y1) / 2 + rng.uniform(-0.7, 0.7)
    actors = [stopping_driver(road, lane, kmh, stop_y, decel, t_brake, wait, rng.randrange(1000))]
    actors += background(rng, road, [road.other(lane)], rng.randint(1, 2), t_stop + wait + 4.0)
    return Scene("normal_short_crosswalk_stop", round(t_stop + wait + 4.0, 1), actors, [*road.lanes, road.crosswalk])


def pedestrian_passes(rng: random.Random, road: Road) -> Scene:
    """A pedestrian or cyclist crosses 3-5 m from a passing car."""
    lane = _lane(rng, road)
    kmh = rng.uniform(25.0, min(50.0, road.limit))
    cw = road.crosswalk
    meet_t = rng.uniform(4.0, 6.0)
    duration = 10.0
    towards_far = rng.random() < 0.5
    cls, walk = ("bicycle", rng.uniform(10.0, 14.0)) if rng.random() < 0.3 else ("person", rng.uniform(4.0, 6.0))
    # Already past the car's path, or not yet in the lane, by 3-5 m.
    clearance = rng.uniform(3.0, 5.0)
    ahead = rng.random() < 0.5
    sign = -1.0 if towards_far else 1.0
    at_x = road.centre(lane) + sign * clearance * (1 if ahead else -1)
    actors = [
        drive(road, lane, kmh, (cw.y0 + cw.y1) / 2, meet_t, sprite=rng.randrange(1000)),
        walker(
            road,
            (cw.y0 + cw.y1) / 2,
            walk,
            at_x,
            meet_t,
            towards_far_kerb=towards_far,
            cls=cls,
            sprite=rng.randrange(1000),
        ),
        *background(rng, road, [road.other(lane)], rng.randint(0, 2), duration),
    ]
    return Scene("normal_pedestrian_passes", duration, actors, [*road.lanes, road.crosswalk])


def leader_stops_at_crosswalk(rng: random.Random, road: Road) -> Scene:
    """A leader stops for a pedestrian at the crosswalk; its follower, 1.2-2 s behind, stops behind it."""
    lane = _lane(rng, road)
    kmh = max(35.0, road.limit * rng.uniform(0.75, 0.9))
    cw = road.crosswalk
    stop_y = (cw.y0 - 2.0) if lane.flow > 0 else (cw.y1 + 2.0)
    decel = rng.uniform(3.0, 4.5)
    t_brake = rng.uniform(2.5, 3.5)
    wait = rng.uniform(2.5, 4.0)
    t_stop = t_brake + kmh / 3.6 / decel
    headway = rng.uniform(1.4, 2.0)
    gap = rng.uniform(7.5, 9.5)  # between the two ground points when both stand
    f_decel = rng.uniform(3.0, 4.0)
    f_stop_y = stop_y - lane.flow * gap
    # The follower brakes so that it stands at f_stop_y; it drives off 1-1.5 s after the leader.
    f_brake_y = f_stop_y - lane.flow * braking_distance(kmh, f_decel)
    leader_at_brake_y = stop_y - lane.flow * braking_distance(kmh, decel)
    # The follower passes every point ``headway`` seconds after the leader until it brakes.
    f_t_brake = t_brake + headway + (f_brake_y - leader_at_brake_y) * lane.flow / (kmh / 3.6)
    f_wait = t_stop + wait + rng.uniform(1.0, 1.5) - (f_t_brake + kmh / 3.6 / f_decel)
    duration = round(t_stop + wait + 5.0, 1)
    leader = stopping_driver(road, lane, kmh, stop_y, decel, t_brake, wait, rng.randrange(1000))
    follower = stopping_driver(road, lane, kmh, f_stop_y, f_decel, f_t_brake, max(0.5, f_wait), rng.randrange(1000))
    person = walker(
        road,
        (cw.y0 + cw.y1) / 2,
        rng.uniform(4.5, 6.0),
        road.centre(lane),
        t_stop + wait / 2,
        towards_far_kerb=rng.random() < 0.5,
        sprite=rng.randrange(1000),
    )
    actors = [leader, follower, person, *background(rng, road, [road.other(lane)], rng.randint(0, 2), duration)]
    return Scene("normal_leader_stops", duration, actors, [*road.lanes, road.crosswalk])


def vulnerable_users(rng: random.Random, road: Road) -> Scene:
    """Pedestrians on both pavements and a cyclist near the kerb, at several distances; cars keep clear."""
    duration = 10.0
    bike_lane = _lane(rng, road)
    side = -1.0 if bike_lane.x0 == 0.0 else 1.0
    actors: list[Actor] = []
    for _ in range(rng.randint(2, 4)):
        x = -1.2 if rng.random() < 0.5 else ROAD_WIDTH + 1.2
        y = road.at(rng.uniform(0.05, 0.9))
        actors.append(
            Actor(
                "person",
                (x + rng.uniform(-0.5, 0.5), y),
                (0.0, rng.choice([-1.0, 1.0])),
                rng.uniform(3.5, 5.5),
                0.0,
                [],
                rng.randrange(1000),
            )
        )
    bike_x = road.centre(bike_lane) + side * 1.3
    bike = Actor(
        "bicycle",
        (bike_x, road.at(rng.uniform(0.1, 0.6))),
        (0.0, float(bike_lane.flow)),
        rng.uniform(12.0, 20.0),
        0.0,
        [],
        rng.randrange(1000),
    )
    actors.append(bike)
    actors += background(rng, road, [road.other(bike_lane)], rng.randint(2, 4), duration, factor=(0.85, 0.9))
    return Scene("normal_vulnerable_users", duration, actors, [*road.lanes, road.crosswalk])


def dense_traffic(rng: random.Random, road: Road) -> Scene:
    """Many vehicles, trucks and buses among them, hiding each other."""
    duration = 12.0
    actors = background(rng, road, list(road.lanes), rng.randint(8, 12), duration, factor=(0.8, 0.9), gap_s=(1.4, 2.4))
    return Scene("normal_dense", duration, actors, [*road.lanes, road.crosswalk])


Template = Callable[[random.Random, Road], Scene]
# How many scenes of each template one split gets (about 75 per split).
PLAN: list[tuple[Template, int]] = [
    (speeding, 7),
    (wrong_way, 4),
    (tailgating, 5),
    (near_miss, 6),
    (hard_braking, 6),
    (stalled, 4),
    (crosswalk_stop, 4),
    (free_flow, 5),
    (near_limit, 4),
    (moderate_braking, 4),
    (safe_headway, 4),
    (short_stop_in_lane, 3),
    (short_crosswalk_stop, 3),
    (pedestrian_passes, 4),
    (leader_stops_at_crosswalk, 4),
    (vulnerable_users, 3),
    (dense_traffic, 4),
]
