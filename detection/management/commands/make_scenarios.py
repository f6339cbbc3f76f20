"""``manage.py make_scenarios OUT``: compose labelled scenarios from real footage.

``--split dev|dev2|dev3|dev4|dev5|test|all`` (the default) writes the generated set, OUT/SPLIT/NAME
(tune on dev to dev5, report on test):
several camera rigs per split, both flow directions, near-threshold normal traffic and true events
of every type. ``--only NAME...`` writes only the named scenes; names of the original one-street
set (and the demo street) select that set instead, written straight into OUT.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cameras.config import ROAD_USER_CLASSES
from detection.detector import detect
from detection.scenarios import library, scene_set
from detection.scenarios.rigs import SPLITS


class Command(BaseCommand):
    help = "Generate dangerous-driving scenarios (video.mp4 + scenario.json) from real footage, deterministically."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", type=Path, help="folder to write the scenario folders into")
        parser.add_argument(
            "--split", choices=[*SPLITS, "all"], default="all", help="which split of the generated set (default: all)"
        )
        parser.add_argument("--only", nargs="+", metavar="NAME", help="generate only these scenarios")
        parser.add_argument("--jobs", type=int, default=1, help="render this many scenes at once (default 1)")

    def handle(self, *args: Any, **options: Any) -> None:
        def find(image: Any) -> list[tuple[str, float, tuple[float, float, float, float]]]:
            return [(b.cls, b.conf, b.xyxy) for b in detect(image, confidence=0.5, classes=ROAD_USER_CLASSES).boxes]

        only: list[str] | None = options["only"]
        legacy = {s.name for s in library.specs()} | {library.DEMO}
        if only and set(only) <= legacy:
            self._legacy(options["out"], find, only)
            return
        splits = list(SPLITS) if options["split"] == "all" else [options["split"]]
        if only:
            known = {name for split in splits for name, _, _ in scene_set.plan(split)}
            unknown = sorted(set(only) - known)
            if unknown:
                raise CommandError(f"unknown scenario name(s) in split {options['split']}: {', '.join(unknown)}")
        started = time.perf_counter()
        counts: Counter[str] = Counter()
        for split in splits:
            results = scene_set.generate_split(
                options["out"], split, find, only, progress=self._show, jobs=max(1, options["jobs"])
            )
            for drawn in results:
                counts.update({f"{split}/{t}" for t in drawn.scene.expect} or {f"{split}/normal"})
        if not only:
            scene_set.write_readme(options["out"], _commit())
        self.stdout.write(
            f"{sum(counts.values())} generated scenarios in {options['out']} "
            f"({time.perf_counter() - started:.0f} s): {dict(sorted(counts.items()))}"
            + ("" if only else "; plus one real intersection clip per split")
        )

    def _show(self, drawn: scene_set.Drawn) -> None:
        kinds = sorted({e.type for e in drawn.events})
        self.stdout.write(f"{drawn.split}/{drawn.name}: {', '.join(kinds) or 'no event'}")

    def _legacy(self, out: Path, find: Any, only: list[str]) -> None:
        try:
            results = library.generate(out, find, only)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for spec, events in results:
            kinds = sorted({e.type for e in events})
            marker = "" if set(kinds) == spec.expect else f"  (script meant {sorted(spec.expect) or 'nothing'})"
            self.stdout.write(f"{spec.name}: {', '.join(kinds) or 'no event'}{marker}")
        self.stdout.write(f"{len(results)} scenarios in {out}")


def _commit() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "detection/scenarios"], capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip() + ("+uncommitted changes" if dirty.stdout.strip() else "")
