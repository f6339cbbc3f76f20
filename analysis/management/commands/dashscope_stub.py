from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.stub import KINDS, DashScopeStub, Scripted


class Command(BaseCommand):
    help = (
        "Serve a local stand-in for DashScope's multimodal-generation endpoint (scripted replies), for the "
        "demo without a real key. Point the workers at it with DASHSCOPE_BASE_URL and any DASHSCOPE_API_KEYS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8089)
        parser.add_argument("--latency", type=float, default=0.8, help="seconds each reply takes (a model's pace)")
        parser.add_argument("--default", default="ok", choices=KINDS, help="the reply when nothing is scripted")
        parser.add_argument(
            "--script",
            default="",
            help=f"comma-separated replies to give first, in order; kinds: {', '.join(KINDS)}",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            stub = DashScopeStub(options["host"], options["port"], latency_s=options["latency"],
                                 default=options["default"])  # fmt: skip
            stub.script(*(Scripted(kind.strip()) for kind in options["script"].split(",") if kind.strip()))
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stub.start()
        self.stdout.write(f"DashScope stub listening: DASHSCOPE_BASE_URL={stub.base_url}", ending="\n")
        self.stdout.flush()
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            stub.stop()
