"""LLM verification end to end: a real prefork worker, real Redis and PostgreSQL, the real dashscope SDK
talking to the local DashScope stub. Each test scripts the stub and checks the analysis row, the
alert, the key pool and what the stub received."""

from __future__ import annotations

import os
import signal

import psutil
import pytest
from django.contrib.auth.models import User
from django.test import Client

from alerts.models import Alert
from analysis import analyze
from analysis.keypool import KeyPool
from analysis.models import LLMAnalysis
from analysis.stub import DashScopeStub, Scripted
from analysis.tasks import analyze_event
from core.models import FailedJob
from core.redact import key_id
from core.redisclient import get_redis
from detection.capture import dispatch as candidates
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
from tests.workers import WorkerProcess

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REJECTED = {"dangerous": False, "risk_types": [], "severity": 1, "confidence": 0.9,
            "description": "The pedestrian waits on the kerb; the bus passes at a safe distance."}  # fmt: skip


@pytest.fixture(scope="module")
def stub():
    server = DashScopeStub().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def worker(stub: DashScopeStub, test_database_url: str, tmp_path_factory: pytest.TempPathFactory):
    with only_these_llm_consumers():
        process = llm_worker(
            "llm", test_database_url, tmp_path_factory.mktemp("llm-metrics"), keys=[KEY_A, KEY_B],
            base_url=stub.base_url, LLM_KEY_COOLDOWN_S="30", LLM_RETRY_BACKOFF_S="0.2", LLM_RETRY_BACKOFF_MAX_S="0.5",
            LLM_MAX_RETRIES="2", LLM_REQUEST_TIMEOUT_S="20",
        )  # fmt: skip
        process.start()
        try:
            wait_consuming(process)
            yield process
        finally:
            process.stop()


@pytest.fixture(autouse=True)
def _fresh(stub: DashScopeStub, worker: WorkerProcess, settings) -> None:
    clear_llm_state()
    stub.reset()
    settings.DASHSCOPE_API_KEYS = [KEY_A, KEY_B]  # this process dispatches to the LLM and reads the pool


def alert_of(payload: dict, timeout_s: float = 30) -> Alert:
    alert: Alert = wait_for(lambda: Alert.objects.filter(idempotency_key=payload["event_key"]).first(), timeout_s,
                    f"alert for {payload['event_key'][:12]}")  # fmt: skip
    return alert


def analysis_of(payload: dict) -> LLMAnalysis:
    return LLMAnalysis.objects.get(event_key=payload["event_key"])


def pool_states() -> dict[str, str]:
    return {state.key_id: state.state for state in KeyPool.from_settings().snapshot()}


def test_a_confirmed_verdict_becomes_a_confirmed_alert_with_the_llm_description(stub: DashScopeStub) -> None:
    camera = make_camera(name="Harbour Road")
    payload = make_payload(camera.pk)
    assert candidates.dispatch(payload) == "analysis.analyze_event"
    alert = alert_of(payload)
    assert (alert.verification, alert.severity, alert.event_type) == ("confirmed", 3, "near_miss")
    assert alert.description == "Stub verdict (local DashScope stand-in, not a model): near miss confirmed."
    row = analysis_of(payload)
    assert alert.analysis_id == row.pk
    assert (row.status, row.reason, row.model, row.prompt_version, row.attempts) == ("ok", "", "qwen-vl-max", "v1", 1)
    (call,) = stub.calls_snapshot()
    assert row.request_id == call.request_id and row.api_key_id == call.key_id == key_id(KEY_A)
    assert row.tokens_image > 0 and row.tokens_in > row.tokens_image and row.tokens_out > 0 and row.cost > 0
    assert row.verdict["risk_types"] == ["near_miss"] and '"dangerous": true' in row.raw_reply
    # What left for the cloud: the frame and the group's crop, scaled down, with the rule's evidence.
    assert call.images == [[768, 1024], [810, 873]]
    assert "Camera: Harbour Road" in call.text and '"ttc_s": 0.9' in call.text


def test_a_harmless_verdict_becomes_a_rejected_alert(stub: DashScopeStub) -> None:
    stub.script(Scripted("ok", verdict=REJECTED))
    payload = make_payload(make_camera().pk)
    candidates.dispatch(payload)
    alert = alert_of(payload)
    assert (alert.verification, alert.severity, alert.description) == ("rejected", 1, REJECTED["description"])


def test_a_429_on_key_a_is_served_by_key_b_while_a_cools_down(stub: DashScopeStub, worker: WorkerProcess) -> None:
    stub.script("throttle", key=KEY_A)
    camera = make_camera()
    first = make_payload(camera.pk, person=11)
    candidates.dispatch(first)
    assert alert_of(first).verification == "confirmed"
    calls = stub.calls_snapshot()
    assert [(c.key_id, c.status) for c in calls] == [(key_id(KEY_A), 429), (key_id(KEY_B), 200)]
    row = analysis_of(first)
    assert (row.status, row.attempts, row.api_key_id) == ("ok", 2, key_id(KEY_B))
    assert pool_states() == {key_id(KEY_A): "cooling", key_id(KEY_B): "active"}

    second = make_payload(camera.pk, person=12)
    candidates.dispatch(second)
    assert alert_of(second).verification == "confirmed"
    assert [c.key_id for c in stub.calls_snapshot()[2:]] == [key_id(KEY_B)]  # A still rests

    metrics = worker.metrics()
    assert 'trafficsite_llm_requests_total{status="throttled"} 1.0' in metrics
    assert f'trafficsite_llm_key_status{{key_id="{key_id(KEY_A)}",state="cooling"}} 1.0' in metrics
    assert "trafficsite_llm_tokens_total" in metrics and "trafficsite_llm_cost_estimated_total" in metrics
    assert KEY_A not in metrics and KEY_B not in metrics


def test_a_401_disables_the_key_and_the_operator_sees_and_reenables_it(stub: DashScopeStub, client: Client) -> None:
    stub.script("invalid_key", key=KEY_A)
    payload = make_payload(make_camera().pk)
    candidates.dispatch(payload)
    assert alert_of(payload).verification == "confirmed"
    assert analysis_of(payload).api_key_id == key_id(KEY_B)
    assert pool_states() == {key_id(KEY_A): "disabled", key_id(KEY_B): "active"}

    client.force_login(User.objects.create_superuser("operator", password="a-long-operator-password"))
    page = client.get("/admin/analysis/llmanalysis/keys/").content.decode()
    assert f'id="key-{key_id(KEY_A)}" data-state="disabled"' in page and "InvalidApiKey" in page
    assert "…0001" in page and KEY_A not in page and KEY_B not in page
    response = client.post(f"/admin/analysis/llmanalysis/keys/{key_id(KEY_A)}/enable/")
    assert response.status_code == 302
    assert pool_states()[key_id(KEY_A)] == "active"


def test_when_every_key_is_refused_the_alert_is_rules_only_and_says_why(stub: DashScopeStub) -> None:
    stub.script("invalid_key", key=KEY_A)
    stub.script("arrearage", key=KEY_B)
    payload = make_payload(make_camera().pk)
    candidates.dispatch(payload)
    alert = alert_of(payload)
    assert alert.verification == "unverified"
    assert alert.description.startswith("Not verified: every DashScope API key is disabled")
    row = analysis_of(payload)
    assert (row.status, row.reason, row.attempts) == ("skipped", "keys_disabled", 2)
    assert alert.analysis_id == row.pk


def test_a_malformed_reply_is_repaired_with_one_text_only_call(stub: DashScopeStub) -> None:
    stub.script("malformed")
    payload = make_payload(make_camera().pk)
    candidates.dispatch(payload)
    assert alert_of(payload).verification == "confirmed"
    first, repair = stub.calls_snapshot()
    assert (first.repair, len(first.images)) == (False, 2)
    assert (repair.repair, repair.images) == (True, [])
    assert "Here is my assessment" in repair.text  # the model sees what it answered
    row = analysis_of(payload)
    assert (row.status, row.attempts) == ("ok", 2)
    assert "--- repair ---" in row.raw_reply


def test_a_reply_malformed_twice_leaves_a_failed_job_that_replays(stub: DashScopeStub) -> None:
    stub.script("malformed", "malformed")
    payload = make_payload(make_camera().pk)
    result = analyze_event.delay(payload)
    job = wait_for(lambda: FailedJob.objects.filter(task_id=result.id).first(), what="failed job")
    assert (job.task_name, job.queue, job.error_type, job.args) == (
        "analysis.analyze_event", "llm", "MalformedVerdict", [payload],
    )  # fmt: skip
    assert analysis_of(payload).status == "malformed"
    assert not Alert.objects.filter(idempotency_key=payload["event_key"]).exists()

    job.replay()  # the stub answers properly now
    assert alert_of(payload).verification == "confirmed"
    row = analysis_of(payload)
    assert (row.status, row.attempts) == ("ok", 3)
    assert LLMAnalysis.objects.filter(event_key=payload["event_key"]).count() == 1


def test_server_errors_are_retried_with_back_off_then_succeed(stub: DashScopeStub) -> None:
    stub.script("server_error", "server_error")
    payload = make_payload(make_camera().pk)
    candidates.dispatch(payload)
    assert alert_of(payload).verification == "confirmed"
    calls = stub.calls_snapshot()
    assert [c.status for c in calls] == [500, 500, 200]
    assert calls[1].at - calls[0].at >= 0.1 and calls[2].at - calls[1].at >= 0.2  # back-off between runs
    assert analysis_of(payload).attempts == 3


def test_server_errors_past_the_retries_end_in_a_failed_job(stub: DashScopeStub) -> None:
    stub.script("server_error", "server_error", "server_error")
    payload = make_payload(make_camera().pk)
    result = analyze_event.delay(payload)
    job = wait_for(lambda: FailedJob.objects.filter(task_id=result.id).first(), what="failed job")
    assert job.error_type == "CallFailed" and "500 InternalError" in job.error
    assert [c.status for c in stub.calls_snapshot()] == [500, 500, 500]  # LLM_MAX_RETRIES=2
    row = analysis_of(payload)
    assert (row.status, row.attempts) == ("error", 3)


def test_content_refused_by_inspection_is_recorded_as_blocked_and_not_retried(stub: DashScopeStub) -> None:
    stub.script("blocked")
    payload = make_payload(make_camera().pk)
    candidates.dispatch(payload)
    alert = alert_of(payload)
    assert alert.verification == "unverified" and "DataInspectionFailed" in alert.description
    assert (analysis_of(payload).status, len(stub.calls_snapshot())) == ("blocked", 1)
    assert pool_states()[key_id(KEY_A)] == "active"  # the key did nothing wrong


def test_analysing_one_event_twice_gives_one_analysis_one_alert_and_one_call(stub: DashScopeStub) -> None:
    stub.script(Scripted("ok", delay_s=1.0))  # both tasks run while the first call is in flight
    payload = make_payload(make_camera().pk)
    results = [analyze_event.delay(payload), analyze_event.delay(payload)]
    alert_of(payload)
    outcomes = sorted(r.get(timeout=30)["outcome"] for r in results)
    assert outcomes == ["already", "confirmed"]
    assert len(stub.calls_snapshot()) == 1
    assert LLMAnalysis.objects.filter(event_key=payload["event_key"]).count() == 1
    assert Alert.objects.filter(idempotency_key=payload["event_key"]).count() == 1


def test_a_worker_killed_mid_call_has_its_task_redelivered_and_one_alert(
    stub: DashScopeStub, worker: WorkerProcess
) -> None:
    stub.script(Scripted("slow", delay_s=120))
    payload = make_payload(make_camera().pk)
    result = analyze_event.delay(payload)
    (call,) = wait_for(stub.calls_snapshot, what="the call in flight")
    children = psutil.Process(worker.proc.pid).children()
    (caller,) = [p for p in children if any(c.laddr.port == call.client_port for c in p.net_connections("tcp"))]
    os.kill(caller.pid, signal.SIGKILL)

    alert = alert_of(payload, timeout_s=60)
    assert alert.verification == "confirmed"
    first, again = stub.calls_snapshot()
    assert (first.status, again.status) == (0, 200)  # the first call never got its answer
    assert LLMAnalysis.objects.filter(event_key=payload["event_key"]).count() == 1
    assert Alert.objects.filter(idempotency_key=payload["event_key"]).count() == 1
    assert result.get(timeout=10)["outcome"] == "confirmed"
    assert not FailedJob.objects.filter(task_id=result.id).exists()


def test_the_same_tracks_again_get_the_earlier_verdict_without_a_call(stub: DashScopeStub) -> None:
    camera = make_camera()
    first, again = make_payload(camera.pk), make_payload(camera.pk)  # same rule and tracks, two events
    candidates.dispatch(first)
    alert_of(first)
    candidates.dispatch(again)
    alert = alert_of(again)
    assert alert.verification == "confirmed" and alert.description == alert_of(first).description
    row = analysis_of(again)
    assert (row.status, row.reason, row.attempts) == ("skipped", "duplicate", 0)
    assert len(stub.calls_snapshot()) == 1


def test_camera_options_skip_the_llm_and_the_alert_says_why(stub: DashScopeStub) -> None:
    off = make_camera(llm_enabled=False)
    trusted = make_camera(llm_conclusive_rules=["near_miss"])
    capped = make_camera(llm_calls_per_hour=1)
    payloads = [make_payload(off.pk), make_payload(trusted.pk), make_payload(capped.pk, person=21),
                make_payload(capped.pk, person=22)]  # fmt: skip
    alerts = []
    for payload in payloads:  # one after the other: the camera's cap goes to the first event
        candidates.dispatch(payload)
        alerts.append(alert_of(payload))
    assert alerts[0].description == "Not verified: LLM verification is off for this camera."
    assert alerts[1].description == "Not verified by the LLM: this camera trusts the rule on its own."
    assert alerts[2].verification == "confirmed"
    assert alerts[3].description == "Not verified: this camera's hourly limit of LLM calls is reached."
    assert [analysis_of(p).reason for p in payloads] == ["camera_off", "rule_conclusive", "", "camera_cap"]
    assert len(stub.calls_snapshot()) == 1


def test_expired_evidence_is_not_sent_and_the_alert_says_so(stub: DashScopeStub) -> None:
    payload = make_payload(make_camera().pk)
    get_redis().delete(payload["keyframe_key"], payload["crop_key"])
    candidates.dispatch(payload)
    alert = alert_of(payload)
    assert alert.verification == "unverified" and "evidence images had expired" in alert.description
    assert stub.calls_snapshot() == []


def test_without_a_key_the_plain_function_records_why_and_alerts_unverified(settings) -> None:
    settings.DASHSCOPE_API_KEYS = []
    payload = make_payload(make_camera().pk)
    outcome = analyze.analyze_event(payload, task_id="in-process")
    assert outcome.outcome == "unverified"
    assert alert_of(payload).description == "Not verified: no DashScope API key is configured (rules only)."
    assert analysis_of(payload).reason == "no_key"
