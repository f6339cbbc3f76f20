"""``manage.py evaluate SCENARIO...``: score the live detection path on labelled scenarios.

A scenario that cannot be read or run does not stop the others: it is scored as missing all its
true events (when its truth could be read), named at the end, and the command exits non-zero.
``--explain NAME`` runs only the named scenario(s) and prints, for each report and each missed
event, the involved tracks' measured kinematics around the decision.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cameras.config import EVENT_TYPES
from core.health import ping_queues
from core.processes import DETECT_ENV, detect_worker_argv
from detection.scenarios.explain import explain
from detection.scenarios.format import Scenario, ScenarioError, load_scenario, scenario_folders
from detection.scenarios.runner import RunResult, ScenarioRunError, run_scenario
from detection.scenarios.score import Report, TypeScore, score, table_lines, total


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _name(item: Scenario | tuple[Path, str]) -> str:
    return item[0].name if isinstance(item, tuple) else item.name


class Command(BaseCommand):
    help = "Run scenarios (folders with video.mp4 + scenario.json) through capture, detection and rules; score them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("scenarios", nargs="+", help="scenario folders, or folders that contain scenario folders")
        parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
        parser.add_argument("--realtime", action="store_true", help="play videos at their frame rate")
        parser.add_argument("--fps", type=float, help="detect fps (default: every frame of the video)")
        parser.add_argument("--in-flight", type=int, default=2 * (os.cpu_count() or 1))
        parser.add_argument(
            "--no-worker", action="store_true", help="do not start a detect worker when none answers (fail instead)"
        )
        parser.add_argument(
            "--explain",
            action="append",
            metavar="NAME",
            help="run only this scenario (name or folder name; repeatable) and explain each report and miss",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            folders = scenario_folders(options["scenarios"])
        except ScenarioError as exc:
            raise CommandError(str(exc)) from None
        scenarios: list[Scenario | tuple[Path, str]] = []  # a scenario, or a folder and why it cannot be read
        for folder in folders:
            try:
                scenarios.append(load_scenario(folder))
            except ScenarioError as exc:
                scenarios.append((folder, str(exc)))
        if options["explain"]:
            scenarios = self._explained(scenarios, options["explain"])
        worker = self._ensure_worker(options["no_worker"])
        results: list[dict[str, Any]] = []
        failed: list[str] = []
        per_type: dict[str, TypeScore] = {kind: TypeScore() for kind in EVENT_TYPES}
        interrupted: list[str] = []
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            for index, scenario in enumerate(scenarios, start=1):
                if interrupted:
                    interrupted.append(_name(scenario))
                    continue
                if isinstance(scenario, tuple):
                    folder, error = scenario
                    failed.append(f"{folder.name}: {error}")
                    results.append(self._failed_result(folder.name, [], error))
                    continue
                label = f"[{index}/{len(scenarios)}] {scenario.name}"
                try:
                    run = run_scenario(
                        scenario,
                        fps=options["fps"],
                        realtime=options["realtime"],
                        in_flight=options["in_flight"],
                        progress=None if options["json"] else self._progress(label),
                    )
                except KeyboardInterrupt:
                    # Ctrl-C or SIGTERM: what was scored so far is still printed; the rest is named.
                    interrupted.append(scenario.name)
                    continue
                except Exception as exc:  # one broken scenario must not stop the others
                    error = str(exc) if isinstance(exc, ScenarioRunError) else f"{type(exc).__name__}: {exc}"
                    failed.append(f"{scenario.name}: {error}")
                    # Its true events count as missed: a crash detects nothing.
                    for kind, result in score(scenario.events, []).items():
                        per_type[kind].add(result)
                    results.append(self._failed_result(scenario.name, scenario.events, error))
                    if not options["json"]:
                        sys.stderr.write(f"\n  {scenario.name}: FAILED: {error}\n")
                    continue
                scores = score(scenario.events, run.reports)
                for kind, result in scores.items():
                    per_type[kind].add(result)
                results.append(self._scenario_result(scenario.name, scenario.events, run.reports, scores, run))
                if not options["json"]:
                    sys.stderr.write("\n")
                    self._print_scenario(results[-1])
                if options["explain"]:
                    # With --json the explanation goes to stderr, so stdout stays one JSON document.
                    (self.stderr if options["json"] else self.stdout).write(explain(scenario, run))
        finally:
            signal.signal(signal.SIGTERM, previous)
            if worker is not None:
                worker.terminate()
                worker.wait(30)
        overall = total(per_type)
        summary = {kind: per_type[kind].as_dict() for kind in EVENT_TYPES} | {"overall": overall.as_dict()}
        if options["json"]:
            self.stdout.write(json.dumps({"scenarios": results, "summary": summary}, indent=2))
        else:
            self._print_table(summary)
        if interrupted:
            raise CommandError(
                f"interrupted: {len(interrupted)} of {len(scenarios)} scenario(s) not scored "
                f"(the summary covers the others): {', '.join(interrupted)}"
                + (f"; and {len(failed)} failed: " + "; ".join(failed) if failed else "")
            )
        if failed:
            raise CommandError(
                f"{len(failed)} of {len(scenarios)} scenario(s) failed (their true events count as missed):\n  "
                + "\n  ".join(failed)
            )

    # -- helpers --------------------------------------------------------------------------------
    def _explained(
        self, scenarios: list[Scenario | tuple[Path, str]], names: list[str]
    ) -> list[Scenario | tuple[Path, str]]:
        def names_of(item: Scenario | tuple[Path, str]) -> set[str]:
            return {item[0].name} if isinstance(item, tuple) else {item.name, item.folder.name}

        chosen = [item for item in scenarios if names_of(item) & set(names)]
        unknown = sorted(set(names) - set().union(*(names_of(item) for item in chosen)))
        if unknown:
            raise CommandError(f"--explain: no scenario named {', '.join(unknown)} among the given folders")
        return chosen

    def _ensure_worker(self, no_worker: bool) -> subprocess.Popen[bytes] | None:
        if ping_queues(("detect",), timeout_s=3)["detect"]["ok"]:
            return None
        if no_worker:
            raise CommandError("no worker consumes the detect queue; start one or drop --no-worker")
        self.stderr.write("no detect worker answered: starting one for this run")
        proc = subprocess.Popen(
            # The heavy imports happen once, before the pool forks (see worker_preload.py).
            detect_worker_argv(f"evaluate-{os.getpid()}", loglevel="WARNING"),
            env={**os.environ, **DETECT_ENV},
            cwd=settings.BASE_DIR,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not ping_queues(("detect",), timeout_s=90)["detect"]["ok"]:
            proc.kill()
            raise CommandError("the detect worker started for this run did not answer")
        return proc

    def _progress(self, label: str):  # type: ignore[no-untyped-def]
        def show(done: int, total_frames: int) -> None:
            width = 30
            filled = int(width * done / total_frames) if total_frames else 0
            sys.stderr.write(f"\r{label:<40.40} [{'#' * filled}{'.' * (width - filled)}] {done}/{total_frames}")
            sys.stderr.flush()

        return show

    def _failed_result(self, name: str, truth: list[Any], error: str) -> dict[str, Any]:
        """The same keys as a scored scenario's, plus the error."""
        scores = score(truth, [])
        run = RunResult(reports=[], events=[], frames=0, seconds=0.0)
        return self._scenario_result(name, truth, [], scores, run) | {"error": error}

    def _scenario_result(
        self, name: str, truth: list[Any], reports: list[Report], scores: dict[str, TypeScore], run: RunResult
    ) -> dict[str, Any]:
        return {
            "name": name,
            "frames": run.frames,
            "seconds": round(run.seconds, 2),
            "truth": [{"type": e.type, "start": e.start, "end": e.end, "speed_kmh": e.speed_kmh} for e in truth],
            "reports": [
                {
                    "type": r.type,
                    "trigger": round(r.trigger, 3),
                    "track_ids": list(r.track_ids),
                    "speed_kmh": r.speed_kmh,
                }
                for r in reports
            ],
            "tp": sum(s.tp for s in scores.values()),
            "fp": sum(s.fp for s in scores.values()),
            "fn": sum(s.fn for s in scores.values()),
        }

    def _print_scenario(self, result: dict[str, Any]) -> None:
        found = ", ".join(f"{r['type']}@{r['trigger']:.2f}s" for r in result["reports"]) or "nothing"
        verdict = "ok" if result["fp"] == 0 and result["fn"] == 0 else f"FP {result['fp']} FN {result['fn']}"
        self.stdout.write(
            f"  {result['name']}: reported {found} ({verdict}; {result['frames']} frames in {result['seconds']:.1f} s)"
        )

    def _print_table(self, summary: dict[str, dict[str, Any]]) -> None:
        self.stdout.write("")
        for line in table_lines(summary):
            self.stdout.write(line)
