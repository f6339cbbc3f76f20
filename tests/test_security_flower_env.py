"""Issue 12, Low: Flower gets only what it needs from the environment (the broker, its own options),
not the database password, the DashScope keys or the site's secret key; its Celery app still loads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.processes import BY_NAME

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {
    "DATABASE_URL": "postgres://trafficsite:db-password-123@db:5432/trafficsite",
    "DASHSCOPE_API_KEYS": "sk-real-key-0123456789",
    "DJANGO_SECRET_KEY": "the-site-secret-key-that-signs-sessions-0123456789",
    "METRICS_TOKEN": "metrics-token-0123456789",
    "MQTT_URL": "mqtts://user:mqtt-password@broker:8883",
}


def test_flower_gets_the_broker_and_its_options_and_no_secret_of_the_application() -> None:
    given = {
        **os.environ,
        **SECRETS,
        "REDIS_URL": "redis://127.0.0.1:6379/9",
        "FLOWER_BASIC_AUTH": "ops:pw-123456789012",
    }
    env = BY_NAME["flower"].environ(given)
    assert env["REDIS_URL"] == given["REDIS_URL"] and env["FLOWER_BASIC_AUTH"] == given["FLOWER_BASIC_AUTH"]
    leaked = [name for name, value in SECRETS.items() if value in env.values()]
    assert leaked == []
    loads = subprocess.run(
        [sys.executable, "-c", "from trafficsite.celery import app; app.loader.import_default_modules(); print('ok')"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert loads.returncode == 0 and loads.stdout.strip().endswith("ok"), loads.stderr[-2000:]
    assert BY_NAME["worker-alerts"].environ(given)["DATABASE_URL"] == SECRETS["DATABASE_URL"]  # others keep it
