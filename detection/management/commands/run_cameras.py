from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from core import metrics
from detection.capture.supervisor import Supervisor


class Command(BaseCommand):
    help = "Capture supervisor: one process per enabled camera, shared with other supervisors via Redis leases."

    def handle(self, *args: Any, **options: Any) -> None:
        metrics.serve()
        Supervisor().run()
