"""Issue 12, Medium 7 and Low items: placeholder secrets from compose/.env.example stop the process,
DEBUG without a key gets no fixed public key, HSTS preload is opt-in."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.test_settings import PROD_ENV, run_django

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = dict(
    line.split("=", 1)
    for line in (ROOT / "compose" / ".env.example").read_text().splitlines()
    if re.match(r"^\w+=", line)
)
SETUP = ["-c", "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DJANGO_SECRET_KEY", EXAMPLE["DJANGO_SECRET_KEY"]),
        ("DATABASE_URL", f"postgres://trafficsite:{EXAMPLE['POSTGRES_PASSWORD']}@127.0.0.1:5432/trafficsite"),
        ("METRICS_TOKEN", "change-me-metrics-token"),
        ("REDIS_URL", f"redis://:{EXAMPLE['REDIS_PASSWORD']}@127.0.0.1:6379/14"),
        ("CELERY_BROKER_URL", f"amqp://trafficsite:{EXAMPLE['RABBITMQ_PASSWORD']}@127.0.0.1:5672/trafficsite"),
    ],
)
def test_a_placeholder_secret_from_the_example_stops_the_process(name: str, value: str) -> None:
    proc = run_django(SETUP, {**PROD_ENV, name: value})
    assert proc.returncode != 0
    assert f"{name}" in proc.stderr and "placeholder" in proc.stderr
    assert value not in proc.stderr  # the secret itself is never printed


def test_flower_refuses_the_placeholder_password() -> None:
    env = {**os.environ, "FLOWER_BASIC_AUTH": EXAMPLE["FLOWER_BASIC_AUTH"]}
    proc = subprocess.run(
        [str(ROOT / "compose" / "start" / "flower")], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 64 and "placeholder" in proc.stderr


def test_debug_without_a_key_gets_a_random_one_not_a_fixed_public_one() -> None:
    env = {k: v for k, v in PROD_ENV.items() if k != "DJANGO_SECRET_KEY"} | {"DJANGO_DEBUG": "true"}
    first, second = (run_django(SETUP, env) for _ in range(2))
    assert first.returncode == 0 and second.returncode == 0, first.stderr
    keys = {first.stdout.strip(), second.stdout.strip()}
    assert len(keys) == 2 and all(len(key) >= 50 for key in keys)
    assert not any("insecure" in key for key in keys)


def test_hsts_preload_is_opt_in() -> None:
    show = [
        "-c",
        "import django; django.setup(); from django.conf import settings; print(settings.SECURE_HSTS_PRELOAD)",
    ]
    assert run_django(show, PROD_ENV).stdout.strip() == "False"
    assert run_django(show, {**PROD_ENV, "DJANGO_HSTS_PRELOAD": "true"}).stdout.strip() == "True"


def test_compose_redis_has_a_password_and_a_memory_bound() -> None:
    import yaml

    compose = yaml.safe_load((ROOT / "compose" / "docker-compose.yml").read_text())
    command = compose["services"]["redis"]["command"]
    assert "--requirepass" in command and "--maxmemory" in command
    assert compose["services"]["web"]["environment"]["REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?")
