"""A constant-acceleration Kalman filter on the road plane, with outlier gating.

State: position (2), velocity (2) and acceleration (2), in metres and seconds; the process noise is
white jerk (Bar-Shalom, "Estimation with Applications to Tracking", 6.3.3). Frames come with their
real timestamps, so the transition is built for each time step. A measurement whose Mahalanobis
distance from the prediction is implausible (a box that jumped to a neighbour, a half-hidden road
user) is refused instead of dragging the state; the caller counts refusals and restarts the filter
when they persist, because then the road user really is somewhere else.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Chi-square of two degrees of freedom at 99.9 %: one genuine measurement in a thousand is refused.
GATE_CHI2 = 13.8
_H = np.hstack([np.eye(2), np.zeros((2, 4))])


def _blocks(dt: float) -> tuple[FloatArray, FloatArray]:
    """Transition and unit-jerk process noise of one axis, for a step of dt seconds."""
    f = np.array([[1.0, dt, dt * dt / 2], [0.0, 1.0, dt], [0.0, 0.0, 1.0]])
    q = np.array(
        [
            [dt**5 / 20, dt**4 / 8, dt**3 / 6],
            [dt**4 / 8, dt**3 / 3, dt**2 / 2],
            [dt**3 / 6, dt**2 / 2, dt],
        ]
    )
    return f, q


class ConstantAcceleration:
    """State vector [px, py, vx, vy, ax, ay]; covariance 6x6."""

    def __init__(
        self,
        t: float,
        position: FloatArray,
        covariance: FloatArray,
        *,
        jerk_psd: float,
        velocity: tuple[FloatArray, FloatArray] | None = None,
        velocity_sigma: float = 50.0,
        accel_sigma: float = 2.0,
    ) -> None:
        """Start at a measured position; ``velocity`` (mean, covariance) if it is already known."""
        if jerk_psd <= 0:
            raise ValueError(f"jerk_psd must be positive, got {jerk_psd}")
        self.t = t
        self.jerk_psd = jerk_psd
        self.x = np.zeros(6)
        self.x[:2] = position
        self.p = np.zeros((6, 6))
        self.p[:2, :2] = covariance
        self.p[2:4, 2:4] = np.eye(2) * velocity_sigma**2
        if velocity is not None:
            self.x[2:4], self.p[2:4, 2:4] = velocity
        self.p[4:6, 4:6] = np.eye(2) * accel_sigma**2
        self.updates = 1
        self.x_pred, self.p_pred = self.x.copy(), self.p.copy()  # the last prediction, for smoothing

    def predicted(self, t: float) -> tuple[FloatArray, FloatArray]:
        """State and covariance at time t (>= the filter's time), without changing the filter."""
        dt = t - self.t
        if dt < 0:
            raise ValueError(f"cannot predict backwards in time ({t} < {self.t})")
        f1, q1 = _blocks(dt)
        f = np.kron(f1, np.eye(2))
        q = np.kron(q1, np.eye(2)) * self.jerk_psd
        return f @ self.x, f @ self.p @ f.T + q

    def step(self, t: float, z: FloatArray, r: FloatArray) -> bool:
        """Predict to t and take measurement z (covariance r) unless it fails the gate.

        Returns whether the measurement was used. The prediction is kept either way, so a refused
        measurement still moves the filter's clock and grows its uncertainty.
        """
        x, p = self.predicted(t)
        self.t, self.x, self.p = t, x, p
        self.x_pred, self.p_pred = x, p
        innovation = z - _H @ x
        s = _H @ p @ _H.T + r
        s_inv = np.linalg.inv(s)
        if float(innovation @ s_inv @ innovation) > GATE_CHI2:
            return False
        gain = p @ _H.T @ s_inv
        self.x = x + gain @ innovation
        # Joseph form: stays symmetric and positive definite with large gains early in a track.
        i_kh = np.eye(6) - gain @ _H
        self.p = i_kh @ p @ i_kh.T + gain @ r @ gain.T
        self.updates += 1
        return True

    def coast(self, t: float) -> None:
        """Move to time t on the prediction alone (a measurement that cannot be this road user's)."""
        self.t, (self.x, self.p) = t, self.predicted(t)
        self.x_pred, self.p_pred = self.x.copy(), self.p.copy()

    def normalized_innovation(self, t: float, z: FloatArray, r: FloatArray) -> float:
        """Mahalanobis distance squared of z from the prediction at t (for gating and diagnostics)."""
        x, p = self.predicted(t)
        innovation = z - _H @ x
        return float(innovation @ np.linalg.inv(_H @ p @ _H.T + r) @ innovation)

    @property
    def position(self) -> FloatArray:
        return self.x[:2]

    @property
    def velocity(self) -> FloatArray:
        return self.x[2:4]

    @property
    def acceleration(self) -> FloatArray:
        return self.x[4:6]

    def block(self, i: int, j: int) -> FloatArray:
        """Covariance block: 0 position, 1 velocity, 2 acceleration."""
        return self.p[2 * i : 2 * i + 2, 2 * j : 2 * j + 2]


def smooth(
    steps: list[tuple[float, FloatArray, FloatArray, FloatArray, FloatArray]],
) -> tuple[FloatArray, FloatArray]:
    """Rauch-Tung-Striebel smoothing back to the first of ``steps``; returns its smoothed state and covariance.

    Each step is (t, filtered x, filtered P, predicted x, predicted P), oldest first, all of one run
    of the filter. The estimate a short time back, using the measurements that came after it, is far
    less noisy than the filter's own newest one: differences of box positions are jittery, and the
    smoother sees the jitter on both sides.
    """
    _, x_s, p_s, _, _ = steps[-1]
    for k in range(len(steps) - 2, -1, -1):
        t_k, x_f, p_f, _, _ = steps[k]
        t_next, _, _, x_pred, p_pred = steps[k + 1]
        f = np.kron(_blocks(t_next - t_k)[0], np.eye(2))
        gain = p_f @ f.T @ np.linalg.inv(p_pred)
        x_s = x_f + gain @ (x_s - x_pred)
        p_s = p_f + gain @ (p_s - p_pred) @ gain.T
    return x_s, p_s
