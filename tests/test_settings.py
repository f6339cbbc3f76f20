"""Settings come from the environment and refuse bad values at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from trafficsite import redisurl
from trafficsite.env import env_bool, env_float, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent.parent
PROD_ENV = {
    "DJANGO_SECRET_KEY": "x" * 30 + "-production-secret-key-with-enough-entropy-9f8e7d",
    "DJANGO_ALLOWED_HOSTS": "traffic.example.org",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/trafficsite",
    "REDIS_URL": "redis://127.0.0.1:6379/14",
}


def run_django(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    clean["DJANGO_SETTINGS_MODULE"] = "trafficsite.settings"
    return subprocess.run(
        [sys.executable, *args], env={**clean, **env}, cwd=BASE_DIR, capture_output=True, text=True, timeout=120
    )


def test_it_parses_booleans_in_every_usual_spelling(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw, expected in [("1", True), ("Yes", True), ("on", True), ("false", False), ("0", False), ("OFF", False)]:
        monkeypatch.setenv("X_FLAG", raw)
        assert env_bool("X_FLAG", not expected) is expected


def test_it_rejects_a_misspelt_boolean_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_FLAG", "ture")
    with pytest.raises(ImproperlyConfigured, match=r"X_FLAG='ture'.*true/false"):
        env_bool("X_FLAG", False)


def test_it_checks_numbers_and_their_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_INT", "abc")
    with pytest.raises(ImproperlyConfigured, match="expected an integer"):
        env_int("X_INT", 1)
    monkeypatch.setenv("X_INT", "-3")
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env_int("X_INT", 1, minimum=0)
    monkeypatch.setenv("X_FLOAT", "500")
    with pytest.raises(ImproperlyConfigured, match="at most 120"):
        env_float("X_FLOAT", 1.0, maximum=120.0)
    monkeypatch.setenv("X_LIST", " a, ,b ,")
    assert env_list("X_LIST", []) == ["a", "b"]


def test_redis_urls_are_validated_and_translated_for_celery() -> None:
    assert redisurl.for_celery("redis://h:6379/2") == "redis://h:6379/2"
    assert redisurl.for_celery("unix:///run/r.sock?db=3") == "redis+socket:///run/r.sock?virtual_host=3"
    with pytest.raises(ImproperlyConfigured, match="must start with"):
        redisurl.validate("http://localhost:6379")
    with pytest.raises(ImproperlyConfigured, match="needs a host"):
        redisurl.validate("redis://")


def test_production_settings_require_a_secret_key() -> None:
    env = {k: v for k, v in PROD_ENV.items() if k != "DJANGO_SECRET_KEY"}
    proc = run_django(["-c", "import django; django.setup()"], env)
    assert proc.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in proc.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG='maybe'"),
        ("DATABASE_URL", "mysqlx://nowhere", "DATABASE_URL is not a database URL"),
        ("REDIS_URL", "memcached://x", "REDIS_URL must start with"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be"),
        ("LLM_LANGUAGE", "fr", "LLM_LANGUAGE must be"),
        ("CAMERA_OPEN_TIMEOUT_S", "0", "must be at least 0.5"),
        ("DETECT_PRECISION", "int4", "expected auto, int8 or fp32"),
        ("DETECT_CANVAS", "round", "expected rect or square"),
    ],
)
def test_a_bad_value_stops_the_process_with_a_clear_message(name: str, value: str, message: str) -> None:
    proc = run_django(["-c", "import django; django.setup()"], {**PROD_ENV, name: value})
    assert proc.returncode != 0
    assert message in proc.stderr


def test_the_detect_precision_is_int8_only_where_the_cpu_has_an_8_bit_dot_product() -> None:
    from core.cpu import int8_dot_product

    show = ["-c", "import django; django.setup(); from django.conf import settings; print(settings.DETECT_PRECISION)"]
    auto = run_django(show, PROD_ENV)
    assert auto.returncode == 0, auto.stderr
    assert auto.stdout.strip() == ("int8" if int8_dot_product() else "fp32")
    for chosen in ("int8", "fp32"):
        assert run_django(show, {**PROD_ENV, "DETECT_PRECISION": chosen.upper()}).stdout.strip() == chosen


def test_debug_is_off_unless_asked_for() -> None:
    proc = run_django(
        ["-c", "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"], PROD_ENV
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


@pytest.mark.slow
def test_check_deploy_is_clean_under_production_settings() -> None:
    proc = run_django(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PROD_ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no issues" in proc.stdout


def test_the_dashscope_keys_never_reach_a_log_line(caplog: pytest.LogCaptureFixture, settings) -> None:
    import logging

    from core.logging import RedactFilter

    settings.DASHSCOPE_API_KEYS = ["sk-0123456789abcdef0123456789abcdef"]
    record = logging.LogRecord(
        "x",
        logging.ERROR,
        __file__,
        1,
        "call with %s failed for %s",
        ("sk-0123456789abcdef0123456789abcdef", "rtsp://admin:hunter2@cam.example/live"),
        None,
    )
    RedactFilter().filter(record)
    text = record.getMessage()
    assert "0123456789abcdef0123" not in text
    assert "hunter2" not in text
    assert "rtsp://admin:***@cam.example/live" in text
