"""Short-lived signed tickets for websocket clients that cannot set an ``Authorization`` header.

Such a client used to put its API token in the URL (``?token=<key>``), where proxies and access logs
keep it for good. Instead it asks ``POST /api/v1/ws-ticket/`` (with its token in the header) for a
ticket: the user id signed with the site's key, valid WS_TICKET_MAX_AGE_S seconds, and useless
after that; ``/ws/alerts/?ticket=<ticket>``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import signing
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

SALT = "trafficsite.ws-ticket"


def issue(user_id: int) -> str:
    return signing.dumps({"u": user_id}, salt=SALT, compress=False)


def user_id_from(ticket: str) -> int | None:
    """The user id of a valid, unexpired ticket, else None."""
    try:
        data: Any = signing.loads(ticket, salt=SALT, max_age=settings.WS_TICKET_MAX_AGE_S)
    except signing.BadSignature:  # also SignatureExpired
        return None
    user_id = data.get("u") if isinstance(data, dict) else None
    return user_id if isinstance(user_id, int) else None


class TicketView(APIView):
    """A ticket for ``/ws/alerts/?ticket=...``, for clients that cannot send headers on a websocket."""

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "WsTicket", {"ticket": serializers.CharField(), "expires_in": serializers.IntegerField()}
        ),
        tags=["websocket"],
    )
    def post(self, request: Request) -> Response:
        user_id = request.user.pk  # IsOperator let only a logged-in operator through
        if not isinstance(user_id, int):
            raise NotAuthenticated
        return Response({"ticket": issue(user_id), "expires_in": settings.WS_TICKET_MAX_AGE_S})
