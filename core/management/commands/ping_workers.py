from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.health import ping_queues
from core.topology import QUEUES


class Command(BaseCommand):
    help = "Check that a Celery worker consumes each queue (sends one ping per queue)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=10.0)
        parser.add_argument("queues", nargs="*", default=list(QUEUES))

    def handle(self, *args: Any, **options: Any) -> None:
        answers = ping_queues(tuple(options["queues"]), options["timeout"])
        for queue, answer in answers.items():
            self.stdout.write(f"{queue}: {'ok ' + str(answer.get('host')) if answer['ok'] else answer['error']}")
        if not all(answer["ok"] for answer in answers.values()):
            raise CommandError("some queues have no worker")
