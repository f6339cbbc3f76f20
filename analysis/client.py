"""One call to DashScope's multimodal generation through the official SDK, and what its answer means.

The SDK returns errors as a response with ``status_code``/``code``/``message`` (it raises only for
transport failures), and its synchronous call never retries. This module turns both into a
:class:`Reply` or a :class:`CallFailed` that says what the caller should do: retry, rest the key,
disable the key, or give up. Nothing here knows about keys pools, budgets or the database.
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass
from typing import Any

import dashscope
import requests
from dashscope.api_entities.dashscope_response import MultiModalConversationResponse
from django.conf import settings

from core import tracing
from core.redact import key_id, redact_text

logger = logging.getLogger(__name__)


class Failure(enum.StrEnum):
    THROTTLED = "throttled"  # 429 Throttling*: transient, the key rests
    KEY_REFUSED = "key_refused"  # InvalidApiKey, Arrearage, AccessDenied: the key is disabled
    BLOCKED = "blocked"  # DataInspectionFailed: the content was refused, never retried
    SERVER = "server_error"  # 5xx: transient
    TIMEOUT = "timeout"  # transient
    CONNECTION = "connection_error"  # transient
    BAD_REQUEST = "bad_request"  # another 4xx: our request is wrong, retrying will not help
    BAD_RESPONSE = "bad_response"  # 200 without a message in it: transient


TRANSIENT = frozenset({Failure.THROTTLED, Failure.SERVER, Failure.TIMEOUT, Failure.CONNECTION, Failure.BAD_RESPONSE})
KEY_REFUSED_CODES = ("InvalidApiKey", "Arrearage", "AccessDenied")


@dataclass(frozen=True)
class Reply:
    text: str
    request_id: str
    tokens_in: int  # includes the image tokens, as DashScope bills them
    tokens_out: int
    tokens_image: int
    latency_s: float


class CallFailed(Exception):
    def __init__(
        self, failure: Failure, message: str, *, status: int = 0, code: str = "", request_id: str = "",
        latency_s: float = 0.0,
    ) -> None:  # fmt: skip
        self.failure = failure
        self.status = status
        self.code = code
        self.request_id = request_id
        self.latency_s = latency_s
        self.detail = redact_text(message, settings.DASHSCOPE_API_KEYS)[:500]
        super().__init__(f"DashScope {status or '-'} {code or failure.value}: {self.detail}")

    @property
    def transient(self) -> bool:
        return self.failure in TRANSIENT

    def __reduce__(self) -> tuple[Any, ...]:
        # Celery pickles a task's exception from the pool child to its parent: keep it whole.
        return (_rebuild, (self.failure.value, self.detail, self.status, self.code, self.request_id, self.latency_s))


def _rebuild(failure: str, detail: str, status: int, code: str, request_id: str, latency_s: float) -> CallFailed:
    return CallFailed(Failure(failure), detail, status=status, code=code, request_id=request_id, latency_s=latency_s)


def classify(status: int, code: str) -> Failure:
    """What an error response means, from its HTTP status and DashScope error code."""
    if status == 429 or code.startswith("Throttling"):
        return Failure.THROTTLED
    if status == 401 or code.startswith(KEY_REFUSED_CODES):
        return Failure.KEY_REFUSED
    if code.startswith("DataInspectionFailed") or code == "data_inspection_failed":
        return Failure.BLOCKED
    if status >= 500:
        return Failure.SERVER
    return Failure.BAD_REQUEST


def call(messages: list[dict[str, Any]], *, api_key: str, model: str, timeout_s: int, max_tokens: int) -> Reply:
    """Send ``messages`` with ``api_key``; a Reply, or CallFailed saying why not."""
    started = time.monotonic()
    extra: dict[str, Any] = {}
    if settings.DASHSCOPE_BASE_URL:
        # Per call rather than through the SDK's module-level default, so nothing global changes.
        extra["base_address"] = settings.DASHSCOPE_BASE_URL
    try:
        with tracing.span("dashscope.call", model=model, key_id=key_id(api_key)):
            response = _sdk_call(messages, api_key, model, timeout_s, max_tokens, extra)
    except requests.exceptions.Timeout as exc:
        raise CallFailed(Failure.TIMEOUT, str(exc), latency_s=time.monotonic() - started) from None
    except requests.exceptions.ConnectionError as exc:
        raise CallFailed(Failure.CONNECTION, str(exc), latency_s=time.monotonic() - started) from None
    return _reply(response, started)


def _sdk_call(messages: list[dict[str, Any]], api_key: str, model: str, timeout_s: int, max_tokens: int,
              extra: dict[str, Any]) -> Any:  # fmt: skip
    return dashscope.MultiModalConversation.call(
        model=model,
        messages=messages,
        api_key=api_key,
        result_format="message",
        request_timeout=timeout_s,
        max_tokens=max_tokens,
        temperature=0.1,  # a judgement, not a story: keep it stable from one call to the next
        **extra,
    )


def _reply(response: Any, started: float) -> Reply:
    latency = time.monotonic() - started
    if not isinstance(response, MultiModalConversationResponse):  # a stream: never asked for
        raise CallFailed(Failure.BAD_RESPONSE, "a streamed reply", latency_s=latency)
    status = int(response.status_code)
    request_id = str(response.request_id or "")
    if status != 200:
        code = str(response.code or "")
        message = str(response.message or "")
        raise CallFailed(classify(status, code), message, status=status, code=code, request_id=request_id,
                         latency_s=latency)  # fmt: skip
    text = _reply_text(response.output)
    if text is None:
        raise CallFailed(Failure.BAD_RESPONSE, "no message in the reply", status=status, request_id=request_id,
                         latency_s=latency)  # fmt: skip
    usage: Any = response.usage or {}
    return Reply(
        text=text,
        request_id=request_id,
        tokens_in=int(usage.get("input_tokens") or 0),
        tokens_out=int(usage.get("output_tokens") or 0),
        tokens_image=_image_tokens(usage),
        latency_s=latency,
    )


def _image_tokens(usage: Any) -> int:
    """Image tokens are reported on their own (and inside ``input_tokens_details`` by newer models)."""
    details = usage.get("input_tokens_details") or {}
    return int(usage.get("image_tokens") or details.get("image_tokens") or 0)


def _reply_text(output: Any) -> str | None:
    """``output.choices[0].message.content``: a list of ``{"text": ...}`` parts (or a plain string)."""
    try:
        content = output["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)]
        return "".join(parts) if parts else None
    return None
