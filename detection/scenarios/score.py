"""Scoring of reported events against a scenario's true events (../shared/SCENARIOS.md, Scoring).

- A report matches a true event of the same type when its trigger time lies in
  [start - 0.5 s, end + 2.0 s]; matching is one to one, earliest first.
- Unmatched reports are false positives, unmatched true events false negatives.
- Repeats of the same track and type inside a matched event's window are duplicates, not false
  positives; they are counted and shown.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cameras.config import EVENT_TYPES
from detection.scenarios.format import TruthEvent

BEFORE_S, AFTER_S = 0.5, 2.0


@dataclass(frozen=True)
class Report:
    type: str
    trigger: float  # video time of the frame that triggered it
    track_ids: tuple[int, ...]
    speed_kmh: float | None = None


@dataclass
class TypeScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    duplicates: int = 0
    time_to_alert: list[float] = field(default_factory=list)
    speed_errors: list[float] = field(default_factory=list)

    def add(self, other: TypeScore) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.duplicates += other.duplicates
        self.time_to_alert += other.time_to_alert
        self.speed_errors += other.speed_errors

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, Any]:
        tta = np.asarray(self.time_to_alert) if self.time_to_alert else None
        errors = np.asarray(self.speed_errors) if self.speed_errors else None
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "duplicates": self.duplicates,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "tta_mean_s": float(tta.mean()) if tta is not None else None,
            "tta_p95_s": float(np.percentile(tta, 95)) if tta is not None else None,
            "speed_error_mean": float(errors.mean()) if errors is not None else None,
            "speed_error_max": float(errors.max()) if errors is not None else None,
        }


@dataclass(frozen=True)
class Verdict:
    """What one report turned out to be: a true positive (of ``event``), a duplicate, or a false positive."""

    report: Report
    outcome: str  # "tp", "duplicate" or "fp"
    event: TruthEvent | None = None


def match(truth: list[TruthEvent], reports: list[Report]) -> tuple[list[Verdict], list[TruthEvent]]:
    """Every report's verdict (in trigger order, per type) and the true events no report matched."""
    verdicts: list[Verdict] = []
    missed: list[TruthEvent] = []
    for kind in EVENT_TYPES:
        events = sorted((e for e in truth if e.type == kind), key=lambda e: e.start)
        matched: dict[int, tuple[int, ...]] = {}  # index of a true event -> the track ids that matched it
        for report in sorted((r for r in reports if r.type == kind), key=lambda r: r.trigger):
            window = [i for i, e in enumerate(events) if e.start - BEFORE_S <= report.trigger <= e.end + AFTER_S]
            free = [i for i in window if i not in matched]
            if free:
                matched[free[0]] = report.track_ids
                verdicts.append(Verdict(report, "tp", events[free[0]]))
            elif any(matched.get(i) == report.track_ids for i in window):
                first = next(i for i in window if matched.get(i) == report.track_ids)
                verdicts.append(Verdict(report, "duplicate", events[first]))
            else:
                verdicts.append(Verdict(report, "fp"))
        missed += [e for i, e in enumerate(events) if i not in matched]
    return verdicts, missed


def score(truth: list[TruthEvent], reports: list[Report]) -> dict[str, TypeScore]:
    scores: dict[str, TypeScore] = defaultdict(TypeScore)
    for kind in EVENT_TYPES:
        scores[kind] = TypeScore()
    verdicts, missed = match(truth, reports)
    for verdict in verdicts:
        result, report, event = scores[verdict.report.type], verdict.report, verdict.event
        if verdict.outcome == "tp" and event is not None:
            result.tp += 1
            result.time_to_alert.append(report.trigger - event.start)
            if report.type == "speeding" and event.speed_kmh and report.speed_kmh is not None:
                result.speed_errors.append(abs(report.speed_kmh - event.speed_kmh) / event.speed_kmh)
        elif verdict.outcome == "duplicate":
            result.duplicates += 1
        else:
            result.fp += 1
    for event in missed:
        scores[event.type].fn += 1
    return dict(scores)


def total(per_type: dict[str, TypeScore]) -> TypeScore:
    overall = TypeScore()
    for result in per_type.values():
        overall.add(result)
    return overall


def _fmt(value: float | None, pattern: str = "{:.2f}") -> str:
    return "-" if value is None else pattern.format(value)


def table_lines(summary: dict[str, dict[str, Any]]) -> list[str]:
    """The per-type score table that ``evaluate`` and ``replay_scenarios`` print (one home for its format)."""
    header = (
        f"{'type':<16} {'TP':>4} {'FP':>4} {'FN':>4} {'dup':>4} {'prec':>6} {'recall':>6} {'F1':>6} "
        f"{'TTA mean':>9} {'TTA p95':>8} {'speed err mean/max':>19}"
    )
    lines = [header, "-" * len(header)]
    for kind, row in summary.items():
        speed = (
            f"{_fmt(row['speed_error_mean'], '{:.1%}')}/{_fmt(row['speed_error_max'], '{:.1%}')}"
            if row["speed_error_mean"] is not None
            else "-"
        )
        lines.append(
            f"{kind:<16} {row['tp']:>4} {row['fp']:>4} {row['fn']:>4} {row['duplicates']:>4} "
            f"{_fmt(row['precision']):>6} {_fmt(row['recall']):>6} {_fmt(row['f1']):>6} "
            f"{_fmt(row['tta_mean_s'], '{:.2f}s'):>9} {_fmt(row['tta_p95_s'], '{:.2f}s'):>8} {speed:>19}"
        )
    return lines
