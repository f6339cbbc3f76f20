"""Prompt templates, versioned in code: each analysis row records the version that produced it.

Change a template by adding a new version and pointing ``CURRENT`` at it, so verdicts made under
different wording can be told apart (and compared) later. The stub server finds the event in the
``Rule event:`` line, so keep that line when writing a new version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from analysis.privacy import UploadImage
from analysis.verdict import RISK_TYPES, VERDICT_SCHEMA
from cameras.payload import EventPayload

LANGUAGES = {"en": "English", "zh": "Simplified Chinese (简体中文)"}

# What each rule measured, in words the model can check against the picture.
RULE_HINTS = {
    "speeding": "a vehicle's estimated speed was above the speed limit",
    "wrong_way": "a vehicle moved against the lane's direction of travel",
    "tailgating": "a vehicle followed the one ahead with too short a time gap",
    "near_miss": "two road users came very close to colliding (short time to collision)",
    "hard_braking": "a vehicle decelerated abruptly",
    "stalled_vehicle": "a vehicle stood still in a lane",
    "crosswalk_stop": "a vehicle stopped on a pedestrian crossing",
}


@dataclass(frozen=True)
class PromptTemplate:
    version: str
    system: str
    user: str
    repair: str


V1 = PromptTemplate(
    version="v1",
    system=(
        "You review evidence from a fixed road-traffic camera for a traffic-safety operations centre. "
        "A rule-based detector flagged a possible dangerous-driving event; you confirm or reject it from the "
        "images and describe it for an operator.\n"
        "Reply with exactly one JSON object and nothing else (no prose, no code fence), following this JSON "
        "schema:\n{schema}\n"
        "risk_types come only from: {risk_types}. Use an empty list when the situation is not dangerous.\n"
        "severity: 1 low, 2 medium, 3 high (someone could be hurt), 4 critical (a collision happened or is "
        "unavoidable). confidence: how sure you are of 'dangerous', from 0 to 1.\n"
        "description: at most two short sentences in {language}, saying what happened and who was involved; "
        "no speculation about identities. Faces and licence plates may be pixelated for privacy."
    ),
    user=(
        "Camera: {camera}. Speed limit: {speed_limit} km/h. Zones: {zones}.\n"
        "The rule '{event_type}' fired: {hint}.\n"
        "Rule event: {event_json}\n"
        "{images}\n"
        "Boxes are normalized [x1, y1, x2, y2] with the origin at the top left of image 1. "
        "Is this situation really dangerous? Answer with the JSON object."
    ),
    repair=(
        "Your previous reply could not be used: {problems}.\n"
        "Previous reply:\n<<<\n{reply}\n>>>\n"
        "Reply again with exactly one JSON object following the schema, and nothing else."
    ),
)

# With a frame strip: the same instructions, and the user turn says what the sequence shows and when
# each frame was taken. The stub server reads the "Frame times:" line, so keep it in later versions.
V2 = PromptTemplate(
    version="v2-strip",
    system=V1.system + "\nYou may get several frames of the same camera in time order: judge the motion across them "
    "(braking, closing in, a stop, a direction), not a single frame.",
    user=(
        "Camera: {camera}. Speed limit: {speed_limit} km/h. Zones: {zones}.\n"
        "The rule '{event_type}' fired: {hint}.\n"
        "Rule event: {event_json}\n"
        "{images}\n"
        "Frame times: {frame_times}\n"
        "The rule's measurements are estimates from tracked boxes and the road calibration, not exact values "
        "(where an uncertainty is given with a value, weigh it). "
        "Boxes are normalized [x1, y1, x2, y2] with the origin at the top left of the last frame. "
        "Is this situation really dangerous? Answer with the JSON object."
    ),
    repair=V1.repair,
)

TEMPLATES = {t.version: t for t in (V1, V2)}
CURRENT = V1  # one keyframe and its crop
STRIP = V2  # a strip of frames around the event, and the crop


def template_for(images: list[UploadImage]) -> PromptTemplate:
    return STRIP if any(image.role == "strip" for image in images) else CURRENT


def _image_note(images: list[UploadImage], track_ids: list[int]) -> str:
    roles = [image.role for image in images]
    notes = []
    strip = [index + 1 for index, role in enumerate(roles) if role == "strip"]
    if strip:
        notes.append(
            f"Images {strip[0]} to {strip[-1]} are {len(strip)} frames of the camera in time order, from just "
            f"before the event's start to the moment the rule fired (image {strip[-1]})."
        )
    if "frame" in roles:
        notes.append(f"Image {roles.index('frame') + 1} is the whole camera frame when the rule fired.")
    if "crop" in roles:
        notes.append(
            f"Image {roles.index('crop') + 1} is an enlarged crop around the road users involved (tracks "
            f"{', '.join(map(str, track_ids))})."
        )
    return " ".join(notes) or "No image is available."


def _zones(zones: list[dict[str, Any]]) -> str:
    if not zones:
        return "none configured"
    return ", ".join(f"{zone.get('name', '?')} ({zone.get('kind', '?')})" for zone in zones)


def build_messages(
    payload: EventPayload,
    images: list[UploadImage],
    *,
    camera_name: str,
    speed_limit_kmh: float,
    zones: list[dict[str, Any]],
    language: str,
    template: PromptTemplate | None = None,
) -> list[dict[str, Any]]:
    """The DashScope ``messages`` for one candidate event: a system turn and a user turn with images.

    Several images go as several ``{"image": ...}`` parts of the one user turn, before its text, as
    DashScope documents multi-image input for Qwen-VL.
    """
    template = template or template_for(images)
    involved = set(payload.get("track_ids", []))
    event = {
        "event_type": payload["event_type"],
        "severity": payload.get("severity"),
        "measurements": payload.get("measurements", {}),
        "tracks": [
            {"track_id": box["track_id"], "cls": box["cls"], "box": [round(v, 3) for v in box["xyxy"]]}
            for box in payload.get("boxes", [])
            if box.get("track_id") in involved
        ],
    }
    text = template.user.format(
        camera=camera_name,
        speed_limit=round(speed_limit_kmh),
        zones=_zones(zones),
        event_type=payload["event_type"],
        hint=RULE_HINTS.get(payload["event_type"], "the rule's condition was met"),
        event_json=json.dumps(event, ensure_ascii=False, sort_keys=True),
        images=_image_note(images, sorted(involved)),
        frame_times=json.dumps([round(i.offset_s, 2) for i in images if i.role == "strip" and i.offset_s is not None]),
    )
    return [
        {"role": "system", "content": [{"text": system_text(language, template)}]},
        {"role": "user", "content": [*({"image": image.data_url} for image in images), {"text": text}]},
    ]


def build_repair_messages(
    reply: str, problems: list[str], *, language: str, template: PromptTemplate = CURRENT
) -> list[dict[str, Any]]:
    """A text-only follow-up: the model fixes the form of its answer, no images are sent again."""
    text = template.repair.format(problems="; ".join(problems), reply=reply[:4000])
    return [
        {"role": "system", "content": [{"text": system_text(language, template)}]},
        {"role": "user", "content": [{"text": text}]},
    ]


def system_text(language: str, template: PromptTemplate = CURRENT) -> str:
    return template.system.format(
        schema=json.dumps(VERDICT_SCHEMA, ensure_ascii=False),
        risk_types=", ".join(RISK_TYPES),
        language=LANGUAGES[language],
    )
