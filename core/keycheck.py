"""Redis key names that arrive in task arguments are checked before they are read or deleted.

A task carries keys, not bytes (frames, evidence, reply lists). A message that names another key
(``trafficsite:celery:...``, a session, the key pool) must not make a worker read it into an
alert's evidence, push into it, or delete it: each key must have the kind of prefix its task expects.
"""

from __future__ import annotations

from core.redisclient import key


class UnexpectedKey(ValueError):
    """A task argument names a Redis key of another kind than the task works on."""


def expect_key(value: object, kind: str) -> str:
    """``value`` if it is one of our keys of ``kind`` (``trafficsite:<kind>:...``), else UnexpectedKey."""
    prefix = key(kind) + ":"
    if not isinstance(value, str) or not value.startswith(prefix) or len(value) > 512:
        raise UnexpectedKey(f"expected a {kind} key ({prefix}...), got {str(value)[:80]!r}")
    return value
