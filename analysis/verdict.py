"""The LLM's verdict: a fixed taxonomy of risks, the JSON schema the model must follow, and its checks.

The schema is written out in the prompt, and every reply is validated against that same schema here
(jsonschema, Draft 2020-12), so the alert step only ever sees a verdict of the documented shape.
Error messages are short sentences: they go back to the model in the one repair attempt.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

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
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["dangerous", "risk_types", "severity", "confidence", "description"],
    "additionalProperties": False,
    "properties": {
        "dangerous": {"type": "boolean", "description": "true if the situation endangers someone"},
        "risk_types": {
            "type": "array",
            "items": {"type": "string", "enum": list(RISK_TYPES)},
            "uniqueItems": True,
            "description": "empty when not dangerous",
        },
        "severity": {"type": "integer", "minimum": 1, "maximum": 4, "description": "1 low 2 medium 3 high 4 critical"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "description": {"type": "string", "pattern": "\\S", "maxLength": DESCRIPTION_MAX_CHARS},
    },
    # A dangerous verdict names what is dangerous.
    "if": {"properties": {"dangerous": {"const": True}}, "required": ["dangerous"]},
    "then": {"properties": {"risk_types": {"minItems": 1}}},
}
# Checks the schema itself once, at import: a typo in it fails every process at start, not a reply.
Draft202012Validator.check_schema(VERDICT_SCHEMA)
_VALIDATOR = Draft202012Validator(VERDICT_SCHEMA)

# jsonschema's own messages quote the whole offending value, which can be a page of text; the model
# gets these short sentences instead, one per field (the repair prompt lists them).
_FIELD_PROBLEMS = {
    "dangerous": "'dangerous' must be true or false",
    "risk_types": "'risk_types' must be a list of strings",
    "severity": "'severity' must be an integer from 1 to 4",
    "confidence": "'confidence' must be a number from 0 to 1",
    "description": "'description' must be a non-empty string",
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
    """``data`` checked against VERDICT_SCHEMA (and the language), normalized, or VerdictError."""
    if not isinstance(data, dict):
        raise VerdictError(["the reply must be one JSON object"])
    problems: list[str] = []
    for error in sorted(_VALIDATOR.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        problems += [p for p in _problems(error, data) if p not in problems]
    if not problems and language == "zh" and not _CJK.search(data["description"]):
        problems.append("'description' must be written in Simplified Chinese")
    if problems:
        raise VerdictError(problems)
    return {
        "dangerous": data["dangerous"],
        "risk_types": list(data["risk_types"]),
        "severity": data["severity"],
        "confidence": round(float(data["confidence"]), 3),
        "description": data["description"].strip(),
    }


def _problems(error: ValidationError, data: dict[str, Any]) -> list[str]:
    """Short sentences for one schema violation (one per field concerned)."""
    path = list(error.absolute_path)
    if not path:  # the object itself: a missing or an extra field, or the if/then rule
        if error.validator == "required":
            missing = [name for name in VERDICT_SCHEMA["required"] if name not in data]
            return [f"field {name!r} is missing" for name in missing]
        if error.validator == "additionalProperties":
            extra = [name for name in data if name not in VERDICT_SCHEMA["properties"]]
            return [f"field {name!r} is not allowed" for name in extra]
        return [f"the reply does not follow the schema ({error.validator})"]
    field = str(path[0])
    if field == "risk_types":
        if error.validator == "minItems":
            return ["a dangerous verdict must name at least one risk type"]
        if error.validator == "uniqueItems":
            return ["'risk_types' lists a type twice"]
        if error.validator == "enum" and isinstance(error.instance, str):
            unknown = [r for r in data["risk_types"] if isinstance(r, str) and r not in RISK_TYPES]
            return [f"unknown risk type(s) {', '.join(unknown)}; allowed: {', '.join(RISK_TYPES)}"]
    if field == "description" and error.validator == "maxLength":
        return [f"'description' must be at most {DESCRIPTION_MAX_CHARS} characters"]
    return [_FIELD_PROBLEMS.get(field, f"field {field!r} does not follow the schema")]
