"""A camera's live state in Redis, written by its capture process and read by the web pages.

The capture loop writes the latest annotated frame and its counters (fps, tracks, drops) under these
keys every few seconds with a short TTL; the admin and the dashboard read them. One home for the key
names, so a web process never imports the capture loop to find them.
"""

from __future__ import annotations

import json
from typing import Any

from core.redisclient import get_redis, key


def snapshot_key(camera_id: int) -> str:
    return key("snapshot", camera_id)


def stats_key(camera_id: int) -> str:
    return key("camstats", camera_id)


def read_snapshot(camera_id: int) -> bytes | None:
    """The latest annotated JPEG of the camera, if its capture process wrote one recently."""
    value = get_redis().get(snapshot_key(camera_id))
    return value if isinstance(value, bytes) else None


def read_stats(camera_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each camera's live counters written by its capture process, if fresh (missing ones are left out)."""
    if not camera_ids:
        return {}
    raw = get_redis().mget([stats_key(pk) for pk in camera_ids])
    stats: dict[int, dict[str, Any]] = {}
    for pk, value in zip(camera_ids, raw, strict=True):
        if value:
            try:
                stats[pk] = json.loads(value)
            except ValueError:
                continue
    return stats
