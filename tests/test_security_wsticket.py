"""Issue 12, Low: the websocket takes no API token in its URL; clients without headers use a
short-lived signed ticket from POST /api/v1/ws-ticket/."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.test_alerts_live import ORIGIN, connected, run, socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token() -> Token:
    return Token.objects.create(user=User.objects.create_user("robot", is_staff=True))


def ticket_for(token: Token) -> str:
    response = Client().post("/api/v1/ws-ticket/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200 and response.json()["expires_in"] == 60
    return str(response.json()["ticket"])


async def refused(path: str) -> bool:
    ws = socket(path, ORIGIN)
    ok, _ = await ws.connect()
    await ws.disconnect()
    return not ok


def test_a_token_in_the_url_is_not_accepted(token: Token) -> None:
    async def scenario() -> None:
        assert await refused(f"/ws/alerts/?token={token.key}")

    run(scenario)


def test_a_ticket_opens_the_socket_once_valid_and_not_after_it_expires(
    token: Token, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticket = ticket_for(token)
    assert token.key not in ticket
    assert Client().post("/api/v1/ws-ticket/").status_code == 401

    async def scenario() -> None:
        ws = socket(f"/ws/alerts/?ticket={ticket}", ORIGIN)
        await connected(ws)
        await ws.disconnect()
        assert await refused(f"/ws/alerts/?ticket={ticket[:-2]}xx")  # tampered
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + 61)  # the clock signing reads
        assert await refused(f"/ws/alerts/?ticket={ticket}")  # expired

    run(scenario)


def test_a_ticket_of_a_user_who_is_no_operator_opens_nothing(token: Token, settings: Any) -> None:
    ticket = ticket_for(token)
    User.objects.filter(pk=token.user_id).update(is_staff=False)

    async def scenario() -> None:
        assert await refused(f"/ws/alerts/?ticket={ticket}")

    run(scenario)
