"""Is an open websocket still allowed? Re-checked on every heartbeat, not only at connect.

Logging out, losing staff status, deactivation, a password change or a deleted API token must
end a dashboard's feed of alerts and evidence URLs within one heartbeat, not whenever the
browser happens to reconnect. The credential a socket connected with is kept (session key or
token key, never shown) and checked again against the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils.crypto import constant_time_compare

from alerts.api.permissions import is_operator
from alerts.asyncdb import db


@dataclass(frozen=True)
class Credential:
    user_id: int
    session_key: str | None  # a browser's login
    token_key: str | None  # an API client's token (alerts/wsauth.py)
    ticket: bool = False  # a signed ticket (alerts/wsticket.py): only the user's standing is re-checked


def credential_from_scope(scope: dict[str, Any]) -> Credential:
    user = scope["user"]
    token_key = scope.get("auth_token")
    session = scope.get("session")
    session_key = None if token_key else getattr(session, "session_key", None)
    return Credential(user_id=int(user.pk), session_key=session_key, token_key=token_key,
                      ticket=bool(scope.get("auth_ticket")))  # fmt: skip


@db
def still_allowed(credential: Credential) -> bool:
    user = get_user_model().objects.filter(pk=credential.user_id).first()
    if user is None or not is_operator(user):
        return False
    if credential.ticket:
        return True  # an operator still; the socket's lifetime bounds the rest
    if credential.token_key is not None:
        from rest_framework.authtoken.models import Token

        from alerts.api.authentication import token_expired

        token = Token.objects.filter(key=credential.token_key, user_id=credential.user_id).first()
        return token is not None and not token_expired(token)
    if credential.session_key is None:
        return False
    data = import_module(settings.SESSION_ENGINE).SessionStore(credential.session_key).load()
    if str(data.get(SESSION_KEY)) != str(credential.user_id):
        return False  # logged out (the session is gone) or another user logged in
    # A password change ends the other sessions of the user, as Django's own middleware does.
    return bool(constant_time_compare(str(data.get(HASH_SESSION_KEY, "")), user.get_session_auth_hash()))
