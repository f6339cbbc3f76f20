"""Who may read the system's internals: /metrics and the details of /readyz.

Metric families name cameras and queues, and readiness details name worker hosts, queues and
internal errors: useful to an attacker mapping the deployment. They go to a client that sends
``Authorization: Bearer <METRICS_TOKEN>`` (Prometheus, a deploy script) or to a staff login;
anyone else gets the bare status. The compose stack scrapes the web process on an internal port
instead (WEB_METRICS_PORT, never published), so Prometheus needs no token there.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest


def has_metrics_token(request: HttpRequest) -> bool:
    token: str = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def may_see_internals(request: HttpRequest) -> bool:
    if has_metrics_token(request):
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_staff)
