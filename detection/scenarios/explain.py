"""``evaluate --explain``: why a report fired, or why an event was missed, in one look.

For each report: its verdict (true positive, duplicate, false positive), the rule's measurements
with their uncertainties (keys ending in ``_sigma``, ``_lo``, ``_hi``, ``_std``, ``_var``), and for
each road user involved, its measured kinematics around the trigger, over every track fragment the
rules joined to it (an event names a road user by its first track id). For each missed event: the tracks
of that class that were in view when it began. Kinematics are recomputed here from the raw track
points (box bottom centre through the scenario's calibration), not taken from the rule engine, so
they show what the detector and tracker delivered: box jitter, gaps, id switches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cameras.geometry import fit_homography
from detection.scenarios.format import Scenario, TruthEvent
from detection.scenarios.runner import RunResult, TrackHistory
from detection.scenarios.score import Report, Verdict, match

BEFORE_S, AFTER_S = 2.0, 0.5  # the window shown around a trigger
MISSED_BEFORE_S, MISSED_AFTER_S = 1.0, 2.0  # and around the start of a missed event
MAX_ROWS = 24
DIFF_S = 0.2  # speeds and accelerations: central differences over +-0.2 s, as a steady reading needs
UNCERTAINTY_SUFFIXES = ("_sigma", "_lo", "_hi", "_std", "_var", "_ci")
OUTCOMES = {"tp": "TRUE POSITIVE", "duplicate": "DUPLICATE", "fp": "FALSE POSITIVE"}


@dataclass(frozen=True)
class Kinematics:
    ts: np.ndarray  # seconds
    pixel: np.ndarray  # N x 2: ground point in pixels
    world: np.ndarray  # N x 2: metres on the road (NaN without calibration)
    speed_kmh: np.ndarray
    accel: np.ndarray  # m/s^2 along the motion (negative: braking)
    box_h: np.ndarray  # pixels
    conf: np.ndarray


def kinematics(history: TrackHistory, scenario: Scenario, size: tuple[int, int]) -> Kinematics:
    points = history.points
    ts = np.array([p.ts for p in points], dtype=np.float64)
    ground = np.array([p.ground for p in points], dtype=np.float64).reshape(-1, 2)
    width, height = size
    if scenario.calibration:
        cal = scenario.calibration
        world = fit_homography(cal["image_points"], cal["world_points"]).to_world(ground)
    else:
        world = np.full_like(ground, np.nan)
    speed = _derivative(ts, world)
    speed_mag = np.hypot(speed[:, 0], speed[:, 1])
    # Acceleration along the direction of motion: the change of speed, signed.
    accel = _derivative(ts, speed_mag[:, None])[:, 0]
    return Kinematics(
        ts=ts,
        pixel=ground * [width, height],
        world=world,
        speed_kmh=speed_mag * 3.6,
        accel=accel,
        box_h=np.array([(p.box[3] - p.box[1]) * height for p in points]),
        conf=np.array([p.conf for p in points]),
    )


def _derivative(ts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """d values / dt by central differences over about +-DIFF_S (one-sided at the ends)."""
    out = np.full(values.shape, np.nan)
    for i, t in enumerate(ts):
        a = int(np.searchsorted(ts, t - DIFF_S))
        b = int(np.searchsorted(ts, t + DIFF_S, side="right")) - 1
        if b > a and ts[b] > ts[a]:
            out[i] = (values[b] - values[a]) / (ts[b] - ts[a])
    return out


def explain(scenario: Scenario, run: RunResult) -> str:
    verdicts, missed = match(scenario.events, run.reports)
    by_report = {id(v.report): v for v in verdicts}
    lines = [f"=== {scenario.name}: {len(run.reports)} report(s), {len(scenario.events)} true event(s)"]
    for event in scenario.events:
        lines.append(f"  truth: {_event_text(event)}")
    for report, candidate in zip(run.reports, run.events, strict=True):
        verdict = by_report.get(id(report))
        lines += _report_block(scenario, run, report, candidate.measurements, verdict)
    for event in missed:
        lines += _missed_block(scenario, run, event)
    if not run.reports and not missed:
        lines.append("  nothing reported and nothing missed")
    return "\n".join(lines) + "\n"


def _event_text(event: TruthEvent) -> str:
    speed = f", {event.speed_kmh:.1f} km/h" if event.speed_kmh is not None else ""
    return f"{event.type} {event.start:.2f}-{event.end:.2f} s ({event.cls}{speed})"


def _report_block(
    scenario: Scenario, run: RunResult, report: Report, measurements: dict[str, Any], verdict: Verdict | None
) -> list[str]:
    outcome = OUTCOMES.get(verdict.outcome if verdict else "fp", "?")
    against = f" of truth {_event_text(verdict.event)}" if verdict and verdict.event else ""
    lines = [
        "",
        f"--- {outcome}{against}: {report.type} triggered at {report.trigger:.2f} s by track(s) "
        f"{', '.join(map(str, report.track_ids))}",
    ]
    values = {k: v for k, v in measurements.items() if not k.endswith(UNCERTAINTY_SUFFIXES)}
    spread = {k: v for k, v in measurements.items() if k.endswith(UNCERTAINTY_SUFFIXES)}
    lines.append(f"    measurements: {_pairs(values) or '-'}")
    lines.append(f"    uncertainty:  {_pairs(spread) or 'none reported'}")
    for track_id in report.track_ids:
        t0, t1 = report.trigger - BEFORE_S, report.trigger + AFTER_S
        lines += _track_table(scenario, run, track_id, t0, t1, report.trigger)
    return lines


def _missed_block(scenario: Scenario, run: RunResult, event: TruthEvent) -> list[str]:
    lines = ["", f"--- MISSED {_event_text(event)}"]
    t0, t1 = event.start - MISSED_BEFORE_S, event.start + MISSED_AFTER_S
    near = [
        h
        for h in run.history.values()
        if (event.cls in ("", h.cls) or {event.cls, h.cls} <= {"car", "truck", "bus"})
        and any(t0 <= p.ts <= t1 for p in h.points)
    ]
    near.sort(key=lambda h: -sum(t0 <= p.ts <= t1 for p in h.points))
    if not near:
        lines.append(f"    no track of class {event.cls or 'any'} was seen between {t0:.2f} and {t1:.2f} s")
    for history in near[:3]:
        lines += _track_table(scenario, run, history.track_id, t0, t1, event.start)
    if len(near) > 3:
        lines.append(f"    ({len(near) - 3} more track(s) of that class in the window)")
    return lines


def _fragments(run: RunResult, uid: int) -> list[int]:
    """The track ids the rules joined to one road user (an event names it by its first one)."""
    return sorted({uid, *(tid for tid, user in run.road_user.items() if user == uid)})


def road_user_history(run: RunResult, uid: int) -> TrackHistory | None:
    """All the points of one road user, over every track fragment the rules joined to it, in time order.

    After an id switch a road user's points are on other tracks, which the event alone does not name."""
    histories = [run.history[tid] for tid in _fragments(run, uid) if tid in run.history and run.history[tid].points]
    if not histories:
        return None
    by_ts = {p.ts: p for h in histories for p in h.points}  # a frame seen on two fragments counts once
    last = max(histories, key=lambda h: h.points[-1].ts)
    return TrackHistory(uid, last.cls, [by_ts[ts] for ts in sorted(by_ts)])


def _track_table(scenario: Scenario, run: RunResult, track_id: int, t0: float, t1: float, mark: float) -> list[str]:
    history = road_user_history(run, track_id)
    if history is None:
        return [f"    track {track_id}: no recorded points"]
    k = kinematics(history, scenario, run.size)
    inside = np.flatnonzero((k.ts >= t0) & (k.ts <= t1))
    span = f"seen {k.ts[0]:.2f}-{k.ts[-1]:.2f} s in {len(k.ts)} frames"
    fragments = _fragments(run, track_id)
    joined = f", tracks {', '.join(map(str, fragments))} joined" if len(fragments) > 1 else ""
    lines = [f"    track {track_id} ({history.cls}, {span}{joined}); window {t0:.2f}-{t1:.2f} s:"]
    if not len(inside):
        return [*lines, "      no points in the window"]
    step = max(1, int(np.ceil(len(inside) / MAX_ROWS)))
    lines.append("         t s    u px    v px     x m     y m   km/h   a m/s2  box px  conf")
    previous = None
    for i in inside[::step]:
        gap = ""
        if previous is not None and k.ts[i] - k.ts[previous] > 1.6 * step / max(run.detect_fps, 1e-6):
            gap = f"  <- gap of {k.ts[i] - k.ts[previous]:.2f} s"
        marker = ">" if abs(k.ts[i] - mark) <= 0.5 * step / max(run.detect_fps, 1e-6) else " "
        lines.append(
            f"      {marker}{k.ts[i]:6.2f} {k.pixel[i, 0]:7.1f} {k.pixel[i, 1]:7.1f} {_num(k.world[i, 0], 7, 2)} "
            f"{_num(k.world[i, 1], 7, 2)} {_num(k.speed_kmh[i], 6, 1)} {_num(k.accel[i], 8, 2)} "
            f"{k.box_h[i]:7.1f} {k.conf[i]:5.2f}{gap}"
        )
        previous = i
    window = inside[np.isfinite(k.speed_kmh[inside])]
    if len(window):
        speeds, accels = k.speed_kmh[window], k.accel[window]
        lines.append(
            f"      in the window: speed {np.nanmin(speeds):.1f}-{np.nanmax(speeds):.1f} km/h, "
            f"acceleration {np.nanmin(accels):.2f} to {np.nanmax(accels):.2f} m/s2"
        )
    return lines


def _num(value: float, width: int, digits: int) -> str:
    return f"{value:{width}.{digits}f}" if np.isfinite(value) else f"{'-':>{width}}"


def _pairs(values: dict[str, Any]) -> str:
    out = []
    for key in sorted(values):
        value = values[key]
        out.append(f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}")
    return ", ".join(out)
