"""``manage.py replay_scenarios SCENARIO...``: dev-only, fast scoring of the rules on cached detections.

YOLO runs once per scenario video (in this process) and its detections are cached; later runs replay
tracking and the rules in seconds. For tuning only: the numbers that count come from
``manage.py evaluate``, the live path (detection.scenarios.replay says where the two may differ).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cameras.config import EVENT_TYPES
from detection.scenarios.format import ScenarioError, load_scenario, scenario_folders
from detection.scenarios.replay import cached_detections, event_summary, replay, scenario_camera
from detection.scenarios.score import TypeScore, score, table_lines, total


class Command(BaseCommand):
    help = "Replay tracking + rules on cached YOLO detections of scenarios and score them (for tuning)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("scenarios", nargs="+", help="scenario folders, or folders that contain scenario folders")
        parser.add_argument("--fps", type=float, help="detect fps (default: every frame of the video)")
        parser.add_argument("--cache-dir", type=Path, default=settings.BASE_DIR / "var" / "replay-cache")
        parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
        parser.add_argument("--events", action="store_true", help="list every reported event with its measurements")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            scenarios = [load_scenario(f) for f in scenario_folders(options["scenarios"])]
        except ScenarioError as exc:
            raise CommandError(str(exc)) from None
        per_type = {kind: TypeScore() for kind in EVENT_TYPES}
        results: list[dict[str, Any]] = []
        for index, scenario in enumerate(scenarios, start=1):
            camera = scenario_camera(scenario, options["fps"])
            if not options["json"]:
                sys.stderr.write(f"\r[{index}/{len(scenarios)}] {scenario.name:<50.50}")
            frames = cached_detections(scenario, camera, options["cache_dir"])
            run = replay(scenario, frames, camera)
            scores = score(scenario.events, run.reports)
            for kind, type_score in scores.items():
                per_type[kind].add(type_score)
            results.append(
                {
                    "name": scenario.name,
                    "truth": [{"type": e.type, "start": e.start, "end": e.end, "speed_kmh": e.speed_kmh}
                              for e in scenario.events],
                    "reports": [event_summary(e) for e in run.events],
                    "fp": sum(s.fp for s in scores.values()),
                    "fn": sum(s.fn for s in scores.values()),
                }
            )  # fmt: skip
        summary = {kind: per_type[kind].as_dict() for kind in EVENT_TYPES} | {"overall": total(per_type).as_dict()}
        if options["json"]:
            self.stdout.write(json.dumps({"scenarios": results, "summary": summary}, indent=2))
            return
        sys.stderr.write("\n")
        for result in results:
            if result["fp"] or result["fn"] or options["events"]:
                truth = ", ".join(f"{t['type']}@{t['start']:.2f}-{t['end']:.2f}" for t in result["truth"]) or "none"
                self.stdout.write(f"{result['name']}: FP {result['fp']} FN {result['fn']} (truth: {truth})")
                for report in result["reports"]:
                    self.stdout.write(f"    {report['type']}@{report['trigger']:.2f} {report['track_ids']} "
                                      f"{json.dumps(report['measurements'])}")  # fmt: skip
        self._print_table(summary)

    def _print_table(self, summary: dict[str, dict[str, Any]]) -> None:
        for line in table_lines(summary):
            self.stdout.write(line)
