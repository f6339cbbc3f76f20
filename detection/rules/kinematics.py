"""Road-plane kinematics of one road user: position, velocity and acceleration with their uncertainty.

A road user's position is the road point under the bottom centre of its box, mapped through the
camera's homography (../shared/SCENARIOS.md, Conventions), with a covariance that grows with
distance (detection.rules.noise). A constant-acceleration Kalman filter (detection.rules.kalman)
runs on those measurements at the real frame timestamps, so every estimate comes with its variance
and the rules can decide on confidence bounds instead of point values. No cap on speed; every frame
is re-estimated.

A person is also tracked by the top of its box (UPRIGHT_CLASSES): where the two edges tell different
velocities, its box changed its extent, and its velocity is that much less certain.

The state also knows since when its estimate rests on one unbroken run of measurements: an
occlusion, a re-joined track fragment or a restart of the filter after persistent outliers starts a
new run, and rules that read a change over time (hard braking) never compare across that break.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from cameras.geometry import Homography
from detection.rules.kalman import ConstantAcceleration, FloatArray, smooth
from detection.rules.noise import GroundMeasurement, ground_measurement, image_sigma_px
from detection.tracking import TrackPoint

# White-jerk spectral density (m^2/s^5): lets a car go from cruising to full braking within a few
# tenths of a second while keeping box jitter out of the acceleration.
JERK_PSD = 10.0
MIN_UPDATES = 4  # before this many measurements the estimate still leans on the prior
MAX_GAP_S = 0.35  # a longer hole in the measurements is an occlusion: a new run starts
# A road user may have sped up or slowed down unseen: the speed carried over a break gets this much
# extra uncertainty per second of the break (m/s per s, i.e. a plausible acceleration).
BREAK_ACCEL = 3.0
SMOOTH_LAG_S = 0.3  # the smoothed estimate this far back (fixed-lag smoothing) for decisions on change
RESTART_GAP_S = 3.0  # after this long unseen the old state predicts nothing useful: start afresh
MAX_REFUSED = 3  # consecutive refused measurements: the road user is elsewhere, restart the filter
ASPECT_SMOOTHING = 0.2  # weight of the newest box in the running aspect ratio
# A box's height in pixels times the road's metres per pixel under it is about the road user's real
# size, whatever its distance, and its shape (height / width) is about constant: both drift slowly as
# the view angle changes, and they jump when the box is of something else (the tracker moved to a
# neighbour, two road users merged, half of one hidden). A jump by this factor in either is not a
# measurement of this road user.
SIZE_JUMP = 1.5
CUT_K = 2.0  # a box this many edge-noise sigmas shorter than its shape says has lost its bottom
HISTORY_S = 3.0
# A person stands upright and keeps its height in metres, and its head is the part least often hidden
# or left out: the detector boxes a cyclist's rider alone and then rider and bicycle, or a pedestrian
# down to the knees behind a parked car and then whole. Such a box grows or shrinks at its bottom only,
# and its ground point jumps by metres at a distance where no box change is large enough to be refused
# (dev4-060: 2.3 m nearer in 0.13 s at 45 m, read as 4-6 m/s towards a car's path). So a person is also
# tracked by its top edge: a second filter on the road point under the top of its box at its height
# in metres. Where the two filters disagree on the velocity, the disagreement is added to the
# velocity's covariance; the rules then decide on a velocity that is as uncertain as it truly is.
UPRIGHT_CLASSES = frozenset({"person"})


@dataclass(frozen=True)
class Lagged:
    """The smoothed estimate SMOOTH_LAG_S ago: later measurements have cut its noise."""

    ts: float
    speed_ms: float
    speed_sigma: float
    accel_ms2: float  # along the direction of travel
    accel_sigma: float


@dataclass(frozen=True)
class Motion:
    ts: float
    position: tuple[float, float]  # metres, filtered, at ts
    position_cov: FloatArray  # 2x2, metres^2
    velocity: tuple[float, float]  # m/s
    speed_ms: float
    speed_sigma: float  # m/s, along the direction of travel
    velocity_sigma: float  # m/s, along the velocity's worst-known direction (stable when standing)
    velocity_cov: FloatArray  # 2x2, (m/s)^2
    accel_ms2: float  # along the direction of travel (negative: braking)
    accel_sigma: float
    continuous_since: float  # start of the unbroken run of measurements this estimate rests on
    settled: bool  # enough measurements that the estimate no longer leans on the filter's prior
    lagged: Lagged | None = None  # None until the current run is longer than the lag

    @property
    def speed_kmh(self) -> float:
        return self.speed_ms * 3.6

    def speed_lo(self, k: float) -> float:
        return max(0.0, self.speed_ms - k * self.speed_sigma)

    def speed_hi(self, k: float) -> float:
        return self.speed_ms + k * self.speed_sigma

    @property
    def direction(self) -> tuple[float, float] | None:
        if self.speed_ms < 0.5:
            return None
        return (self.velocity[0] / self.speed_ms, self.velocity[1] / self.speed_ms)

    def position_sigma_along(self, direction: tuple[float, float]) -> float:
        d = np.asarray(direction)
        return float(math.sqrt(max(float(d @ self.position_cov @ d), 0.0)))

    def velocity_sigma_along(self, direction: tuple[float, float]) -> float:
        d = np.asarray(direction)
        return float(math.sqrt(max(float(d @ self.velocity_cov @ d), 0.0)))


@dataclass
class TopEdge:
    """An upright road user's second filter: on the road point under the top of its box, at the height
    (metres) its run started with. The height is fixed for the run: a height that followed the boxes
    would carry a box growing at its bottom into this point too. A wrong height only offsets the point,
    which does not change its velocity."""

    filter: ConstantAcceleration
    height_m: float


@dataclass
class KinematicState:
    """One road user's filter, fed one box per frame (in frame order)."""

    jerk_psd: float = JERK_PSD
    filter: ConstantAcceleration | None = None
    continuous_since: float = 0.0
    last_measured: float | None = None
    refused: int = 0
    aspect: float | None = None  # running height / width of the track's boxes
    size_m: float | None = None  # running box height in road metres (see SIZE_JUMP)
    occluded_at: float | None = None  # the last time its ground point was hidden behind a nearer road user
    # (t, filtered x, filtered P, predicted x, predicted P) of the current run, for the smoother.
    steps: deque[tuple[float, FloatArray, FloatArray, FloatArray, FloatArray]] = field(
        default_factory=lambda: deque(maxlen=100)
    )
    # (ts, speed, speed sigma) of the smoothed (lagged) estimates of the current run.
    smoothed: deque[tuple[float, float, float]] = field(default_factory=lambda: deque(maxlen=200))
    motion: Motion | None = None
    top: TopEdge | None = None  # upright road users (UPRIGHT_CLASSES) only

    def interrupt(self) -> None:
        """What comes next is not continuous with what came before (an id switch, a cut box)."""
        self.last_measured = None

    def update(
        self,
        point: TrackPoint,
        homography: Homography,
        frame_size: tuple[int, int],
        hidden_px: float = 0.0,
        *,
        upright: bool = False,
    ) -> Motion | None:
        """Take this frame's box (``hidden_px``: how far a nearer road user hides its ground point;
        ``upright``: a road user of UPRIGHT_CLASSES, also tracked by the top of its box)."""
        if self.filter is not None and point.ts <= self.filter.t:
            return self.motion  # the same frame twice: nothing new
        width, height = frame_size
        x1, y1, x2, y2 = point.box
        size = ((x2 - x1) * width, (y2 - y1) * height)
        # A box that grows or shrinks with distance keeps its shape; a box partly hidden (or merged with
        # a neighbour) changes it. The mismatch with the track's usual aspect ratio, in pixels, is how
        # far the box's edges may be off for no real motion.
        ratio = size[1] / max(size[0], 1e-6)
        change = (
            (0.0, 0.0)
            if self.aspect is None
            else (abs(size[0] - size[1] / self.aspect), abs(size[1] - size[0] * self.aspect))
        )
        reshaped = self.aspect is not None and not 1 / SIZE_JUMP <= ratio / self.aspect <= SIZE_JUMP
        if hidden_px > 0:
            # Whether or not its box shows the cut, what a change is read across this frame may be
            # the occluder's doing (a merged box keeps a plausible shape): see hard braking.
            self.occluded_at = point.ts
        if hidden_px > 0 and self.aspect is not None:
            # A nearer road user's box reaches over this one's ground point. Boxes are rectangles, road
            # users are not: often it covers only road beside it. A box whose bottom is hidden is
            # shorter than its shape says, by about what is hidden; one that keeps its shape shows its
            # bottom. (Its shape is not learnt meanwhile, so a slowly growing cut still shows.)
            short_px = size[0] * self.aspect - size[1]
            edge_px = image_sigma_px(size[0], size[1], point.conf)[1]
            hidden_px = min(hidden_px, short_px) if short_px > CUT_K * edge_px else 0.0
        elif self.aspect is None or hidden_px == 0:
            self.aspect = ratio if self.aspect is None else self.aspect + ASPECT_SMOOTHING * (ratio - self.aspect)
        measured = ground_measurement(homography, point.box, point.conf, frame_size, change, hidden_px)
        size_m = size[1] * measured.metres_per_px
        jumped = reshaped or (
            self.size_m is not None and not 1 / SIZE_JUMP <= size_m / max(self.size_m, 1e-6) <= SIZE_JUMP
        )
        if (
            self.filter is None
            or point.ts - self.filter.t > RESTART_GAP_S
            or (jumped and self.filter.updates < MIN_UPDATES)
        ):
            # A new track's first boxes are often of part of the road user (emerging from behind
            # another, or boxed as something else for a frame): when the box changes shape or size this
            # much before the estimate has settled, the new box is the road user, the first was not.
            self._restart(point.ts, measured.position, measured.covariance)
            self.aspect = ratio
        elif self.last_measured is None or point.ts - self.last_measured > MAX_GAP_S:
            # A break (occlusion, re-joined fragment, cut box): keep where it is going and how fast, but
            # forget the acceleration, so nothing is differentiated across the break.
            dt = point.ts - self.filter.t
            velocity_cov = self.filter.block(1, 1) + np.eye(2) * (BREAK_ACCEL * max(dt, 0.1)) ** 2
            self._restart(point.ts, measured.position, measured.covariance, (self.filter.velocity.copy(), velocity_cov))
        elif jumped:
            self.filter.coast(point.ts)
            self._refuse(point.ts, measured.position, measured.covariance)
        elif self.filter.step(point.ts, measured.position, measured.covariance):
            self.refused = 0
        else:
            self._refuse(point.ts, measured.position, measured.covariance)
        if self.continuous_since == point.ts or self.size_m is None:
            self.size_m = size_m  # the filter started afresh on this box
        elif self.refused == 0:
            self.size_m += ASPECT_SMOOTHING * (size_m - self.size_m)
        f = self.filter
        assert f is not None  # every branch above leaves a filter
        if not upright:
            self.top = None
        elif not jumped or self.continuous_since == point.ts:
            self._update_top(point, homography, frame_size, size_m)
        self.steps.append((f.t, f.x.copy(), f.p.copy(), f.x_pred.copy(), f.p_pred.copy()))
        self.last_measured = point.ts
        self.motion = self._motion()
        lagged = self.motion.lagged
        if lagged is not None:
            self.smoothed.append((lagged.ts, lagged.speed_ms, lagged.speed_sigma))
        while self.smoothed and self.smoothed[0][0] < point.ts - HISTORY_S:
            self.smoothed.popleft()
        return self.motion

    def _update_top(
        self, point: TrackPoint, homography: Homography, frame_size: tuple[int, int], size_m: float
    ) -> None:
        """Step the top edge's filter, or start it with the bottom's filter's run."""
        f = self.filter
        assert f is not None
        top = self.top
        if top is not None and (self.continuous_since == point.ts or point.ts - top.filter.t > MAX_GAP_S):
            top = None  # the bottom's filter started a new run on this box, or the top's lost its own
        anchored = _under_top(point, homography, frame_size, size_m if top is None else top.height_m)
        if top is None:
            # Both filters start together, from the same knowledge of the velocity.
            velocity = (f.velocity.copy(), f.block(1, 1).copy())
            self.top = TopEdge(
                ConstantAcceleration(
                    point.ts, anchored.position, anchored.covariance, jerk_psd=self.jerk_psd, velocity=velocity
                ),
                size_m,
            )
        else:
            top.filter.step(point.ts, anchored.position, anchored.covariance)

    def _refuse(self, t: float, position: FloatArray, covariance: FloatArray) -> None:
        self.refused += 1
        if self.refused >= MAX_REFUSED:
            self._restart(t, position, covariance)  # it really is somewhere else now

    def predicted_position(self, t: float) -> tuple[FloatArray, FloatArray] | None:
        """Where the road user should be at t (constant velocity: a gap makes acceleration meaningless)."""
        if self.filter is None or t < self.filter.t:
            return None
        dt = t - self.filter.t
        f = self.filter
        position = f.position + f.velocity * dt
        cov = f.block(0, 0) + dt * dt * f.block(1, 1) + dt * (f.block(0, 1) + f.block(1, 0))
        return position, cov

    def smoothed_at(self, t: float) -> tuple[float, float, float] | None:
        """The latest smoothed (ts, speed, sigma) at or before t in the current run, if any."""
        found = None
        for entry in self.smoothed:
            if entry[0] > t + 1e-6:
                break
            found = entry
        return found

    def max_speed_rise(self, since: float, until: float, k: float, min_span_s: float = 0.2) -> float:
        """The fastest sure gain of smoothed speed between two times (m/s^2, lower bound at k sigma).

        A box that grows or slides for a few frames (a neighbour merging into it, a shadow) reads as a
        speed bump: a rise no car can make, then the "braking" back to its real speed."""
        points = [(t, v, sd) for t, v, sd in self.smoothed if since <= t <= until]
        best = 0.0
        for i, (t1, v1, s1) in enumerate(points):
            for t2, v2, s2 in points[i + 1 :]:
                if t2 - t1 >= min_span_s:
                    best = max(best, (v2 - v1 - k * math.hypot(s1, s2)) / (t2 - t1))
        return best

    def max_smoothed_speed_lo(self, since: float, until: float, k: float) -> float:
        """The highest smoothed speed lower bound between two times (within the current run)."""
        return max((max(0.0, s - k * sd) for t, s, sd in self.smoothed if since <= t <= until), default=0.0)

    def _restart(
        self,
        t: float,
        position: FloatArray,
        covariance: FloatArray,
        velocity: tuple[FloatArray, FloatArray] | None = None,
    ) -> None:
        self.filter = ConstantAcceleration(t, position, covariance, jerk_psd=self.jerk_psd, velocity=velocity)
        self.continuous_since = t
        self.refused = 0
        self.steps.clear()
        self.smoothed.clear()

    def _lagged(self) -> Lagged | None:
        if not self.steps or self.steps[-1][0] - self.steps[0][0] < SMOOTH_LAG_S:
            return None
        newest = self.steps[-1][0]
        index = max(i for i, step in enumerate(self.steps) if step[0] <= newest - SMOOTH_LAG_S + 1e-6)
        x, p = smooth(list(self.steps)[index:])
        speed, speed_var, accel, accel_var = _along_travel(x, p)
        return Lagged(
            self.steps[index][0], speed, math.sqrt(max(speed_var, 0.0)), accel, math.sqrt(max(accel_var, 0.0))
        )

    def _motion(self) -> Motion:
        f = self.filter
        assert f is not None
        speed, speed_var, accel, accel_var = _along_travel(f.x, f.p)
        velocity_cov = f.block(1, 1).copy()
        if self.top is not None and self.top.filter.updates >= MIN_UPDATES and f.updates >= MIN_UPDATES:
            # The bottom and the top edge tell different velocities: one of them is a box that changed
            # its extent, not the road user moving, and which one is not known.
            disagreement = f.velocity - self.top.filter.velocity
            velocity_cov += np.outer(disagreement, disagreement)
            if speed > 1e-3:
                speed_var += float(disagreement @ f.velocity / speed) ** 2
        return Motion(
            ts=f.t,
            position=(float(f.position[0]), float(f.position[1])),
            position_cov=f.block(0, 0).copy(),
            velocity=(float(f.velocity[0]), float(f.velocity[1])),
            speed_ms=speed,
            speed_sigma=math.sqrt(max(speed_var, 0.0)),
            velocity_sigma=math.sqrt(max(float(max(np.linalg.eigvalsh(velocity_cov))), 0.0)),
            velocity_cov=velocity_cov,
            accel_ms2=accel,
            accel_sigma=math.sqrt(max(accel_var, 0.0)),
            continuous_since=self.continuous_since,
            settled=f.updates >= MIN_UPDATES,
            lagged=self._lagged(),
        )


def _under_top(
    point: TrackPoint, homography: Homography, frame_size: tuple[int, int], height_m: float
) -> GroundMeasurement:
    """The road point below the top of a box at which a road user of this height (metres) stands.

    Found by fixed-point iteration, as the metres per pixel depend on where that point is."""
    height = frame_size[1]
    x1, y1, x2, y2 = point.box
    bottom = y2
    for _ in range(3):
        measured = ground_measurement(homography, (x1, y1, x2, bottom), point.conf, frame_size)
        bottom = y1 + height_m / max(measured.metres_per_px, 1e-9) / height
    return ground_measurement(homography, (x1, y1, x2, bottom), point.conf, frame_size)


def _along_travel(x: FloatArray, p: FloatArray) -> tuple[float, float, float, float]:
    """Speed and acceleration along the direction of travel, and their variances, from a state."""
    velocity = x[2:4]
    speed = float(np.hypot(*velocity))
    p_vv, p_aa = p[2:4, 2:4], p[4:6, 4:6]
    if speed > 1e-3:
        u = velocity / speed
        return speed, float(u @ p_vv @ u), float(x[4:6] @ u), float(u @ p_aa @ u)
    return speed, float(max(np.linalg.eigvalsh(p_vv))), 0.0, float(max(np.linalg.eigvalsh(p_aa)))
