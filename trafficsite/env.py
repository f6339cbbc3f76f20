"""Typed readers for settings that come from environment variables.

Every reader fails loudly with the variable's name and the accepted forms: a typo in a deployment
file must stop the process at start-up, not silently fall back to a default.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _read(name: str, default: T, parse: Callable[[str], T]) -> T:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return parse(raw.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"Environment variable {name}={raw!r}: {exc}") from None


def _parse_bool(raw: str) -> bool:
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


def env_bool(name: str, default: bool) -> bool:
    return _read(name, default, _parse_bool)


def env_str(name: str, default: str) -> str:
    return _read(name, default, str)


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("expected an integer") from None
        _check_range(value, minimum, maximum)
        return value

    return _read(name, default, parse)


def env_float(name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("expected a number") from None
        _check_range(value, minimum, maximum)
        return value

    return _read(name, default, parse)


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; blanks around items and empty items are dropped."""
    return _read(name, default, lambda raw: [item.strip() for item in raw.split(",") if item.strip()])


# The mark of every placeholder secret in compose/.env.example: a value still holding it was copied
# and never changed, and is public (it is in this repository).
PLACEHOLDER_MARK = "change-me"


def refuse_placeholder(name: str, value: str) -> None:
    if PLACEHOLDER_MARK in value.lower():
        raise ImproperlyConfigured(
            f"{name} still holds the placeholder of compose/.env.example ({PLACEHOLDER_MARK!r}); set a real secret."
        )


def env_secret(name: str, *, required: bool, fallback: str = "") -> str:
    """A secret value. Its content never appears in an error message; a placeholder is refused."""
    raw = os.environ.get(name, "").strip()
    if raw:
        refuse_placeholder(name, raw)
        return raw
    if required:
        raise ImproperlyConfigured(f"Environment variable {name} must be set (it is a secret; see README).")
    return fallback


def _check_range(value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ValueError(f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ValueError(f"must be at most {maximum}")
