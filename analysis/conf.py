"""Configuration of LLM verification: budgets, caps, back-off and prices, from environment variables.

The DashScope keys, endpoint, model and language are Django settings (``trafficsite/settings.py``);
everything else the LLM step needs lives here, read once per process through the typed readers of
``trafficsite.env``: a bad value stops the worker at start-up with the variable's name.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

from trafficsite.env import env_float, env_int

# celeryconfig.LONGEST_RETRY_BACKOFF_S: the Redis visibility timeout is sized for retries up to this.
LONGEST_RETRY_BACKOFF_S = 300
# The analyze task's hard time limit (celeryconfig.LONGEST_TASK_S) and its soft limit.
TASK_TIME_LIMIT_S = 120
TASK_SOFT_TIME_LIMIT_S = 100


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
    # Defaults: qwen-vl-max's international list price (USD 0.80 / 3.20 per million) when written.
    price_input_per_1k: float
    price_output_per_1k: float


def load() -> LLMConf:
    conf = LLMConf(
        requests_per_minute=env_int("LLM_REQUESTS_PER_MINUTE", 60, minimum=1, maximum=100_000),
        tokens_per_minute=env_int("LLM_TOKENS_PER_MINUTE", 150_000, minimum=1_000, maximum=100_000_000),
        burst_s=env_float("LLM_BURST_S", 10.0, minimum=0.5, maximum=60.0),
        calls_per_hour=env_int("LLM_CALLS_PER_HOUR", 1_000, minimum=1, maximum=1_000_000),
        duplicate_cooldown_s=env_float("LLM_DUPLICATE_COOLDOWN_S", 60.0, minimum=0.0, maximum=3_600.0),
        key_cooldown_s=env_float("LLM_KEY_COOLDOWN_S", 5.0, minimum=0.1, maximum=600.0),
        key_cooldown_max_s=env_float("LLM_KEY_COOLDOWN_MAX_S", 120.0, minimum=0.1, maximum=3_600.0),
        key_max_concurrent=env_int("LLM_KEY_MAX_CONCURRENT", 4, minimum=1, maximum=1_000),
        request_timeout_s=env_int("LLM_REQUEST_TIMEOUT_S", 30, minimum=1, maximum=60),
        max_retries=env_int("LLM_MAX_RETRIES", 5, minimum=0, maximum=20),
        retry_backoff_s=env_float("LLM_RETRY_BACKOFF_S", 2.0, minimum=0.0, maximum=60.0),
        retry_backoff_max_s=env_float("LLM_RETRY_BACKOFF_MAX_S", 60.0, minimum=0.0, maximum=LONGEST_RETRY_BACKOFF_S),
        inline_wait_max_s=env_float("LLM_INLINE_WAIT_MAX_S", 5.0, minimum=0.0, maximum=30.0),
        max_event_delay_s=env_float("LLM_MAX_EVENT_DELAY_S", 120.0, minimum=1.0, maximum=86_400.0),
        image_max_side=env_int("LLM_IMAGE_MAX_SIDE", 1024, minimum=256, maximum=4096),
        max_output_tokens=env_int("LLM_MAX_OUTPUT_TOKENS", 400, minimum=100, maximum=4_000),
        price_input_per_1k=env_float("LLM_PRICE_INPUT_PER_1K", 0.0008, minimum=0.0),
        price_output_per_1k=env_float("LLM_PRICE_OUTPUT_PER_1K", 0.0032, minimum=0.0),
    )
    if conf.key_cooldown_max_s < conf.key_cooldown_s:
        raise ImproperlyConfigured("LLM_KEY_COOLDOWN_MAX_S must not be below LLM_KEY_COOLDOWN_S")
    if conf.retry_backoff_max_s < conf.retry_backoff_s:
        raise ImproperlyConfigured("LLM_RETRY_BACKOFF_MAX_S must not be below LLM_RETRY_BACKOFF_S")
    # One call (plus its repair call) must fit in the task's soft time limit with room to record it.
    if 2 * conf.request_timeout_s + conf.inline_wait_max_s >= TASK_SOFT_TIME_LIMIT_S:
        raise ImproperlyConfigured(
            "2 x LLM_REQUEST_TIMEOUT_S + LLM_INLINE_WAIT_MAX_S must stay below the analyze task's soft "
            f"time limit ({TASK_SOFT_TIME_LIMIT_S} s)"
        )
    return conf


CONF = load()
