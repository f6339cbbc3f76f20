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

    def contains(self, point: tuple[float, float]) -> bool:
        """Ray casting on the normalized image polygon (the ground point is in image space)."""
        x, y = point
        inside = False
        n = len(self.polygon)
        for i in range(n):
            (x1, y1), (x2, y2) = self.polygon[i], self.polygon[(i + 1) % n]
            if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
                inside = not inside
        return inside


def build_zones(raw: list[dict[str, Any]], homography: Homography | None) -> list[Zone]:
    zones = []
    for zone in raw:
        flow = None
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
            )
        )
    return zones
