"""Token login for websocket clients that are not browsers (browsers use their session cookie).

The token is the REST API's (``Authorization: Token <key>``). Clients that cannot set headers on a
websocket pass a short-lived signed ticket instead (``?ticket=``, alerts/wsticket.py): never the
token itself in the URL, since URLs end up in proxy logs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from django.contrib.auth.models import AnonymousUser

from alerts.asyncdb import db
from alerts.wsticket import user_id_from

Scope = dict[str, Any]


def token_from_scope(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, key = bytes(value).decode("latin1").partition(" ")
            if kind.lower() in {"token", "bearer"} and key.strip():
                return key.strip()
    return None


def ticket_from_scope(scope: Scope) -> str | None:
    values = parse_qs(bytes(scope.get("query_string", b"")).decode("latin1")).get("ticket")
    return values[0] if values else None


@db
def user_for_ticket(ticket: str) -> Any:
    from django.contrib.auth import get_user_model

    user_id = user_id_from(ticket)
    user = get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None
    return user if user is not None and user.is_active else AnonymousUser()


@db
def user_for_token(key: str) -> Any:
    from rest_framework.authtoken.models import Token

    from alerts.api.authentication import token_expired

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active or token_expired(token):
        return AnonymousUser()
    return token.user


class TokenAuthMiddleware:
    """Sits inside AuthMiddlewareStack: a session login wins, a token logs in everybody else."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        user = scope.get("user")
        if not getattr(user, "is_authenticated", False) and (key := token_from_scope(scope)):
            # The key stays in the scope so the consumer can re-check it on every heartbeat.
            scope = {**scope, "user": await user_for_token(key), "auth_token": key}
        elif not getattr(user, "is_authenticated", False) and (ticket := ticket_from_scope(scope)):
            scope = {**scope, "user": await user_for_ticket(ticket), "auth_ticket": True}
        return await self.app(scope, receive, send)
