"""The LLM step's configuration as one typed object, gathered from Django settings when it is used.

The values are settings (the ``LLM_*`` block of ``trafficsite/settings.py``, read from environment
variables with their bounds and cross-checks there, so a bad value stops any process at start-up
with the variable's name). :func:`current` reads them at call time, not at import, so
``override_settings`` and the ``settings`` fixture reach every part of the LLM step.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class LLMConf:
    # Global budget shared by every worker (Redis token buckets).
    requests_per_minute: int
    tokens_per_minute: int
    # How many seconds of budget a bucket may hold: small values smooth bursts, since DashScope also
    # enforces its per-minute limits over short windows.
    burst_s: float
    # Cost caps: calls per rolling hour over all cameras (each camera has its own cap in the admin).
    calls_per_hour: int
    # No second call for the same camera, rule and tracks within this many seconds.
    duplicate_cooldown_s: float
    # Key pool: back-off of a throttled key (doubles per consecutive 429) and concurrent calls per key.
    key_cooldown_s: float
    key_cooldown_max_s: float
    key_max_concurrent: int
    # One HTTP call to DashScope, and the retries of the task around it.
    request_timeout_s: int
    max_retries: int
    retry_backoff_s: float
    retry_backoff_max_s: float
    # Waits for the budget shorter than this are slept inside the task; longer ones become a retry.
    inline_wait_max_s: float
    # A verdict that would arrive later than this after the event is not worth waiting for: the
    # alert goes out rules-only instead of queueing behind throttled keys or an empty budget.
    max_event_delay_s: float
    # Images are scaled down to this longest side before upload (image tokens grow with pixels).
    image_max_side: int
    max_output_tokens: int
    # Estimated price per 1,000 tokens (input includes image tokens), for the cost metric and rows.
    price_input_per_1k: float
    price_output_per_1k: float


def current() -> LLMConf:
    """The LLM settings as they are now (one snapshot per task run or per pool/budget object)."""
    return LLMConf(
        requests_per_minute=settings.LLM_REQUESTS_PER_MINUTE,
        tokens_per_minute=settings.LLM_TOKENS_PER_MINUTE,
        burst_s=settings.LLM_BURST_S,
        calls_per_hour=settings.LLM_CALLS_PER_HOUR,
        duplicate_cooldown_s=settings.LLM_DUPLICATE_COOLDOWN_S,
        key_cooldown_s=settings.LLM_KEY_COOLDOWN_S,
        key_cooldown_max_s=settings.LLM_KEY_COOLDOWN_MAX_S,
        key_max_concurrent=settings.LLM_KEY_MAX_CONCURRENT,
        request_timeout_s=settings.LLM_REQUEST_TIMEOUT_S,
        max_retries=settings.LLM_MAX_RETRIES,
        retry_backoff_s=settings.LLM_RETRY_BACKOFF_S,
        retry_backoff_max_s=settings.LLM_RETRY_BACKOFF_MAX_S,
        inline_wait_max_s=settings.LLM_INLINE_WAIT_MAX_S,
        max_event_delay_s=settings.LLM_MAX_EVENT_DELAY_S,
        image_max_side=settings.LLM_IMAGE_MAX_SIDE,
        max_output_tokens=settings.LLM_MAX_OUTPUT_TOKENS,
        price_input_per_1k=settings.LLM_PRICE_INPUT_PER_1K,
        price_output_per_1k=settings.LLM_PRICE_OUTPUT_PER_1K,
    )
