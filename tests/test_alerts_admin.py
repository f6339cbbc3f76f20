"""Pages around alerts: the dashboard and camera snapshots (staff only), webhook destinations, API tokens
and false-positive rates in the admin. Secrets never reach a list or a form."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from alerts.models import Alert, WebhookDestination
from cameras.live import snapshot_key
from core.redisclient import get_redis
from tests.factories import make_alert, make_camera
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("ada", password="a-long-admin-password"))
    return client


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


def test_the_dashboard_needs_a_staff_login(client: Client) -> None:
    response = client.get("/dashboard/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(User.objects.create_user("clerk", password="a-long-clerk-password"))
    assert client.get("/dashboard/").status_code == 302
    assert client.get("/").status_code == 302 and client.get("/")["Location"] == "/dashboard/"


def test_the_dashboard_page_carries_its_configuration_and_a_strict_policy(admin_client: Client) -> None:
    response = admin_client.get("/dashboard/")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    page = response.content.decode()
    config = json.loads(
        re.search(r'<script id="dashboard-config" type="application/json">(.*?)</script>', page, re.S)[1]
    )
    assert config["wsPath"] == "/ws/alerts/" and config["csrfToken"]
    assert config["api"]["review"] == "/api/v1/alerts/0/review/"
    assert "<script>" not in page  # no inline code: the policy forbids it


def test_camera_snapshots_are_served_to_staff_only(client: Client, admin_client: Client) -> None:
    camera = make_camera()
    url = reverse("alerts:camera_snapshot", args=[camera.pk])
    assert admin_client.get(url).status_code == 404  # not captured
    get_redis().set(snapshot_key(camera.pk), b"\xff\xd8annotated", ex=30)
    try:
        response = admin_client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
        assert response.content == b"\xff\xd8annotated" and "no-cache" in response["Cache-Control"]
        assert Client().get(url).status_code == 302
    finally:
        get_redis().delete(snapshot_key(camera.pk))


def test_a_new_destination_gets_a_generated_secret_that_is_never_shown_again(admin_client: Client) -> None:
    add_url = reverse("admin:alerts_webhookdestination_add")
    generated = re.search(r'name="secret" value="([^"]+)"', admin_client.get(add_url).content.decode())
    assert generated and len(generated[1]) >= 40
    url = "https://hooks.example.org/services/T000/B000/tokentokentoken"
    response = admin_client.post(add_url, {"name": "Ops", "url": url, "secret": generated[1], "enabled": "on",
                                           "min_severity": "3"})  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    target = WebhookDestination.objects.get()
    assert target.secret == generated[1]
    listing = admin_client.get(reverse("admin:alerts_webhookdestination_changelist")).content.decode()
    assert (
        "https://hooks.example.org/…" in listing and "tokentokentoken" not in listing and target.secret not in listing
    )
    change_url = reverse("admin:alerts_webhookdestination_change", args=[target.pk])
    assert target.secret not in admin_client.get(change_url).content.decode()
    # Saving without a secret keeps it; typing one rotates it; a short one is refused.
    form = {"name": "Ops", "url": url, "enabled": "on", "min_severity": "4"}
    assert admin_client.post(change_url, {**form, "secret": ""}).status_code == 302
    target.refresh_from_db()
    assert (target.secret, target.min_severity) == (generated[1], 4)
    assert admin_client.post(change_url, {**form, "secret": "a-brand-new-secret-value"}).status_code == 302
    assert WebhookDestination.objects.get().secret == "a-brand-new-secret-value"
    assert "16 characters" in admin_client.post(change_url, {**form, "secret": "short"}).content.decode()


def test_api_tokens_are_listed_masked_and_shown_once_on_creation(admin_client: Client) -> None:
    operator = User.objects.create_user("olga", password="a-long-operator-password", is_staff=True)
    response = admin_client.post(reverse("admin:authtoken_tokenproxy_add"), {"user": operator.pk})
    token = Token.objects.get(user=operator)
    assert response.status_code == 200 and '<code id="new-token"' in response.content.decode()
    assert token.key in response.content.decode()
    listing = admin_client.get(reverse("admin:authtoken_tokenproxy_changelist")).content.decode()
    assert token.key not in listing and f"…{token.key[-4:]}" in listing


def test_the_false_positive_rates_page_shows_rates_per_camera_and_rule(admin_client: Client) -> None:
    reviewer = User.objects.get(username="ada")
    gate = make_camera(name="Gate")
    for status in ["false_positive", "false_positive", "confirmed", "new"]:
        alert = make_alert(gate, event_type="tailgating")
        if status != "new":
            Alert.objects.filter(pk=alert.pk).review(status, reviewer)
    listing = admin_client.get(reverse("admin:alerts_alert_changelist")).content.decode()
    assert reverse("admin:alerts_alert_rates") in listing and reverse("alerts:dashboard") in listing
    page = admin_client.get(reverse("admin:alerts_alert_rates") + "?days=7").content.decode()
    assert "67 %</strong> of 3" in page
    assert page.count("Gate") >= 2 and "Tailgating" in page
