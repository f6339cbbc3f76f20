"""A local stand-in for DashScope's multimodal-generation endpoint, for tests and the demo without a key.

It speaks the same HTTP as the real service, so the real ``dashscope`` SDK talks to it unchanged
(``DASHSCOPE_BASE_URL=http://127.0.0.1:PORT/api/v1``):

- ``POST /api/v1/services/aigc/multimodal-generation/generation`` with ``Authorization: Bearer KEY``
  and ``{"model", "input": {"messages"}, "parameters"}``; images must be ``data:`` URLs here (this
  stub cannot fetch URLs, and a local path would have been uploaded to Alibaba by the SDK);
- success: ``{"output": {"choices": [{"finish_reason", "message": {"role", "content": [{"text"}]}}]},
  "usage": {"input_tokens", "output_tokens", "image_tokens"}, "request_id"}``;
- errors: the HTTP status with ``{"code", "message", "request_id"}`` (429 ``Throttling.RateQuota``,
  401 ``InvalidApiKey``, 400 ``Arrearage``, 400 ``DataInspectionFailed``, 500 ``InternalError``).

Several images in one user turn (``{"image": ...}`` parts before the text) are a multi-image message,
as DashScope documents for Qwen-VL; a prompt with a ``Frame times:`` line announces the first images
as a strip of frames, and the unscripted verdict then depends on them (see :func:`stub_verdict`).

Replies are scripted: a queue of :class:`Scripted` replies, each optionally for one key only (by
its ``key_id`` hash, so the stub never needs the keys themselves), consumed in order; when none
applies, the default kind answers. Without a script the verdict confirms the rule's event and says
that it comes from the stub. A small control API (``/stub/script``, ``/stub/calls``, ``/stub/reset``)
scripts a running stub from another process.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import math
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

from core.redact import key_id

logger = logging.getLogger(__name__)

ENDPOINT = "/api/v1/services/aigc/multimodal-generation/generation"
KINDS = ("ok", "fenced", "malformed", "throttle", "invalid_key", "arrearage", "server_error", "blocked", "slow")

# Status, code and message of each scripted error, as DashScope sends them.
ERRORS: dict[str, tuple[int, str, str]] = {
    "throttle": (429, "Throttling.RateQuota", "Requests rate limit exceeded, please try again later."),
    "invalid_key": (401, "InvalidApiKey", "Invalid API-key provided."),
    "arrearage": (400, "Arrearage", "Access denied, please make sure your account is in good standing."),
    "server_error": (500, "InternalError", "An internal error has occured, please try again later."),
    "blocked": (400, "DataInspectionFailed", "Input data may contain inappropriate content."),
}

_EVENT = re.compile(r"Rule event: (\{.*\})")
_FRAME_TIMES = re.compile(r"Frame times: (\[[^\]]*\])")
# Mean grey-level change between strip frames below which the stub calls the scene static.
STATIC_BELOW = 1.0
_RISK = re.compile(r'"risk_types":\s*\["([a-z_]+)"')


@dataclass
class Scripted:
    kind: str = "ok"
    key_id: str | None = None  # only requests made with this key (core.redact.key_id) get it
    delay_s: float = 0.0  # answer after this long (the "slow" kind: a call to kill a worker in)
    verdict: dict[str, Any] | None = None  # the verdict an "ok" reply carries (default: from the event)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown reply kind {self.kind!r}; kinds are {', '.join(KINDS)}")


@dataclass
class Call:
    """One request as the stub saw it (the key only as its hash); ``status`` is 0 while it is in flight."""

    at: float
    key_id: str
    model: str
    kind: str
    status: int
    request_id: str
    client_port: int = 0  # the caller's TCP port: which process made the call
    images: list[list[int]] = field(default_factory=list)  # [width, height] of each image
    text: str = ""
    repair: bool = False
    event_type: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    frames: int = 0  # images announced as a strip of frames ("Frame times:" line of the prompt)
    motion: float | None = None  # largest mean grey-level change between consecutive strip frames
    uploads: list[bytes] = field(default_factory=list, repr=False)  # the images as received

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "uploads"}


class StubError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class DashScopeStub:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, latency_s: float = 0.0,
                 default: str = "ok", slow_s: float = 30.0) -> None:  # fmt: skip
        Scripted(default)  # validates the kind
        self.latency_s = latency_s
        self.default = default
        self.slow_s = slow_s
        self.calls: list[Call] = []
        self._script: list[Scripted] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="dashscope-stub", daemon=True)

    # --- life cycle -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The value for DASHSCOPE_BASE_URL (the SDK's ``base_http_api_url``)."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/api/v1"

    def start(self) -> DashScopeStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases slow replies
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- scripting ------------------------------------------------------------------------------
    def script(self, *replies: Scripted | str, key: str | None = None) -> None:
        """Queue replies (kinds or Scripted); ``key`` restricts plain kinds to requests with that key."""
        items = [r if isinstance(r, Scripted) else Scripted(r, key_id(key) if key else None) for r in replies]
        with self._lock:
            self._script.extend(items)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.calls.clear()

    def calls_snapshot(self) -> list[Call]:
        with self._lock:
            return list(self.calls)

    def wait_for_calls(self, count: int, timeout_s: float = 30.0) -> list[Call]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            calls = self.calls_snapshot()
            if len(calls) >= count:
                return calls
            time.sleep(0.05)
        raise TimeoutError(f"the stub saw {len(self.calls_snapshot())} call(s), expected {count}")

    def _next(self, kid: str) -> Scripted:
        with self._lock:
            for index, item in enumerate(self._script):
                if item.key_id in (None, kid):
                    return self._script.pop(index)
        return Scripted(self.default)

    # --- one request ----------------------------------------------------------------------------
    def handle(self, headers: dict[str, str], body: bytes, client_port: int = 0) -> tuple[int, dict[str, Any]]:
        request_id = str(uuid.uuid4())
        call = Call(at=time.time(), key_id="", model="", kind="", status=0, request_id=request_id,
                    client_port=client_port)  # fmt: skip
        with self._lock:
            self.calls.append(call)  # visible while in flight: a test can kill the caller mid-call
        try:
            reply = self._answer(headers, body, call)
            call.status = 200
            return 200, {"request_id": request_id, **reply}
        except StubError as exc:
            call.status = exc.status
            return exc.status, {"request_id": request_id, "code": exc.code, "message": exc.message}

    def _answer(self, headers: dict[str, str], body: bytes, call: Call) -> dict[str, Any]:
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise StubError(401, "InvalidApiKey", "No API-key provided.")
        call.key_id = key_id(auth[7:].strip())
        try:
            request = json.loads(body)
            messages = request["input"]["messages"]
            call.model = str(request["model"])
        except (ValueError, KeyError, TypeError):
            raise StubError(400, "InvalidParameter", "Required parameter(s) missing or invalid.") from None
        call.parameters = dict(request.get("parameters") or {})
        texts, uploads = _read_messages(messages)
        images = [_image_size(upload) for upload in uploads]
        call.text = "\n".join(texts)
        call.uploads = uploads
        call.images = [list(size) for size in images]
        call.repair = "previous reply could not be used" in call.text
        event = _event_of(call.text)
        call.event_type = str(event.get("event_type", ""))
        times = _frame_times(call.text)
        if times and len(uploads) >= len(times) >= 2:
            call.frames = len(times)
            call.motion = strip_motion(uploads[: len(times)])

        scripted = self._next(call.key_id)
        call.kind = scripted.kind
        delay = scripted.delay_s or (self.slow_s if scripted.kind == "slow" else 0.0) or self.latency_s
        if delay and self._stopping.wait(delay):
            raise StubError(503, "ServiceUnavailable", "The stub is shutting down.")
        if scripted.kind in ERRORS:
            raise StubError(*ERRORS[scripted.kind])
        text = _reply_text(scripted, event, call.text, call.frames, call.motion)
        image_tokens = sum(math.ceil(w / 28) * math.ceil(h / 28) + 2 for w, h in images)
        input_tokens = image_tokens + len(call.text) // 3 + 10
        output_tokens = max(1, len(text) // 3)
        return {
            "output": {
                "choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": [{"text": text}]}}]
            },
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "image_tokens": image_tokens,
                "input_tokens_details": {"text_tokens": input_tokens - image_tokens, "image_tokens": image_tokens},
                "output_tokens_details": {"text_tokens": output_tokens},
                "total_tokens": input_tokens + output_tokens,
            },
        }


def _read_messages(messages: Any) -> tuple[list[str], list[bytes]]:
    """The texts and the decoded images of the messages, in order."""
    if not isinstance(messages, list) or not messages:
        raise StubError(400, "InvalidParameter", "Input messages must be a non-empty list.")
    texts: list[str] = []
    images: list[bytes] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        parts = [{"text": content}] if isinstance(content, str) else content
        if not isinstance(parts, list):
            raise StubError(400, "InvalidParameter", "Message content must be a list.")
        for part in parts:
            if "text" in part:
                texts.append(str(part["text"]))
            elif "image" in part:
                images.append(_data_url_bytes(str(part["image"])))
    return texts, images


def _data_url_bytes(url: str) -> bytes:
    """The bytes of a ``data:image/...;base64,`` URL; anything else is refused here."""
    if not url.startswith("data:image/") or ";base64," not in url:
        raise StubError(400, "InvalidParameter", f"The stub accepts data: URLs only, got {url[:40]!r}.")
    try:
        return base64.b64decode(url.split(";base64,", 1)[1], validate=True)
    except ValueError:
        raise StubError(400, "InvalidParameter", "The image is not valid base64.") from None


def _image_size(raw: bytes) -> tuple[int, int]:
    image = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise StubError(400, "InvalidParameter", "The image could not be decoded.")
    return int(image.shape[1]), int(image.shape[0])


def _event_of(text: str) -> dict[str, Any]:
    match = _EVENT.search(text)
    if not match:
        return {}
    try:
        event = json.loads(match.group(1))
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def _frame_times(text: str) -> list[float]:
    match = _FRAME_TIMES.search(text)
    if not match:
        return []
    try:
        times = json.loads(match.group(1))
    except ValueError:
        return []
    return [float(t) for t in times] if isinstance(times, list) else []


def strip_motion(uploads: list[bytes]) -> float:
    """How much the picture changes along the strip: the largest mean absolute grey-level difference
    between consecutive frames, on 64 x 48 thumbnails (what a model would call movement)."""
    thumbs = []
    for raw in uploads:
        image = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
        if image is None:  # checked on arrival already (_image_size)
            raise StubError(400, "InvalidParameter", "The image could not be decoded.")
        thumbs.append(cv2.resize(image, (64, 48), interpolation=cv2.INTER_AREA).astype(np.float32))
    return max(float(np.mean(np.abs(b - a))) for a, b in itertools.pairwise(thumbs))


def stub_verdict(event: dict[str, Any], text: str, frames: int = 0, motion: float | None = None) -> dict[str, Any]:
    """A plausible verdict that says it is not a model's.

    One image (or a keyframe and its crop): the rule's event, confirmed. A strip of frames: confirmed
    when the frames show movement, more surely the more frames there are; rejected as harmless when
    they do not change at all (a frozen camera, a picture, a rule fooled by noise)."""
    event_type = str(event.get("event_type") or "")
    if not event_type:  # a repair request: the event type is in the previous reply
        match = _RISK.search(text)
        event_type = match.group(1) if match else "collision"
    severity = event.get("severity")
    chinese = "Simplified Chinese" in text or "简体中文" in text
    label = event_type.replace("_", " ")
    description = (
        f"本地模拟服务（非真实模型）：确认{label}事件。"
        if chinese
        else f"Stub verdict (local DashScope stand-in, not a model): {label} confirmed."
    )
    severity = severity if isinstance(severity, int) and 1 <= severity <= 4 else 3
    if frames and motion is not None:
        if motion < STATIC_BELOW:
            return {
                "dangerous": False,
                "risk_types": [],
                "severity": 1,
                "confidence": 0.7,
                "description": (
                    f"本地模拟服务（非真实模型）：{frames}帧画面没有变化，未确认{label}事件。"
                    if chinese
                    else f"Stub verdict (local DashScope stand-in, not a model): the {frames} frames show no "
                    f"movement; {label} not confirmed."
                ),
            }
        description = (
            f"本地模拟服务（非真实模型）：{frames}帧画面中确认{label}事件。"
            if chinese
            else f"Stub verdict (local DashScope stand-in, not a model): {label} confirmed across {frames} frames."
        )
        confidence = round(min(0.95, 0.55 + 0.08 * frames), 2)
        return {"dangerous": True, "risk_types": [event_type], "severity": severity, "confidence": confidence,
                "description": description}  # fmt: skip
    return {
        "dangerous": True,
        "risk_types": [event_type],
        "severity": severity,
        "confidence": 0.8,
        "description": description,
    }


def _reply_text(scripted: Scripted, event: dict[str, Any], text: str, frames: int = 0,
                motion: float | None = None) -> str:  # fmt: skip
    verdict = scripted.verdict or stub_verdict(event, text, frames, motion)
    body = json.dumps(verdict, ensure_ascii=False)
    if scripted.kind == "fenced":
        return f"```json\n{body}\n```"
    if scripted.kind == "malformed":
        # What a model does when it forgets the instructions: prose, then JSON cut short.
        return "Here is my assessment of the scene: " + body[: len(body) // 2]
    return body


def _handler_for(stub: DashScopeStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's pooled session expects

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            if self.path == ENDPOINT:
                status, reply = stub.handle(headers, body, int(self.client_address[1]))
            elif self.path == "/stub/script":
                status, reply = self._script(body)
            elif self.path == "/stub/reset":
                stub.reset()
                status, reply = 200, {"ok": True}
            else:
                status, reply = 404, {"code": "NotFound", "message": f"No such endpoint: {self.path}"}
            self._send(status, reply)

        def do_GET(self) -> None:
            if self.path == "/stub/calls":
                self._send(200, {"calls": [c.as_json() for c in stub.calls_snapshot()]})
            else:
                self._send(404, {"code": "NotFound", "message": f"No such endpoint: {self.path}"})

        def _script(self, body: bytes) -> tuple[int, dict[str, Any]]:
            try:
                stub.script(*(Scripted(**item) for item in json.loads(body)["replies"]))
            except (ValueError, KeyError, TypeError) as exc:
                return 400, {"code": "InvalidParameter", "message": str(exc)}
            return 200, {"ok": True}

        def _send(self, status: int, reply: dict[str, Any]) -> None:
            data = json.dumps(reply, ensure_ascii=False).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the caller went away (a killed worker): nothing to answer

        def log_message(self, format: str, *args: Any) -> None:  # the base class's argument name
            logger.debug("stub: " + format, *args)

    return Handler
