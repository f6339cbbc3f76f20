"""API tokens expire: a key copied into a script, a ticket or a chat years ago stops working.

``Authorization: Token <key>`` as DRF's TokenAuthentication, refused once the token is older than
API_TOKEN_TTL_DAYS (its ``created`` time); an operator makes a new one in the admin. The websocket
uses the same rule (alerts/wsauth.py, alerts/wsaccess.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed


def token_expired(token: Any) -> bool:
    return bool(token.created < timezone.now() - timedelta(days=settings.API_TOKEN_TTL_DAYS))


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        user, token = super().authenticate_credentials(key)
        if token_expired(token):
            raise AuthenticationFailed("Token expired; ask an administrator for a new one.")
        return user, token
