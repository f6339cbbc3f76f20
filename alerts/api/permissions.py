"""Who may do what through the API (and the websocket and dashboard, which use the same rule).

Operators are staff users: they read everything and review alerts. Changing cameras needs Django's
model permission for it (add / change / delete camera); superusers have every permission.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request


def is_operator(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class IsOperator(BasePermission):
    message = "Operators (staff users) only."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_operator(request.user)


class CanReviewAlerts(IsOperator):
    """Reviewing changes an alert (an un-confirmed alert loses its evidence to retention): it needs
    Django's ``alerts.change_alert``, not only staff status."""

    message = "Reviewing alerts needs the permission to change alerts."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_operator(request.user) and bool(request.user.has_perm("alerts.change_alert"))


class CameraPermission(IsOperator):
    message = "Changing cameras needs the camera permissions (an administrator's)."
    required = {
        "POST": "cameras.add_camera",
        "PUT": "cameras.change_camera",
        "PATCH": "cameras.change_camera",
        "DELETE": "cameras.delete_camera",
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        if not is_operator(request.user):
            return False
        if request.method in SAFE_METHODS:
            return True
        perm = self.required.get(request.method or "")
        return perm is not None and request.user.has_perm(perm)
