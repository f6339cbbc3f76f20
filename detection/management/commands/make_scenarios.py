"""``manage.py make_scenarios OUT``: compose the labelled scenario set from the real intersection clips."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cameras.config import ROAD_USER_CLASSES
from detection.detector import detect
from detection.scenarios.library import generate


class Command(BaseCommand):
    help = "Generate dangerous-driving scenarios (video.mp4 + scenario.json) from real footage, deterministically."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", type=Path, help="folder to write the scenario folders into")
        parser.add_argument("--only", nargs="+", metavar="NAME", help="generate only these scenarios")

    def handle(self, *args: Any, **options: Any) -> None:
        def find(image: Any) -> list[tuple[str, float, tuple[float, float, float, float]]]:
            return [(b.cls, b.conf, b.xyxy) for b in detect(image, confidence=0.5, classes=ROAD_USER_CLASSES).boxes]

        try:
            results = generate(options["out"], find, options["only"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        counts: Counter[str] = Counter()
        for spec, events in results:
            kinds = sorted({e.type for e in events})
            counts.update(kinds or ["normal"])
            marker = "" if set(kinds) == spec.expect else f"  (script meant {sorted(spec.expect) or 'nothing'})"
            self.stdout.write(f"{spec.name}: {', '.join(kinds) or 'no event'}{marker}")
        self.stdout.write(f"{len(results)} scenarios in {options['out']}: {dict(counts)}")
