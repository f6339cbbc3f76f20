"""Channels' ``database_sync_to_async`` with types (channels ships none)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar, cast

from channels.db import database_sync_to_async

P = ParamSpec("P")
R = TypeVar("R")


def db(fn: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Run ``fn`` (ORM work) in Django's thread pool, closing stale connections around it."""
    return cast(Callable[P, Awaitable[R]], database_sync_to_async(fn))
