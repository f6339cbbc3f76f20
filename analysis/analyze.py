"""Judge one candidate event with Qwen-VL: the plain function behind ``analysis.analyze_event``.

The order of a judgement:

1. Guards: the camera exists; a finished analysis of this event only re-sends its alert
   (idempotency); one task at a time per event (claim).
2. Gate, cheapest first: no key configured, LLM off for the camera, a rule the camera trusts on
   its own, the same tracks judged moments ago. Each of these sends the alert on at once,
   unverified (or with the earlier verdict), saying why.
3. Images from the evidence store, faces and plates pixelated, scaled down; then the call is
   counted against the hourly caps (per camera and overall), or the alert goes out rules-only.
4. The call: global budget, a key from the pool, the SDK. A 429 or a refused key moves on to the
   next key within the same run; 5xx, time-outs and connection errors come back as
   :class:`RetryLater` for the task to retry with back-off; when every key is disabled, or the
   wait for keys or budget would outlast the event's usefulness, the alert goes out rules-only.
5. The verdict is checked against the schema; a malformed reply gets one repair call.
6. One LLMAnalysis row per event (created or updated), and the alert task is sent after commit.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from analysis import client, metrics
from analysis.budget import Budget
from analysis.claim import EventClaim
from analysis.client import CallFailed, Failure, Reply
from analysis.conf import LLMConf, current
from analysis.keypool import KeyLease, KeyPool, PoolExhausted
from analysis.models import LLMAnalysis
from analysis.privacy import UploadImage, prepare_images
from analysis.prompts import CURRENT, build_messages, build_repair_messages, template_for
from analysis.strip import strip_images
from analysis.verdict import VerdictError, parse_verdict
from cameras.models import Camera
from cameras.payload import EventPayload, evidence_keys
from core import backoff
from core.redact import redact_text
from core.redisclient import get_redis, key
from core.taskbase import send
from core.topology import ANALYZE_EVENT, LONGEST_RETRY_BACKOFF_S, RECORD_ALERT

logger = logging.getLogger(__name__)

Status = LLMAnalysis.Status
Reason = LLMAnalysis.Reason

# A finished analysis: analysing the event again only re-sends its alert.
TERMINAL = (Status.OK, Status.BLOCKED, Status.SKIPPED)

# What an unverified alert says about itself. Every note starts with "Not verified".
NOTES: dict[str, str] = {
    Reason.NO_KEY: "Not verified: no DashScope API key is configured (rules only).",
    Reason.KEYS_DISABLED: "Not verified: every DashScope API key is disabled (invalid key or no credit); "
    "see LLM analyses → API key pool.",
    Reason.KEYS_THROTTLED: "Not verified: every DashScope API key is rate-limited by the service, and a verdict "
    "would have come too late.",
    Reason.RATE_LIMITED: "Not verified: the LLM budget (requests or tokens per minute) is used up, and a verdict "
    "would have come too late.",
    Reason.CAMERA_CAP: "Not verified: this camera's hourly limit of LLM calls is reached.",
    Reason.GLOBAL_CAP: "Not verified: the hourly limit of LLM calls for all cameras is reached.",
    Reason.CAMERA_OFF: "Not verified: LLM verification is off for this camera.",
    Reason.RULE_CONCLUSIVE: "Not verified by the LLM: this camera trusts the rule on its own.",
    Reason.BLOCKED: "Not verified: DashScope's content inspection refused the images (DataInspectionFailed).",
    Reason.NO_EVIDENCE: "Not verified: the evidence images had expired before the LLM could see them.",
}

SAFETY_MARGIN_S = 5.0  # kept free before the soft time limit to record the outcome


class RetryLater(Exception):
    """Try the event again later. ``counted`` retries follow errors: their number is limited and
    they back off exponentially (see :func:`retry_countdown`). Uncounted ones are waits for a key or
    the budget, ``countdown`` seconds long, and end at the event's deadline instead."""

    def __init__(self, cause: Exception, *, counted: bool, countdown: float = 0.0) -> None:
        super().__init__(str(cause))
        self.countdown = countdown
        self.cause = cause
        self.counted = counted


class Busy(Exception):
    """Something else holds what this run needs (the event's claim, time in this run)."""


class MalformedVerdict(Exception):
    """The reply and its repair were both unusable: a failed job for an operator to look at."""


class _Fallback(Exception):
    def __init__(self, reason: str, detail: str = "", verdict: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.verdict = verdict


@dataclass(frozen=True)
class Outcome:
    outcome: str  # confirmed, rejected, unverified, duplicate, already, dropped
    analysis_id: int | None


@dataclass
class Usage:
    """What the calls of this run cost; added to the event's row when it is saved."""

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_image: int = 0
    latency_s: float = 0.0
    cost: float = 0.0
    request_id: str = ""
    key_id: str = ""
    replies: list[str] = field(default_factory=list)
    last_failure: CallFailed | None = None
    prompt_version: str = CURRENT.version


def analyze_event(payload: EventPayload, *, task_id: str, conf: LLMConf | None = None) -> Outcome:
    started = time.monotonic()
    conf = conf or current()
    event_key = payload["event_key"]
    camera = Camera.objects.filter(pk=payload["camera_id"]).first()
    if camera is None:
        logger.warning("event %s: camera %s no longer exists, dropped", event_key[:12], payload["camera_id"])
        return Outcome("dropped", None)
    done = LLMAnalysis.objects.filter(event_key=event_key, status__in=TERMINAL).first()
    if done is not None:
        # A redelivery after the row was saved: the alert may not have been sent yet. Send it again;
        # recording is idempotent per event key, so an alert that exists already is not doubled.
        logger.info("event %s analysed already (#%s): alert sent again", event_key[:12], done.pk)
        _send_alert_on_commit(payload, done)
        return Outcome("already", done.pk)
    claim = EventClaim(event_key, task_id)
    if not claim.acquire():
        # Not an error: come back when the other task is done, and find its analysis then.
        countdown = backoff.stretched_s(1.0, spread=1.0)  # 1 to 2 s
        raise RetryLater(Busy("another task is analysing this event"), counted=False, countdown=countdown)
    try:
        return _judge(payload, camera, conf, started)
    finally:
        claim.release()


def _judge(payload: EventPayload, camera: Camera, conf: LLMConf, started: float) -> Outcome:
    budget = Budget(conf)
    usage = Usage()
    try:
        _gate(payload, camera, budget)
        images = _images(payload, camera, conf)
        _reserve(payload, camera, budget)
        language = settings.LLM_LANGUAGE
        usage.prompt_version = template_for(images).version
        messages = build_messages(
            payload, images, camera_name=camera.name, speed_limit_kmh=camera.speed_limit_kmh, zones=camera.zones,
            language=language,
        )  # fmt: skip
        caller = Caller(KeyPool.from_settings(), budget, conf, usage, deadline=_deadline(payload, conf),
                        started=started)  # fmt: skip
        verdict = _verdict(caller, messages, images, language)
    except _Fallback as out:
        return _fallback(payload, camera, out, usage)
    except RetryLater as later:
        # Leave a trace of this run's calls; the next run adds to the same row.
        failed = usage.last_failure
        if failed is not None:
            status = Status.THROTTLED if failed.failure is Failure.THROTTLED else Status.ERROR
            _save(payload, camera, status=status, usage=usage, error=f"{failed} (will retry: {later})")
        raise
    except MalformedVerdict as exc:
        _save(payload, camera, status=Status.MALFORMED, usage=usage, error=str(exc))
        raise
    except CallFailed as failed:
        _save(payload, camera, status=Status.ERROR, usage=usage, error=str(failed))
        raise
    row = _save(payload, camera, status=Status.OK, usage=usage, verdict=verdict)
    budget.remember_analysis(payload, row.pk)
    if verdict["dangerous"]:
        for risk in verdict["risk_types"]:
            metrics.RISK_TYPES.labels(risk).inc()
    logger.info("event %s: %s (severity %s, confidence %.2f) in %d call(s)", payload["event_key"][:12],
                "dangerous" if verdict["dangerous"] else "harmless", verdict["severity"], verdict["confidence"],
                usage.calls)  # fmt: skip
    return Outcome("confirmed" if verdict["dangerous"] else "rejected", row.pk)


def _gate(payload: EventPayload, camera: Camera, budget: Budget) -> None:
    """Raise _Fallback when the event must not (or need not) be sent to the LLM."""
    if not settings.DASHSCOPE_API_KEYS:
        raise _Fallback(Reason.NO_KEY)
    if not camera.llm_enabled:
        raise _Fallback(Reason.CAMERA_OFF)
    if payload["event_type"] in camera.llm_conclusive_rules:
        raise _Fallback(Reason.RULE_CONCLUSIVE, f"rule {payload['event_type']} is conclusive on this camera")
    recent = budget.recent_analysis(payload)
    if recent is not None:
        earlier = LLMAnalysis.objects.filter(pk=recent, status=Status.OK).exclude(event_key=payload["event_key"])
        row = earlier.only("pk", "verdict").first()
        if row is not None and row.verdict:
            raise _Fallback(Reason.DUPLICATE, f"same camera, rule and tracks as analysis #{row.pk}", row.verdict)


def _reserve(payload: EventPayload, camera: Camera, budget: Budget) -> None:
    """Count the call against the hourly caps (once per event, however often it is retried)."""
    capped = budget.reserve_call(payload["event_key"], camera.pk, camera.llm_calls_per_hour)
    if capped:
        raise _Fallback(Reason.CAMERA_CAP if capped == "camera" else Reason.GLOBAL_CAP)


def _images(payload: EventPayload, camera: Camera, conf: LLMConf) -> list[UploadImage]:
    store = get_redis()
    keyframe, crop = (store.get(name) if name else None for name in evidence_keys(payload))
    group_box = payload.get("group_box")
    images = prepare_images(
        keyframe if isinstance(keyframe, bytes) else None,
        crop if isinstance(crop, bytes) else None,
        boxes=payload.get("boxes") or [],
        group_box=(group_box[0], group_box[1], group_box[2], group_box[3]) if group_box else None,
        blur=camera.llm_privacy_blur,
        max_side=conf.image_max_side,
    )
    if not images:
        raise _Fallback(Reason.NO_EVIDENCE)
    # Temporal events need the sequence: the strip replaces the single frame; the crop stays for detail.
    strip = strip_images(payload, blur=camera.llm_privacy_blur, max_side=conf.image_max_side)
    if strip:
        images = strip + [image for image in images if image.role == "crop"]
    return images


def _verdict(caller: Caller, messages: list[dict[str, Any]], images: list[UploadImage], language: str
             ) -> dict[str, Any]:  # fmt: skip
    estimate = estimate_tokens(messages, images, caller.conf.max_output_tokens)
    reply = caller.call(messages, estimate)
    try:
        verdict = parse_verdict(reply.text, language)
    except VerdictError as first:
        metrics.REQUESTS.labels("malformed").inc()
        logger.info("event reply malformed (%s): one repair call", first)
        repair = build_repair_messages(reply.text, first.problems, language=language)
        fixed = caller.call(repair, estimate_tokens(repair, [], caller.conf.max_output_tokens))
        try:
            verdict = parse_verdict(fixed.text, language)
        except VerdictError as second:
            metrics.REQUESTS.labels("malformed").inc()
            raise MalformedVerdict(f"reply malformed ({first}); repair malformed too ({second})") from None
    metrics.REQUESTS.labels("ok").inc()
    return verdict


class Caller:
    """Calls DashScope for one event: budget first, then a key, then the SDK, moving across keys."""

    def __init__(self, pool: KeyPool, budget: Budget, conf: LLMConf, usage: Usage, *, deadline: float,
                 started: float) -> None:  # fmt: skip
        self.pool = pool
        self.budget = budget
        self.conf = conf
        self.usage = usage
        self.deadline = deadline  # wall-clock time after which a verdict is no longer worth waiting for
        self.started = started  # monotonic start of this task run (the soft time limit counts from it)

    def call(self, messages: list[dict[str, Any]], estimate: int) -> Reply:
        last: CallFailed | None = None
        # A 429 or a refused key moves on to another key; each key gets at most one try per call.
        for _ in range(len(self.pool) + 1):
            self._ensure_time_for_a_call()
            self._take_budget(estimate)
            lease = self._lease()
            metrics.CONCURRENT.inc()
            try:
                reply = client.call(
                    messages,
                    api_key=lease.api_key,
                    model=settings.DASHSCOPE_MODEL,
                    timeout_s=self.conf.request_timeout_s,
                    max_tokens=self.conf.max_output_tokens,
                )
            except CallFailed as failed:
                last = failed
                self._failed(lease, failed, estimate)
                continue
            finally:
                metrics.CONCURRENT.dec()
            self._succeeded(lease, reply, estimate)
            return reply
        assert last is not None
        raise RetryLater(last, counted=True)

    def _failed(self, lease: KeyLease, failed: CallFailed, estimate: int) -> None:
        self.usage.last_failure = failed
        self.usage.calls += 1
        self.usage.latency_s += failed.latency_s
        self.usage.request_id = failed.request_id or self.usage.request_id
        self.usage.key_id = lease.key_id
        self.budget.settle(estimate, 0)  # a refused call bills nothing
        metrics.REQUESTS.labels(failed.failure.value).inc()
        metrics.LATENCY.observe(failed.latency_s)
        code = failed.code or failed.failure.value
        logger.warning("DashScope call with key %s failed: %s", lease.key_id, failed)
        if failed.failure is Failure.THROTTLED:
            self.pool.release(lease, "throttled", code)
            return  # the next key, if any, takes the call
        if failed.failure is Failure.KEY_REFUSED:
            self.pool.release(lease, "refused", code, failed.detail)
            return
        if failed.failure is Failure.BLOCKED:
            self.pool.release(lease, "ok")  # the key works; the content was refused
            raise _Fallback(Reason.BLOCKED, str(failed))
        self.pool.release(lease, "fail", code)
        if failed.transient:
            raise RetryLater(failed, counted=True)
        raise failed  # a request DashScope calls invalid: retrying the same request cannot help

    def _succeeded(self, lease: KeyLease, reply: Reply, estimate: int) -> None:
        self.pool.release(lease, "ok")
        self.budget.settle(estimate, reply.tokens_in + reply.tokens_out)
        conf = self.conf
        cost = (reply.tokens_in * conf.price_input_per_1k + reply.tokens_out * conf.price_output_per_1k) / 1000
        usage = self.usage
        usage.calls += 1
        usage.tokens_in += reply.tokens_in
        usage.tokens_out += reply.tokens_out
        usage.tokens_image += reply.tokens_image
        usage.latency_s += reply.latency_s
        usage.cost += cost
        usage.request_id = reply.request_id
        usage.key_id = lease.key_id
        usage.replies.append(reply.text)
        metrics.LATENCY.observe(reply.latency_s)
        metrics.TOKENS.labels("text_in").inc(max(0, reply.tokens_in - reply.tokens_image))
        metrics.TOKENS.labels("image_in").inc(reply.tokens_image)
        metrics.TOKENS.labels("out").inc(reply.tokens_out)
        metrics.COST.inc(cost)

    def _ensure_time_for_a_call(self) -> None:
        left = ANALYZE_EVENT.soft_time_limit - SAFETY_MARGIN_S - (time.monotonic() - self.started)
        if left < self.conf.request_timeout_s:
            raise RetryLater(Busy("not enough time left in this run for another call"), counted=False, countdown=0.5)

    def _wait(self, seconds: float, waited: float, reason: str) -> float:
        """Sleep a short wait here, or hand a long one back to Celery; fall back past the deadline."""
        if time.time() + seconds > self.deadline:
            raise _Fallback(reason, f"a verdict could not come within {self.conf.max_event_delay_s:.0f} s")
        if waited + seconds > self.conf.inline_wait_max_s:
            countdown = backoff.stretched_s(seconds, spread=0.2)
            raise RetryLater(Busy(f"waiting: {reason}"), counted=False, countdown=countdown)
        # Sleeping keeps the pool slot, which is right: with the shared budget empty, no other LLM
        # task could use it either. Jitter keeps workers from all waking at the same instant.
        pause = backoff.stretched_s(seconds, spread=0.2)
        time.sleep(pause)
        return waited + pause

    def _take_budget(self, tokens: int) -> None:
        waited = 0.0
        while (wait := self.budget.take(tokens)) > 0:
            waited = self._wait(wait, waited, Reason.RATE_LIMITED)
        metrics.BUDGET_WAIT.observe(waited)

    def _lease(self) -> KeyLease:
        waited = 0.0
        while True:
            try:
                return self.pool.acquire()
            except PoolExhausted as out:
                if out.reason in ("disabled", "no_keys"):
                    raise _Fallback(Reason.KEYS_DISABLED if out.reason == "disabled" else Reason.NO_KEY) from None
                reason = Reason.KEYS_THROTTLED if out.reason == "cooling" else Reason.RATE_LIMITED
                waited = self._wait(out.retry_after_s, waited, reason)


def estimate_tokens(messages: list[dict[str, Any]], images: list[UploadImage], max_output: int) -> int:
    """Tokens a call may use, reserved from the budget before it (settled with the real count after).

    Qwen-VL bills an image as one token per 28 x 28 pixels; text is taken at two characters a token,
    which overestimates English and matches Chinese.
    """
    image_tokens = sum(math.ceil(i.width / 28) * math.ceil(i.height / 28) + 2 for i in images)
    text = sum(len(part.get("text", "")) for message in messages for part in message["content"])
    return image_tokens + text // 2 + max_output


def _deadline(payload: EventPayload, conf: LLMConf) -> float:
    try:
        detected = datetime.fromisoformat(payload["detected_at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        detected = time.time()
    # A replayed job (hours later) still gets its full wait: measured from now at the latest.
    return max(detected, time.time() - conf.max_event_delay_s / 2) + conf.max_event_delay_s


def retry_countdown(later: RetryLater, task_id: str, conf: LLMConf | None = None) -> float:
    """Seconds until the task's next run; re-raises the cause once errors have used up the retries.

    Failed runs are counted in Redis per task id: Celery's own retry counter also counts the waits,
    and a redelivered task keeps its id while a replayed failed job starts afresh with a new one.
    """
    if not later.counted:
        # Waits end at the event's deadline; the cap keeps them inside the broker's visibility timeout.
        return min(later.countdown, LONGEST_RETRY_BACKOFF_S)
    conf = conf or current()
    name = key("llm", "failures", task_id)
    pipe = get_redis().pipeline()
    pipe.incr(name)
    pipe.expire(name, 86_400)
    failures = int(pipe.execute()[0])
    if failures > conf.max_retries:
        raise later.cause
    # "Equal jitter": at least half the step, so retries still spread out.
    return backoff.exponential_s(failures, base_s=conf.retry_backoff_s, cap_s=conf.retry_backoff_max_s, jitter=0.5)


def _fallback(payload: EventPayload, camera: Camera, out: _Fallback, usage: Usage) -> Outcome:
    status = Status.BLOCKED if out.reason == Reason.BLOCKED else Status.SKIPPED
    row = _save(payload, camera, status=status, usage=usage, verdict=out.verdict, reason=out.reason,
                error=out.detail)  # fmt: skip
    metrics.FALLBACKS.labels(out.reason).inc()
    logger.info("event %s: no LLM verdict (%s) %s", payload["event_key"][:12], out.reason, out.detail)
    return Outcome("duplicate" if out.verdict else "unverified", row.pk)


def _save(payload: EventPayload, camera: Camera, *, status: str, usage: Usage,
          verdict: dict[str, Any] | None = None, reason: str = "", error: str = "") -> LLMAnalysis:  # fmt: skip
    """Create or update the event's one row, adding this run's usage; alert after commit if final."""
    secrets = settings.DASHSCOPE_API_KEYS
    with transaction.atomic():
        row, _ = LLMAnalysis.objects.select_for_update().get_or_create(
            event_key=payload["event_key"],
            # Created as "error" (no verdict needed) and completed below, in the same transaction.
            defaults={"camera": camera, "status": Status.ERROR, "attempts": 0},
        )
        row.status, row.reason, row.verdict = status, reason, verdict
        row.error = redact_text(error, secrets)[:4000]
        row.model, row.prompt_version = settings.DASHSCOPE_MODEL, usage.prompt_version
        row.attempts += usage.calls
        row.tokens_in += usage.tokens_in
        row.tokens_out += usage.tokens_out
        row.tokens_image += usage.tokens_image
        row.latency_ms += round(usage.latency_s * 1000)
        row.cost += usage.cost
        row.request_id = usage.request_id or row.request_id
        row.api_key_id = usage.key_id or row.api_key_id
        if usage.replies:
            row.raw_reply = redact_text("\n--- repair ---\n".join(usage.replies), secrets)[:20000]
        row.save()
        if status in TERMINAL:
            _send_alert_on_commit(payload, row)
    return row


def _send_alert_on_commit(payload: EventPayload, row: LLMAnalysis) -> None:
    verdict = row.verdict if row.status in (Status.OK, Status.SKIPPED) and row.verdict else None
    note = None if verdict else NOTES.get(row.reason, NOTES[Reason.NO_KEY])
    analysis_id = row.pk
    transaction.on_commit(lambda: send(RECORD_ALERT, payload, verdict, analysis_id, note))
