"""The LLM's verdict: a fixed taxonomy of risks, the JSON schema the model must follow, and its checks.

The schema is written out in the prompt, and every reply is checked against the same rules here, so
the alert step only ever sees a verdict of the documented shape. Error messages are short sentences:
they go back to the model in the one repair attempt.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cameras.config import EVENT_TYPES

# The rules' own event types, plus the risks a picture can show that the rules do not measure.
RISK_TYPES: tuple[str, ...] = (
    *EVENT_TYPES,
    "pedestrian_at_risk",
    "cyclist_at_risk",
    "red_light_violation",
    "unsafe_lane_change",
    "unsafe_overtaking",
    "obstruction",
    "collision",
)

DESCRIPTION_MAX_CHARS = 240

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["dangerous", "risk_types", "severity", "confidence", "description"],
    "properties": {
        "dangerous": {"type": "boolean", "description": "true if the situation endangers someone"},
        "risk_types": {
            "type": "array",
            "items": {"enum": list(RISK_TYPES)},
            "uniqueItems": True,
            "description": "empty when not dangerous",
        },
        "severity": {"type": "integer", "minimum": 1, "maximum": 4, "description": "1 low 2 medium 3 high 4 critical"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "description": {"type": "string", "minLength": 1, "maxLength": DESCRIPTION_MAX_CHARS},
    },
}

_FENCE = re.compile(r"^\s*```(?:json)?\s*(?P<body>.*?)\s*```\s*$", re.DOTALL | re.IGNORECASE)
_CJK = re.compile(r"[\u4e00-\u9fff]")


class VerdictError(ValueError):
    """The reply is not a valid verdict; ``problems`` lists why, for the repair prompt and the record."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_verdict(text: str, language: str) -> dict[str, Any]:
    """The verdict in ``text``, normalized, or VerdictError.

    A reply wrapped in a Markdown code fence is accepted (models do that despite the instructions);
    anything else that is not exactly one JSON object of the schema is refused.
    """
    match = _FENCE.match(text)
    body = match.group("body") if match else text.strip()
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise VerdictError([f"the reply is not valid JSON ({exc.msg} at character {exc.pos})"]) from None
    return validate_verdict(data, language)


def validate_verdict(data: Any, language: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise VerdictError(["the reply must be one JSON object"])
    problems: list[str] = []
    required = VERDICT_SCHEMA["required"]
    problems += [f"field {name!r} is missing" for name in required if name not in data]
    problems += [f"field {name!r} is not allowed" for name in data if name not in required]

    dangerous = data.get("dangerous")
    if "dangerous" in data and not isinstance(dangerous, bool):
        problems.append("'dangerous' must be true or false")

    risk_types = data.get("risk_types")
    if "risk_types" in data:
        if not isinstance(risk_types, list) or not all(isinstance(r, str) for r in risk_types):
            problems.append("'risk_types' must be a list of strings")
        else:
            unknown = [r for r in risk_types if r not in RISK_TYPES]
            if unknown:
                problems.append(f"unknown risk type(s) {', '.join(unknown)}; allowed: {', '.join(RISK_TYPES)}")
            if len(set(risk_types)) != len(risk_types):
                problems.append("'risk_types' lists a type twice")
            if dangerous is True and not risk_types:
                problems.append("a dangerous verdict must name at least one risk type")

    severity = data.get("severity")
    if "severity" in data and (isinstance(severity, bool) or not isinstance(severity, int) or not 1 <= severity <= 4):
        problems.append("'severity' must be an integer from 1 to 4")

    confidence = data.get("confidence")
    if "confidence" in data and (
        isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1
    ):
        problems.append("'confidence' must be a number from 0 to 1")

    description = data.get("description")
    if "description" in data:
        if not isinstance(description, str) or not description.strip():
            problems.append("'description' must be a non-empty string")
        elif len(description) > DESCRIPTION_MAX_CHARS:
            problems.append(f"'description' must be at most {DESCRIPTION_MAX_CHARS} characters")
        elif language == "zh" and not _CJK.search(description):
            problems.append("'description' must be written in Simplified Chinese")

    if problems:
        raise VerdictError(problems)
    assert isinstance(description, str) and isinstance(risk_types, list) and confidence is not None
    return {
        "dangerous": dangerous,
        "risk_types": list(risk_types),
        "severity": severity,
        "confidence": round(float(confidence), 3),
        "description": description.strip(),
    }
