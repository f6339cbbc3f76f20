"""Failed logins are counted per client address and per user name; past the limit, the login form
answers 429 for a while instead of checking more passwords (the admin has no such brake itself).

The counters live in the shared cache (Redis), so every web process sees the same numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse


def _keys(request: HttpRequest, username: str) -> list[str]:
    address = request.META.get("REMOTE_ADDR", "")
    # Hashed: the cache holds no user names or addresses in clear.
    return [
        "login-failures:" + hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:32]
        for kind, value in (("addr", address), ("user", username.lower()))
        if value
    ]


def blocked(request: HttpRequest, username: str) -> bool:
    limit = settings.LOGIN_FAILURE_LIMIT
    return any((cache.get(k) or 0) >= limit for k in _keys(request, username))


@receiver(user_login_failed)
def _count_failure(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    if request is None:
        return
    for k in _keys(request, str(credentials.get("username", ""))):
        cache.add(k, 0, settings.LOGIN_FAILURE_WINDOW_S)
        try:
            cache.incr(k)
        except ValueError:  # expired between add and incr
            cache.set(k, 1, settings.LOGIN_FAILURE_WINDOW_S)


class LoginThrottleMiddleware:
    """Refuses a login POST (admin and API browser login) once its address or user name is blocked."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        throttled = request.method == "POST" and request.path in settings.LOGIN_THROTTLED_PATHS
        if throttled and blocked(request, request.POST.get("username", "")):
            response = HttpResponse("Too many failed logins; try again later.", status=429, content_type="text/plain")
            response["Retry-After"] = str(settings.LOGIN_FAILURE_WINDOW_S)
            return response
        return self.get_response(request)
