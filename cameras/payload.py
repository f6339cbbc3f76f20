"""The candidate event as it crosses the queues: capture -> llm -> alerts (JSON, defined once).

The camera process builds it (detection/capture/dispatch.py); ``analysis.analyze_event`` and
``alerts.record_alert`` receive it. Evidence images travel as Redis keys, never as bytes.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from core.keycheck import expect_key


class BoxInView(TypedDict):
    """A road user in view when the event triggered: the LLM step pixelates faces and plates from these."""

    track_id: int  # 0: found by the detector's privacy pass (any camera's classes), not tracked
    cls: str
    xyxy: list[float]  # normalized 0..1


class StripFrame(TypedDict):
    """One frame of the strip around the event (analysis shows them to the LLM, pixelated)."""

    key: str  # Redis key of the frame's JPEG
    offset_s: float  # frame time relative to the triggering frame (negative: before it)
    boxes: list[BoxInView]  # everyone tracked or seen by the privacy pass in that frame: pixelated


class TrackFrame(TypedDict):
    """Boxes of everyone tracked in one detected frame, for the player's overlay (not burned into video)."""

    t: float  # frame time relative to the triggering frame (negative: before it)
    boxes: list[list[Any]]  # [track_id, class, x1, y1, x2, y2], normalized, 3 decimals


class EventPayload(TypedDict):
    event_key: str  # idempotency key: one alert per event, however often the payload is delivered
    camera_id: int
    event_type: str  # one of cameras.config.EVENT_TYPES
    track_ids: list[int]
    started_at: str  # ISO 8601, UTC: when the rule's definition was first met
    detected_at: str  # ISO 8601, UTC: the triggering frame's capture time
    video_ts: float  # the triggering frame's time in the stream (video seconds for files)
    severity: int
    measurements: dict[str, Any]  # the rule's numbers (speeds, headways, ...) with their uncertainties
    group_box: list[float] | None  # normalized box around the road users involved
    keyframe_key: str | None  # Redis key of the triggering frame's JPEG
    crop_key: str | None  # Redis key of the JPEG crop around group_box
    boxes: list[BoxInView]
    strip: NotRequired[list[StripFrame]]  # frames from just before the start to the trigger, oldest first
    track: NotRequired[list[TrackFrame]]  # every detected frame of the last seconds up to the trigger


def evidence_keys(payload: EventPayload) -> tuple[str | None, str | None]:
    """The keyframe and crop keys of a payload, each checked to be an evidence key (core/keycheck.py)."""
    keyframe, crop = payload.get("keyframe_key"), payload.get("crop_key")
    return (expect_key(keyframe, "evidence") if keyframe else None, expect_key(crop, "evidence") if crop else None)
