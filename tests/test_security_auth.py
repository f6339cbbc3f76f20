"""Issue 12, Low: API tokens expire, failed logins are throttled, the API is rate-limited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.throttling import UserRateThrottle

from alerts.wsauth import user_for_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clean_counters() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db(transaction=True)
def test_an_api_token_older_than_its_lifetime_is_refused(settings: Any) -> None:
    settings.API_TOKEN_TTL_DAYS = 90
    user = User.objects.create_user("robot", is_staff=True)
    token = Token.objects.create(user=user)
    headers = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    assert Client().get("/api/v1/alerts/", **headers).status_code == 200
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - timedelta(days=91))
    expired = Client().get("/api/v1/alerts/", **headers)
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    assert not async_to_sync(user_for_token)(token.key).is_authenticated  # the websocket too


def test_failed_logins_are_throttled_per_user_name_and_address(settings: Any) -> None:
    settings.LOGIN_FAILURE_LIMIT = 3
    User.objects.create_superuser("ada", password="a-long-admin-password")
    client = Client()
    for _ in range(3):
        response = client.post("/admin/login/", {"username": "ada", "password": "wrong-guess"})
        assert response.status_code == 200  # the form again, with its error
    blocked = client.post("/admin/login/", {"username": "ada", "password": "a-long-admin-password"})
    assert blocked.status_code == 429 and blocked["Retry-After"]
    cache.clear()  # the window passed
    assert client.post("/admin/login/", {"username": "ada", "password": "a-long-admin-password"}).status_code == 302


def test_api_calls_are_rate_limited_per_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"anon": "3/min", "user": "3/min"})
    token = Token.objects.create(user=User.objects.create_user("robot", is_staff=True))
    api = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    codes = [api.get("/api/v1/alerts/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
