"""The global requests-per-minute budget holds across workers: two real workers, each with its own key
and two pool processes, share one Redis token bucket. Calls are timed where they arrive: the stub."""

from __future__ import annotations

import pytest

from alerts.models import Alert
from analysis.stub import DashScopeStub
from analysis.tasks import analyze_event
from core.redact import key_id
from tests.factories import make_camera
from tests.support.dashscope_helpers import (
    KEY_A,
    KEY_B,
    clear_llm_state,
    llm_worker,
    make_payload,
    only_these_llm_consumers,
    wait_consuming,
)
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RPM = 240  # 4 calls a second
BURST_S = 0.5  # the bucket holds 2 calls
EVENTS = 30


def test_the_requests_per_minute_budget_holds_across_two_workers(
    test_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    clear_llm_state()
    stub = DashScopeStub(latency_s=0.05).start()
    conf = {"LLM_REQUESTS_PER_MINUTE": str(RPM), "LLM_BURST_S": str(BURST_S), "LLM_TOKENS_PER_MINUTE": "10000000"}
    workers = [
        llm_worker(
            f"budget{i}",
            test_database_url,
            tmp_path_factory.mktemp(f"budget{i}"),
            keys=[key],
            base_url=stub.base_url,
            **conf,
        )
        for i, key in enumerate((KEY_A, KEY_B))
    ]
    try:
        with only_these_llm_consumers():
            for worker in workers:
                worker.start()
            for worker in workers:
                wait_consuming(worker)
            camera = make_camera(llm_calls_per_hour=1000)
            # Distinct tracks, so no event is a near-duplicate of another and each one is a call.
            payloads = [make_payload(camera.pk, person=100 + i, bus=200 + i) for i in range(EVENTS)]
            for payload in payloads:
                analyze_event.delay(payload)
            wait_for(lambda: Alert.objects.filter(camera=camera).count() == EVENTS, 60, "every alert")
    finally:
        for worker in workers:
            worker.stop()
        stub.stop()

    calls = sorted(stub.calls_snapshot(), key=lambda c: c.at)
    assert len(calls) == EVENTS and {c.status for c in calls} == {200}
    assert {c.key_id for c in calls} == {key_id(KEY_A), key_id(KEY_B)}  # both workers called
    span = calls[-1].at - calls[0].at
    capacity = RPM / 60 * BURST_S
    rate = RPM / 60
    # A token bucket lets through at most its capacity plus what it refills: in any window of t
    # seconds, capacity + rate * t calls (a little slack for the stub's own timestamps).
    for i, first in enumerate(calls):
        for j in range(i, len(calls)):
            window = calls[j].at - first.at
            assert j - i + 1 <= capacity + rate * window + 1, f"{j - i + 1} calls in {window:.2f} s"
    per_minute = (len(calls) - capacity) / span * 60
    print(f"\n{len(calls)} calls in {span:.2f} s: {per_minute:.0f} per minute past the burst (budget {RPM})")
    assert per_minute <= RPM * 1.1  # timestamps taken on arrival jitter by a few tens of milliseconds
    # ...and the budget, not the workers, was what held them back: four processes could go far faster.
    assert per_minute >= RPM * 0.75
    assert Alert.objects.filter(camera=camera, verification="confirmed").count() == EVENTS
