"""The one back-off helper (core/backoff.py): bounds, doubling, cap and jitter, with a scripted random
source at the edges of its range and the real one in between."""

from __future__ import annotations

import pytest

from core.backoff import exponential_s, stretched_s


def test_the_delay_doubles_from_the_base_up_to_the_cap_without_jitter() -> None:
    delays = [exponential_s(n, base_s=0.5, cap_s=30.0, jitter=0.0) for n in range(1, 10)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_jitter_takes_up_to_its_share_off_the_step_and_never_adds_to_it() -> None:
    lowest, highest = (lambda: 0.999999), (lambda: 0.0)
    assert exponential_s(3, base_s=2.0, cap_s=60.0, jitter=0.5, rand=highest) == 8.0
    assert exponential_s(3, base_s=2.0, cap_s=60.0, jitter=0.5, rand=lowest) == pytest.approx(4.0, abs=1e-5)
    assert exponential_s(9, base_s=2.0, cap_s=60.0, jitter=1.0, rand=lowest) == pytest.approx(0.0, abs=1e-4)
    assert exponential_s(9, base_s=2.0, cap_s=60.0, jitter=0.2, rand=lowest) == pytest.approx(48.0, abs=1e-4)


@pytest.mark.parametrize(("jitter", "low_share"), [(1.0, 0.0), (0.5, 0.5), (0.2, 0.8)])
def test_real_random_delays_stay_within_the_step_and_spread_out(jitter: float, low_share: float) -> None:
    for attempt, step in [(1, 5.0), (2, 10.0), (5, 80.0), (6, 120.0), (40, 120.0)]:
        delays = [exponential_s(attempt, base_s=5.0, cap_s=120.0, jitter=jitter) for _ in range(200)]
        assert all(step * low_share <= d <= step for d in delays), (attempt, min(delays), max(delays))
        assert len(set(delays)) > 150  # jittered, not one value


def test_a_huge_attempt_number_gives_the_cap_instead_of_overflowing() -> None:
    assert exponential_s(5000, base_s=2.0, cap_s=300.0, jitter=0.0) == 300.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempt": 0}, "attempt counts from 1"),
        ({"base_s": -1.0}, "must not be negative"),
        ({"jitter": 1.5}, "between 0 and 1"),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(kwargs: dict[str, float], message: str) -> None:
    arguments = {"attempt": 1, "base_s": 1.0, "cap_s": 10.0, "jitter": 0.5, **kwargs}
    with pytest.raises(ValueError, match=message):
        exponential_s(int(arguments.pop("attempt")), **arguments)


def test_a_known_wait_is_stretched_by_up_to_its_spread_and_never_shortened() -> None:
    waits = [stretched_s(2.0, spread=0.2) for _ in range(200)]
    assert all(2.0 <= w <= 2.4 for w in waits) and len(set(waits)) > 150
    assert stretched_s(1.0, spread=1.0, rand=lambda: 0.0) == 1.0
    with pytest.raises(ValueError, match="must not be negative"):
        stretched_s(-1.0, spread=0.2)
