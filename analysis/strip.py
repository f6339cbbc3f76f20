"""The frame strip of an event for the LLM: frames from just before its start to the trigger, private.

The camera process stored the frames (detection/capture/strip.py) and listed them in the payload's
``strip``; here they are read back, pixelated each from its own boxes, and scaled down further than
the keyframe (``STRIP_MAX_SIDE``): five frames of 448 px cost about as many image tokens as one
frame of 1024 px. The crop of the triggering frame goes along at full size, for detail.
"""

from __future__ import annotations

from analysis.privacy import UploadImage, prepare_strip
from cameras.payload import EventPayload
from core.keycheck import expect_key
from core.redisclient import get_redis

STRIP_MAX_SIDE = 448
MIN_FRAMES = 2  # fewer than this is no sequence: the single keyframe and crop are sent instead


def strip_images(payload: EventPayload, *, blur: bool, max_side: int) -> list[UploadImage]:
    """The strip's upload images, oldest first; empty when the payload has none or they expired."""
    listed = payload.get("strip") or []
    if len(listed) < MIN_FRAMES:
        return []
    # Checked like the keyframe and crop keys (core/keycheck.py): a payload names only evidence keys.
    stored = get_redis().mget([expect_key(frame["key"], "evidence") for frame in listed])
    frames = [
        (data, frame["boxes"], float(frame["offset_s"]))
        for frame, data in zip(listed, stored, strict=True)
        if isinstance(data, bytes) and data
    ]
    images = prepare_strip(frames, blur=blur, max_side=min(max_side, STRIP_MAX_SIDE))
    return images if len(images) >= MIN_FRAMES else []
