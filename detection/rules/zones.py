"""Zones of a camera (lanes with their flow, crosswalks, no-stopping areas) in image and road space."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cameras.geometry import Homography


@dataclass(frozen=True)
class Zone:
    name: str
    kind: str  # lane, crosswalk, no_stopping
    polygon: tuple[tuple[float, float], ...]  # normalized image points
    flow: tuple[float, float] | None  # unit vector of allowed travel on the road (metres), lanes only
    speed_limit_kmh: float | None
    road_polygon: tuple[tuple[float, float], ...] = ()  # the polygon on the road, metres (with a calibration)

    def margin_m(self, position: tuple[float, float]) -> float:
        """How far a road position lies inside the zone's border, in metres (negative: outside).

        A far road user's position is known to a metre or more across the road: whether it is in
        this lane or the next one is sure only when its margin is several of its sigmas."""
        if len(self.road_polygon) < 3:
            return 0.0
        px, py = position
        nearest = min(
            _segment_distance(px, py, a, b)
            for a, b in zip(self.road_polygon, self.road_polygon[1:] + self.road_polygon[:1], strict=True)
        )
        inside = _point_in(self.road_polygon, px, py)
        return nearest if inside else -nearest

    def contains(self, point: tuple[float, float]) -> bool:
        """Ray casting on the normalized image polygon (the ground point is in image space)."""
        return _point_in(self.polygon, *point)


def _point_in(polygon: tuple[tuple[float, float], ...], x: float, y: float) -> bool:
    inside = False
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def _segment_distance(px: float, py: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 < 1e-12 else min(1.0, max(0.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return float(np.hypot(px - (ax + t * dx), py - (ay + t * dy)))


def build_zones(raw: list[dict[str, Any]], homography: Homography | None) -> list[Zone]:
    zones = []
    for zone in raw:
        flow = None
        road: tuple[tuple[float, float], ...] = ()
        if homography is not None:
            road = tuple((float(x), float(y)) for x, y in homography.to_world(zone["polygon"]))
        if zone.get("flow") and homography is not None:
            start, end = homography.to_world(zone["flow"])
            vector = end - start
            norm = float(np.hypot(*vector))
            if norm > 1e-6:
                flow = (float(vector[0] / norm), float(vector[1] / norm))
        zones.append(
            Zone(
                name=zone["name"],
                kind=zone["kind"],
                polygon=tuple((float(x), float(y)) for x, y in zone["polygon"]),
                flow=flow,
                speed_limit_kmh=zone.get("speed_limit_kmh"),
                road_polygon=road,
            )
        )
    return zones
