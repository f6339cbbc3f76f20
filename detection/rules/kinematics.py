"""Road-plane kinematics of a track: smoothed position, velocity and acceleration, in metres.

A road user's position is the road point under the bottom centre of its box, mapped through the
camera's homography (../shared/SCENARIOS.md, Conventions). Box edges jitter by a few pixels from
frame to frame, so velocity is the slope of a least-squares line through the positions of a short
window of real frame timestamps, and acceleration the slope through the recent velocities. No cap
on speed, and every frame is re-estimated (a track's speed is never frozen).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from cameras.geometry import Homography
from detection.tracking import Track

VELOCITY_WINDOW_S = 0.6
ACCEL_WINDOW_S = 0.7
STILL_WINDOW_S = 1.0  # stillness: net displacement over this long, robust to jitter


@dataclass(frozen=True)
class Motion:
    ts: float
    position: tuple[float, float]  # metres, smoothed, at ts
    velocity: tuple[float, float]  # m/s
    speed_ms: float
    accel_ms2: float | None  # along the direction of travel; None until enough history
    still_speed_ms: float | None  # net displacement over STILL_WINDOW_S / its duration

    @property
    def speed_kmh(self) -> float:
        return self.speed_ms * 3.6

    @property
    def direction(self) -> tuple[float, float] | None:
        if self.speed_ms < 0.5:
            return None
        return (self.velocity[0] / self.speed_ms, self.velocity[1] / self.speed_ms)


def _slope(ts: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares line through (ts, values): returns (value at ts[-1], slope)."""
    t = ts - ts[-1]
    if len(t) < 2 or np.ptp(t) < 1e-6:
        return values[-1], np.zeros_like(values[-1])
    a = np.vstack([np.ones_like(t), t]).T
    coef, *_ = np.linalg.lstsq(a, values, rcond=None)
    return coef[0], coef[1]


@dataclass
class KinematicState:
    """Per-track history of road positions and velocity estimates, updated once per frame."""

    times: deque[float] = field(default_factory=lambda: deque(maxlen=400))
    positions: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=400))
    speeds: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=400))  # (ts, m/s along travel)
    motion: Motion | None = None

    def update(self, track: Track, homography: Homography) -> Motion | None:
        point = track.last
        if self.times and point.ts <= self.times[-1]:
            return self.motion  # the same frame twice: nothing new
        world = homography.to_world([point.ground])[0]
        self.times.append(point.ts)
        self.positions.append((float(world[0]), float(world[1])))
        ts = np.fromiter(self.times, dtype=float)
        pos = np.asarray(self.positions, dtype=float)
        recent = ts >= ts[-1] - VELOCITY_WINDOW_S
        if recent.sum() < 3:
            self.motion = None
            return None
        position, velocity = _slope(ts[recent], pos[recent])
        speed = float(np.hypot(*velocity))
        self.speeds.append((float(ts[-1]), speed))
        accel = None
        span_a = ts >= ts[-1] - ACCEL_WINDOW_S
        if span_a.sum() >= 5 and ts[-1] - ts[span_a][0] >= ACCEL_WINDOW_S * 0.7 and speed > 0.5:
            # Second derivative of a quadratic fit of the positions, along the direction of travel:
            # half the lag of differentiating the (already smoothed) speeds.
            t = ts[span_a] - ts[-1]
            design = np.vstack([np.ones_like(t), t, t * t / 2]).T
            coef, *_ = np.linalg.lstsq(design, pos[span_a], rcond=None)
            heading = coef[1] / max(float(np.hypot(*coef[1])), 1e-6)
            accel = float(coef[2] @ heading)
        still = None
        span = ts >= ts[-1] - STILL_WINDOW_S
        if ts[-1] - ts[span][0] >= STILL_WINDOW_S * 0.8:
            first = pos[span][:3].mean(axis=0)
            last = pos[span][-3:].mean(axis=0)
            still = float(np.hypot(*(last - first))) / (ts[-1] - ts[span][0])
        self.motion = Motion(
            ts=float(ts[-1]),
            position=(float(position[0]), float(position[1])),
            velocity=(float(velocity[0]), float(velocity[1])),
            speed_ms=speed,
            accel_ms2=accel,
            still_speed_ms=still,
        )
        return self.motion

    def max_speed_since(self, since: float) -> float:
        return max((s for t, s in self.speeds if t >= since), default=0.0)
