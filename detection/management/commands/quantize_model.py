"""Make the INT8 detector model from the bundled weights and clips (detection/quantize.py)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from detection import assets, quantize


class Command(BaseCommand):
    help = (
        "Quantize the bundled YOLOv8n to INT8 (static QDQ, calibrated on the bundled clips), deterministically; "
        "kept in the asset folder under the sha256 of its inputs and reused while valid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="make it again even when a valid one is cached")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            assets.fetch([assets.YOLO_WEIGHTS, *quantize.RECIPE.clips])
            path = quantize.build_int8(force=options["force"])
        except assets.AssetError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"ok {path}")
