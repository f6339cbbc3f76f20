"""How long to wait before trying again: capped exponential back-off with jitter, in one place.

Every retry loop of the project takes its delays from here: the alerts tasks (webhooks, MQTT), the
LLM task's counted retries, the key pool's cool-down of a throttled DashScope key and a camera's
reconnects. Each caller keeps its own base, cap and jitter; only the arithmetic is shared.

Jitter spreads the retries of many workers that failed together, so they do not come back together
(the "thundering herd"). ``jitter`` is the share of the delay that is random, taken off the top:
1.0 is AWS's "full jitter" (anywhere from 0 to the step), 0.5 its "equal jitter" (at least half the
step), 0.2 keeps a delay within 20 % below the step. Taking it off the top means the cap is a real
upper bound, never exceeded by the jitter.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# Jitter spreads retries; it guards no secret, so the module's Mersenne Twister is the right tool.
_uniform: Callable[[], float] = random.random


def exponential_s(attempt: int, *, base_s: float, cap_s: float, jitter: float = 0.5,
                  rand: Callable[[], float] = _uniform) -> float:  # fmt: skip
    """Seconds before retry number ``attempt`` (1 for the first): ``base_s`` doubling each time, at
    most ``cap_s``, then up to ``jitter`` of it taken off at random."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    if base_s < 0 or cap_s < 0:
        raise ValueError(f"base_s and cap_s must not be negative, got {base_s} and {cap_s}")
    if not 0.0 <= jitter <= 1.0:
        raise ValueError(f"jitter is a share of the delay between 0 and 1, got {jitter}")
    # min() before the power would overflow: 2.0 ** 1100 is an OverflowError, not infinity.
    step = cap_s if attempt > 64 else min(cap_s, base_s * 2.0 ** (attempt - 1))
    return step * (1.0 - jitter * rand())


def stretched_s(seconds: float, *, spread: float, rand: Callable[[], float] = _uniform) -> float:
    """``seconds`` plus up to ``spread`` of it at random: for a wait of known length (a token bucket
    refills, a claim is released) that many workers should not end at the same instant. Never shorter
    than asked, since waking early would only find the same wait again."""
    if seconds < 0 or spread < 0:
        raise ValueError(f"seconds and spread must not be negative, got {seconds} and {spread}")
    return seconds * (1.0 + spread * rand())
