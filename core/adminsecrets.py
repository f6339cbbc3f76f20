"""An admin mixin that refuses changelist lookups and searches that touch a secret field.

Django's admin applies any lookup on a model's own fields from the query string, so without this a
staff user with only *view* permission could ask ``?source_url__startswith=rtsp://admin:a`` and read
a masked password one character at a time from the result count. Django refuses most lookups
through relations, but not one that ends on a related model's primary key:
``/admin/auth/user/?auth_token__key__startswith=ab`` walks to the API token. So the whole lookup
path is checked, field by field, against the secret fields of each model it passes.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

# Model label (of the concrete model) -> fields whose value must never be matched from the admin.
# Labels, not imports: core is the base layer and does not import the apps that own these models.
SECRET_FIELDS: dict[str, frozenset[str]] = {
    "cameras.camera": frozenset({"source_url"}),  # stream credentials
    "alerts.webhookdestination": frozenset({"url", "secret"}),  # signing secret, tokens in URLs
    "authtoken.token": frozenset({"key"}),  # DRF API tokens (the key is the primary key)
    "auth.user": frozenset({"password"}),
}


def touches_secret(model: type[Model], lookup: str) -> bool:
    """Whether a lookup path (``camera__source_url__startswith``) reaches a secret field."""
    for part in lookup.split(LOOKUP_SEP):
        opts = model._meta.concrete_model._meta if model._meta.concrete_model else model._meta
        try:
            field = model._meta.pk if part == "pk" else model._meta.get_field(part)
        except FieldDoesNotExist:
            return False  # the rest are transforms and lookups (__startswith, __length, ...)
        if field is not None and field.name in SECRET_FIELDS.get(opts.label_lower, frozenset()):
            return True
        related = getattr(field, "related_model", None)
        if related is None or not field.is_relation:
            return False
        model = related
    return False


class SecretFieldsAdminMixin:
    """Mix into a ModelAdmin before ``admin.ModelAdmin``: a lookup on a secret field is a 400."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if touches_secret(self.model, lookup):  # type: ignore[attr-defined]
            return False
        allowed: bool = super().lookup_allowed(lookup, value, request)  # type: ignore[misc]
        return allowed

    def get_search_fields(self, request: HttpRequest) -> Any:
        """Search never reaches a secret field either, whatever a subclass lists."""
        fields = super().get_search_fields(request)  # type: ignore[misc]
        return [f for f in fields if not touches_secret(self.model, f.lstrip("^=@"))]  # type: ignore[attr-defined]
