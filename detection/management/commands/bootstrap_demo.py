"""Create the operator login and the demo camera on the bundled intersection clip (idempotent)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from cameras.models import Camera
from core.secretfile import replace_secret_file
from detection.assets import CLIP_CARS_TRUCK, asset_path
from detection.scenarios.library import DEMO

DEMO_CAMERA = "Demo intersection"
DEMO_STREET_CAMERA = "Demo street (composed, calibrated)"


class Command(BaseCommand):
    help = "Create (or show) the operator login and the demo camera."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="operator")
        parser.add_argument("--reset-password", action="store_true", help="give the operator a new password")

    def handle(self, *args: Any, **options: Any) -> None:
        username, password = self.ensure_operator(options["username"], options["reset_password"])
        camera, created = Camera.objects.get_or_create(
            # 2 fps: this one shows detection and tracking (no calibration); the street camera gets the
            # detect capacity for its rules.
            name=DEMO_CAMERA,
            defaults={"source_url": str(asset_path(CLIP_CARS_TRUCK)), "detect_fps": 2.0},
        )
        self.stdout.write(f"{'created' if created else 'kept'} camera {camera.name!r} ({camera.masked_source})")
        self.ensure_street_camera()
        self.stdout.write("")
        self.stdout.write(f"  operator login: {username}")
        self.stdout.write(f"  password:       {password}")
        self.stdout.write("")

    def ensure_street_camera(self) -> None:
        """A calibrated camera on a composed street clip, so the demo shows rules and alerts at work.

        The real intersection clip has no calibration to go with it; the composed clip has one by
        construction (see detection/scenarios). Made once, into the data folder's videos/.
        """
        folder = Path(settings.DATA_DIR) / "videos"
        scenario = folder / DEMO
        if not (scenario / "scenario.json").exists():
            self.stdout.write("composing the demo street clip from the intersection footage (once)...")
            call_command("make_scenarios", str(folder), "--only", DEMO, stdout=self.stdout)
        camera_block = json.loads((scenario / "scenario.json").read_text())["camera"]
        camera, created = Camera.objects.get_or_create(
            name=DEMO_STREET_CAMERA,
            defaults={
                "source_url": str(scenario / "video.mp4"),
                "detect_fps": 10.0,
                "calibration": camera_block["calibration"],
                "zones": camera_block["zones"],
                "speed_limit_kmh": camera_block["speed_limit_kmh"],
            },
        )
        self.stdout.write(f"{'created' if created else 'kept'} camera {camera.name!r} ({camera.masked_source})")

    def ensure_operator(self, username: str, reset: bool) -> tuple[str, str]:
        """The generated password is printed once, when it is made (or reset), and kept (mode 600) in
        the data folder until the operator changes it."""
        User = get_user_model()
        stored = Path(settings.DATA_DIR) / "operator_password"
        user = User.objects.filter(username=username).first()
        if user is None or reset:
            password = secrets.token_urlsafe(12)
            if user is None:
                User.objects.create_superuser(username=username, email="", password=password)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            replace_secret_file(stored, password)
            return username, password
        # Printed on creation or reset only: not in the scroll-back or log of every later start.
        password = stored.read_text().strip() if stored.exists() else ""
        if password and user.check_password(password):
            return username, f"(as printed when it was made; also in {stored})"
        return username, "(changed by you; `manage.py bootstrap_demo --reset-password` sets a new one)"
