"""Issue 12, Medium 6: anonymous /readyz says only its status; its details and /metrics need the
metrics token or a staff login; the compose stack scrapes the web process on an unpublished port."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.contrib.auth.models import User
from django.test import Client

from core import readiness
from tests.support.scrape import METRICS_AUTH

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fresh_readyz() -> None:
    readiness.forget()


@pytest.mark.django_db
def test_anonymous_readyz_gives_its_status_and_nothing_else(client: Client, settings) -> None:
    settings.READYZ_TIMEOUT_S = 0.5
    response = client.get("/readyz")
    assert set(response.json()) == {"status"} and response.status_code in (200, 503)
    detailed = client.get("/readyz", **METRICS_AUTH).json()
    assert {"status", "checks", "failing"} <= set(detailed)
    wrong = client.get("/readyz", HTTP_AUTHORIZATION="Bearer not-the-token").json()
    assert set(wrong) == {"status"}
    client.force_login(User.objects.create_user("ops", password="a-long-ops-password", is_staff=True))
    assert "checks" in client.get("/readyz").json()


@pytest.mark.django_db
def test_metrics_need_the_token_or_a_staff_login(client: Client, settings) -> None:
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    assert b"django_http_requests" in client.get("/metrics", **METRICS_AUTH).content
    settings.METRICS_TOKEN = ""  # no token configured: no bearer value opens it, not even an empty one
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    client.force_login(User.objects.create_user("ops", password="a-long-ops-password", is_staff=True))
    assert client.get("/metrics").status_code == 200


def test_the_compose_stack_scrapes_the_web_process_on_its_unpublished_metrics_port() -> None:
    compose = yaml.safe_load((ROOT / "compose" / "docker-compose.yml").read_text())
    web = compose["services"]["web"]
    port = web["environment"]["WEB_METRICS_PORT"]
    assert not any(port in str(mapping) for mapping in web.get("ports", []))
    prometheus = yaml.safe_load((ROOT / "compose" / "prometheus" / "prometheus.yml").read_text())
    (job,) = [job for job in prometheus["scrape_configs"] if job["job_name"] == "web"]
    assert job["static_configs"][0]["targets"] == [f"web:{port}"]
