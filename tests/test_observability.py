"""Observability against real processes: task metrics across prefork children, promtool on every
endpoint's scrape, /readyz with workers and supervisors stopped, JSON logs and traces from a worker."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery.result import AsyncResult
from django.test import Client
from prometheus_client import REGISTRY

from alerts.models import Alert
from analysis.stub import DashScopeStub
from compose import validate
from core import readiness, tracing
from core.health import ping_queues
from core.logging import JsonFormatter, PlainFormatter, log_context
from core.redact import key_id
from core.tasks import collect_gauges
from detection.capture import dispatch as candidates
from tests.celery_tasks import fails_permanently, retries_then_fails
from tests.factories import make_camera
from tests.support.dashscope_helpers import (
    KEY_A,
    clear_llm_state,
    llm_worker,
    make_payload,
    only_these_llm_consumers,
    wait_consuming,
)
from tests.support.obs_tasks import log_line, sleep_and_pid
from tests.support.otlp import OtlpReceiver
from tests.support.rtsp import free_port
from tests.support.scrape import METRICS_AUTH, family_names, promtool_check, sample_value, scrape
from tests.support.waiting import wait_for
from tests.workers import BASE_DIR, WorkerProcess

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

# Queues of our own: the session's shared worker (tests/conftest.py) consumes the four real ones.
OBS_QUEUE = f"obs-{os.getpid()}"
READY_QUEUE = f"obs-ready-{os.getpid()}"
WORKER_SERVICE = "trafficsite-test-worker"
LLM_SERVICE = "trafficsite-test-llm"


def start_worker(name: str, queue: str, database_url: str, metrics_dir: Path, concurrency: int, **env: str):
    metrics_dir.mkdir(parents=True, exist_ok=True)
    worker = WorkerProcess(
        queues=queue,
        name=name,
        database_url=database_url,
        concurrency=concurrency,
        extra_env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "METRICS_PORT": str(free_port()), **env},
    )
    # Our test tasks as well as the suite's (WorkerProcess includes tests.celery_tasks).
    worker.argv[worker.argv.index("tests.celery_tasks")] = "tests.celery_tasks,tests.support.obs_tasks"
    worker.start()
    try:
        worker.wait_ready((queue,))
    except Exception:
        worker.stop()
        raise
    return worker


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def obs_worker(test_database_url, tmp_path_factory, otlp) -> Iterator[WorkerProcess]:
    """Two prefork children on a queue of our own, logging JSON and exporting traces."""
    worker = start_worker(
        "obs",
        OBS_QUEUE,
        test_database_url,
        tmp_path_factory.mktemp("obs-metrics"),
        concurrency=2,
        LOG_FORMAT="json",
        OTEL_ENABLED="true",
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp.endpoint,
        OTEL_SERVICE_NAME=WORKER_SERVICE,
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    yield worker
    worker.stop()


@pytest.fixture
def fresh_readyz(settings) -> Iterator[None]:
    settings.READYZ_CACHE_S = 0
    settings.READYZ_TIMEOUT_S = 2
    readiness.forget()
    yield
    readiness.forget()


def run_supervisor(database_url: str, metrics_dir: Path | None = None, port: int | None = None) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "TEST_DATABASE_URL": database_url,
        "CAPTURE_LEASE_TTL_S": "3",
        "CAPTURE_RECONCILE_S": "0.5",
    }
    if metrics_dir is not None and port is not None:
        metrics_dir.mkdir(parents=True, exist_ok=True)
        env |= {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "METRICS_PORT": str(port)}
    return subprocess.Popen([sys.executable, "manage.py", "run_cameras"], cwd=BASE_DIR, env=env)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def get_readyz(client: Client) -> tuple[int, dict]:
    response = client.get("/readyz", **METRICS_AUTH)
    return response.status_code, response.json()


# -- task metrics ----------------------------------------------------------------------------------
def test_task_counters_of_both_prefork_children_add_up_in_one_scrape(obs_worker: WorkerProcess) -> None:
    task = {"task": "tests.obs.sleep_and_pid", "queue": "other"}  # test queues are not one of the four
    before = obs_worker.metrics()
    sent_before = REGISTRY.get_sample_value("trafficsite_celery_tasks_sent_total", task) or 0.0

    results = [sleep_and_pid.apply_async((0.3,), queue=OBS_QUEUE) for _ in range(8)]
    pids = {result.get(timeout=60) for result in results}
    assert len(pids) == 2, "both pool children ran some of the tasks"

    def delta(name: str, **extra: str) -> float:
        labels = {**task, **extra}
        return sample_value(obs_worker.metrics(), name, labels) - sample_value(before, name, labels)

    # The result is stored before the success signal: wait for the last child to count it.
    wait_for(lambda: delta("trafficsite_celery_task_runtime_seconds_count") >= 8, 10, "eight runtimes")
    assert delta("trafficsite_celery_tasks_received_total") == 8
    assert delta("trafficsite_celery_tasks_finished_total", outcome="succeeded") == 8
    assert delta("trafficsite_celery_task_runtime_seconds_count") == 8
    assert delta("trafficsite_celery_task_runtime_seconds_sum") >= 8 * 0.3
    assert delta("trafficsite_celery_task_wait_seconds_count") == 8
    # The publisher (this process) counted what it sent, in its own registry (web's /metrics).
    assert REGISTRY.get_sample_value("trafficsite_celery_tasks_sent_total", task) == sent_before + 8


def test_failures_and_retries_are_counted_by_outcome(obs_worker: WorkerProcess) -> None:
    before = obs_worker.metrics()

    def delta(task: str, name: str, **extra: str) -> float:
        labels = {"task": task, "queue": "other", **extra}
        return sample_value(obs_worker.metrics(), name, labels) - sample_value(before, name, labels)

    fails_permanently.apply_async(("bad input",), queue=OBS_QUEUE)
    retries_then_fails.apply_async(("postgres",), queue=OBS_QUEUE)  # max_retries=2: three runs
    wait_for(
        lambda: delta("tests.retries_then_fails", "trafficsite_celery_tasks_finished_total", outcome="failed") >= 1,
        30, "the retried task to fail for good",
    )  # fmt: skip
    wait_for(lambda: delta("tests.fails_permanently", "trafficsite_celery_task_runtime_seconds_count") >= 1, 10)
    assert delta("tests.fails_permanently", "trafficsite_celery_tasks_finished_total", outcome="failed") == 1
    assert delta("tests.retries_then_fails", "trafficsite_celery_tasks_finished_total", outcome="retried") == 2
    assert delta("tests.retries_then_fails", "trafficsite_celery_tasks_received_total") == 3
    assert delta("tests.retries_then_fails", "trafficsite_celery_tasks_finished_total", outcome="succeeded") == 0


def test_periodic_gauges_reach_the_maintenance_workers_scrape(obs_worker: WorkerProcess) -> None:
    result = collect_gauges.apply_async(queue=OBS_QUEUE).get(timeout=30)
    assert set(result["queue_depth"]) == {"detect", "llm", "alerts", "maintenance"}
    text = wait_for(
        lambda: (t := obs_worker.metrics()) and "trafficsite_gauges_collected_timestamp_seconds" in t and t, 10
    )
    assert sample_value(text, "trafficsite_gauges_collected_timestamp_seconds") == pytest.approx(
        result["collected_at"], abs=0.01
    )
    for queue, depth in result["queue_depth"].items():
        assert sample_value(text, "trafficsite_queue_depth", {"queue": queue}) == depth
    for severity in ("low", "medium", "high", "critical"):
        assert f'trafficsite_alerts_open{{severity="{severity}"}}' in text


def test_task_and_queue_labels_stay_within_known_lists() -> None:
    from core.task_metrics import queue_label, task_label

    assert task_label("core.ping") == "core.ping"
    assert task_label("x'); DROP TABLE alerts; --") == "other"
    assert task_label("http://evil.example/" + "a" * 300) == "other"
    assert [queue_label(q) for q in ("detect", "llm", "alerts", "maintenance")] == [
        "detect",
        "llm",
        "alerts",
        "maintenance",
    ]
    assert queue_label("celery") == queue_label(None) == "other"


def test_beat_sends_the_periodic_gauges_task_to_the_maintenance_queue(test_database_url, tmp_path) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "TEST_DATABASE_URL": test_database_url,
        "GAUGES_INTERVAL_S": "1",
        "TMPDIR": str(tmp_path),
    }
    log_path = tmp_path / "beat.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(BASE_DIR / "compose/start/beat")], cwd=BASE_DIR, env=env, stdout=log, stderr=log)
    try:
        wait_for(
            lambda: "Sending due task collect-gauges (core.collect_gauges)" in log_path.read_text(), 60,
            "beat to send core.collect_gauges",
        )  # fmt: skip
        assert (tmp_path / "celerybeat-schedule").exists() or list(tmp_path.glob("celerybeat-schedule*"))
    finally:
        stop(proc)


def test_an_alert_is_counted_when_its_row_is_committed(django_capture_on_commit_callbacks) -> None:
    from alerts.models import Alert
    from tests.factories import make_alert

    labels = {"event_type": "speeding", "severity": "high", "verification": "pending"}

    def recorded() -> float:
        return REGISTRY.get_sample_value("trafficsite_alerts_recorded_total", labels) or 0.0

    before = recorded()
    with django_capture_on_commit_callbacks(execute=True):
        alert = make_alert(severity=Alert.Severity.HIGH)
        assert recorded() == before  # not before the commit: a rolled-back duplicate is no alert
    assert recorded() == before + 1
    with django_capture_on_commit_callbacks(execute=True):
        alert.description = "seen"
        alert.save()
    assert recorded() == before + 1  # an update is not a new alert


def test_the_periodic_collection_counts_open_alerts_and_cameras() -> None:
    from alerts.models import Alert
    from cameras.models import Camera
    from core.gauges import collect
    from tests.factories import make_alert, make_camera

    camera = make_camera()
    make_alert(camera, severity=Alert.Severity.CRITICAL)
    make_alert(camera, severity=Alert.Severity.CRITICAL)
    make_alert(camera, severity=Alert.Severity.LOW, review_status="resolved", reviewed_at=camera.created_at)
    result = collect()
    assert result["alerts_open"] == {"low": 0, "medium": 0, "high": 0, "critical": 2}
    assert result["cameras_enabled"] == Camera.objects.filter(enabled=True).count() >= 1
    assert REGISTRY.get_sample_value("trafficsite_alerts_open", {"severity": "critical"}) == 2
    assert REGISTRY.get_sample_value("trafficsite_cameras_enabled") == result["cameras_enabled"]
    assert REGISTRY.get_sample_value("trafficsite_gauges_collected_timestamp_seconds") == result["collected_at"]


def test_the_worker_start_script_forgets_the_counters_of_a_previous_run(obs_worker, test_database_url, tmp_path):
    """A restarted container keeps /tmp: stale value files would add old counts to the new ones."""
    import shutil

    sleep_and_pid.apply_async((0,), queue=OBS_QUEUE).get(timeout=30)
    metrics_dir = tmp_path / "metrics"
    shutil.copytree(obs_worker.env["PROMETHEUS_MULTIPROC_DIR"], metrics_dir)  # "the previous run"
    assert list(metrics_dir.glob("counter_*.db"))
    queue, port = f"obs-start-{os.getpid()}", free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "TEST_DATABASE_URL": test_database_url,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "METRICS_PORT": str(port),
    }
    # The maintenance worker of the process table, moved to a queue of this test's own (a later -Q wins).
    argv = [str(BASE_DIR / "compose/start/worker"), "maintenance", "-Q", queue, "-n", f"{queue}@%h",
            "--without-gossip", "--without-mingle", "--include", "tests.support.obs_tasks"]  # fmt: skip
    with (tmp_path / "worker.log").open("wb") as log:
        proc = subprocess.Popen(argv, cwd=BASE_DIR, env=env, stdout=log, stderr=log)
    try:
        wait_for(lambda: ping_queues((queue,), timeout_s=2)[queue]["ok"], 60, "the worker to answer")
        text = scrape(f"http://127.0.0.1:{port}/metrics")
        assert (
            sample_value(text, "trafficsite_celery_tasks_received_total", {"task": "core.ping", "queue": "other"}) >= 1
        )
        assert "tests.obs.sleep_and_pid" not in text  # only the obs worker ran it, in "the previous run"
    finally:
        stop(proc)


# -- promtool on every endpoint ------------------------------------------------------------------
def test_promtool_accepts_a_workers_scrape(obs_worker: WorkerProcess) -> None:
    sleep_and_pid.apply_async((0,), queue=OBS_QUEUE).get(timeout=30)
    text = obs_worker.metrics()
    assert {"trafficsite_celery_tasks_received", "trafficsite_celery_task_runtime_seconds"} <= family_names(text)
    code, complaints = promtool_check(text)
    assert code == 0 and not complaints, complaints


def test_promtool_accepts_the_web_metrics(client: Client) -> None:
    assert client.get("/healthz").status_code == 200
    response = client.get("/metrics", **METRICS_AUTH)
    assert response.status_code == 200
    text = response.content.decode()
    assert "django_http_responses_total_by_status_view_method_total" in text
    code, complaints = promtool_check(text)
    assert code == 0 and not complaints, complaints


@pytest.mark.django_db(transaction=True)
def test_promtool_accepts_the_capture_supervisors_scrape(test_database_url, tmp_path) -> None:
    from tests.factories import make_camera

    camera = make_camera(detect_fps=5)
    port = free_port()
    proc = run_supervisor(test_database_url, tmp_path / "capture-metrics", port)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        # Frames read by the camera process (a child), served by the supervisor (the parent).
        text = wait_for(
            lambda: (t := scrape(url)) and sample_value(t, "trafficsite_frames_read_total", {"camera": str(camera.pk)})
            and t, 90, "frames read by the camera process",
        )  # fmt: skip
        assert "trafficsite_camera_up" in family_names(text)
        # The system-wide gauges come from the maintenance worker only, not as zeros from here.
        assert "trafficsite_capture_supervisors" not in text
        code, complaints = promtool_check(text)
        assert code == 0 and not complaints, complaints
    finally:
        stop(proc)


def test_flower_asks_for_a_password_and_its_metrics_pass_promtool(test_database_url, tmp_path, obs_worker) -> None:
    port = free_port()
    password = "correct-horse-battery"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "TEST_DATABASE_URL": test_database_url,
        "FLOWER_BASIC_AUTH": f"ops:{password}",
        "FLOWER_ADDRESS": "127.0.0.1",
        "FLOWER_PORT": str(port),
    }
    log = (tmp_path / "flower.log").open("wb")
    proc = subprocess.Popen(
        [str(BASE_DIR / "compose/start/flower")], cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        text = scrape(f"{base}/metrics", timeout_s=60)  # not behind the login: keep Flower internal
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/", timeout=5)  # noqa: S310 - localhost
        assert refused.value.code == 401
        wrong = b64encode(b"ops:guess").decode()
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(f"{base}/workers", headers={"Authorization": f"Basic {wrong}"})
        assert refused.value.code == 401
        right = b64encode(f"ops:{password}".encode()).decode()
        assert "Workers" in scrape(f"{base}/workers", headers={"Authorization": f"Basic {right}"})
        # Flower follows the workers through their events: ours shows up online in its metrics.
        text = wait_for(
            lambda: (t := scrape(f"{base}/metrics")) and 'flower_worker_online{worker="obs@' in t and t, 30,
            "Flower to see the test worker",
        )  # fmt: skip
        documented = [f.name for f in validate.documented_families().values() if f.source == "Flower"]
        assert documented and set(documented) <= family_names(text)
        code, complaints = promtool_check(text)
        assert code == 0 and not complaints, complaints
    finally:
        stop(proc)
        log.close()
    assert password not in (tmp_path / "flower.log").read_text()


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (None, "FLOWER_BASIC_AUTH must be set"),
        ("ops", "FLOWER_BASIC_AUTH must be user:password"),
        ("ops:short", "at least 12 characters"),
    ],
)
def test_the_flower_start_script_refuses_to_run_without_a_real_password(auth: str | None, message: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FLOWER_BASIC_AUTH"}
    if auth is not None:
        env["FLOWER_BASIC_AUTH"] = auth
    result = subprocess.run(
        [str(BASE_DIR / "compose/start/flower")], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode != 0
    assert message in result.stderr
    if auth and ":" in auth:
        assert auth.split(":", 1)[1] not in result.stderr  # the password is not echoed


# -- /readyz ---------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_readyz_reports_a_stopped_worker_and_a_stopped_supervisor(
    client: Client, settings, fresh_readyz, test_database_url, tmp_path
) -> None:
    settings.READYZ_QUEUES = [READY_QUEUE]
    worker = start_worker("ready", READY_QUEUE, test_database_url, tmp_path / "metrics", concurrency=1)
    supervisor = run_supervisor(test_database_url)
    try:
        status, body = wait_for(lambda: (r := get_readyz(client))[0] == 200 and r, 60, "/readyz to pass")
        assert body["status"] == "ok" and body["failing"] == []
        assert set(body["checks"]) == {"database", "redis", "broker", "queues", "capture", "processes"}
        assert all(check["ok"] for check in body["checks"].values()), body
        answer = body["checks"]["queues"]["queues"][READY_QUEUE]
        assert answer["worker"].startswith("ready@")
        assert body["checks"]["capture"]["supervisors"] >= 1

        worker.stop()
        status, body = get_readyz(client)
        assert status == 503
        assert body["status"] == "unavailable" and body["failing"] == ["queues"]
        answer = body["checks"]["queues"]["queues"][READY_QUEUE]
        assert answer == {
            "ok": False,
            "error": f"no worker answered on queue {READY_QUEUE!r} within 2 s",
            "workers": [],
        }

        stop(supervisor)  # a clean stop deletes the heartbeat at once; others' expire in 3 s
        status, body = wait_for(lambda: "capture" in (r := get_readyz(client))[1]["failing"] and r, 15)
        assert status == 503
        assert body["checks"]["capture"]["ok"] is False
        assert body["checks"]["capture"]["error"].startswith("no capture supervisor heartbeat")
        assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"] and body["checks"]["broker"]["ok"]
    finally:
        worker.stop()
        stop(supervisor)


@pytest.mark.django_db
def test_readyz_counts_a_busy_queue_as_served(client: Client, settings, fresh_readyz, obs_worker) -> None:
    settings.READYZ_QUEUES = [OBS_QUEUE]
    settings.READYZ_TIMEOUT_S = 1
    busy = [sleep_and_pid.apply_async((4,), queue=OBS_QUEUE) for _ in range(2)]  # both children
    time.sleep(0.5)
    _, body = get_readyz(client)
    answer = body["checks"]["queues"]["queues"][OBS_QUEUE]
    assert answer["ok"] is True and answer["busy"] is True, answer
    assert answer["workers"] and answer["workers"][0].startswith("obs@")
    assert body["checks"]["queues"]["ok"] is True
    for result in busy:
        result.get(timeout=30)


@pytest.mark.django_db
def test_readyz_keeps_its_answer_so_a_load_balancer_cannot_flood_the_queues(client: Client, settings) -> None:
    settings.READYZ_QUEUES = [f"nobody-{os.getpid()}"]
    settings.READYZ_TIMEOUT_S = 0.5
    settings.READYZ_CACHE_S = 60
    readiness.forget()
    ping = {"task": "core.ping", "queue": "other"}
    try:
        sent = REGISTRY.get_sample_value("trafficsite_celery_tasks_sent_total", ping) or 0.0
        first = get_readyz(client)[1]
        assert REGISTRY.get_sample_value("trafficsite_celery_tasks_sent_total", ping) == sent + 1
        for _ in range(5):
            again = get_readyz(client)[1]
            assert again["cached"] is True and again["checked_at"] == first["checked_at"]
        assert first["cached"] is False
        assert client.head("/readyz").status_code == 503  # load balancers may probe with HEAD
        assert REGISTRY.get_sample_value("trafficsite_celery_tasks_sent_total", ping) == sent + 1
    finally:
        readiness.forget()


@pytest.mark.django_db
def test_readyz_names_a_broken_redis_without_showing_its_password(client: Client, settings, fresh_readyz) -> None:
    settings.REDIS_URL = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    response = client.get("/readyz", **METRICS_AUTH)
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["redis"]["error"].startswith("ConnectionError: ")
    assert {"redis", "capture"} <= set(body["failing"])
    assert "hunter2" not in response.content.decode()


def test_healthz_stays_a_plain_liveness_answer(client: Client) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


# -- logs ----------------------------------------------------------------------------------------
def test_a_workers_json_log_line_carries_the_task_and_camera_and_no_password(obs_worker: WorkerProcess) -> None:
    result = log_line.apply_async(
        kwargs={"camera_id": 7, "message": "opening rtsp://admin:hunter2@10.0.0.7/stream failed"}, queue=OBS_QUEUE
    )
    result.get(timeout=30)

    def our_line() -> dict | None:
        for line in obs_worker.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{") and "opening rtsp://" in line:
                entry: dict = json.loads(line)
                return entry
        return None

    entry = wait_for(our_line, 10, "the task's log line")
    assert entry["message"] == "opening rtsp://admin:***@10.0.0.7/stream failed"
    assert entry["level"] == "WARNING" and entry["logger"] == "tests.support.obs_tasks"
    assert (entry["task_id"], entry["task_name"], entry["camera_id"]) == (result.id, "tests.obs.log_line", "7")
    assert "hunter2" not in obs_worker.log_path.read_text(errors="replace")


def test_the_json_formatter_masks_keys_in_tracebacks_and_drops_unlisted_extras(settings) -> None:
    key = "sk-0123456789abcdef0123"
    settings.DASHSCOPE_API_KEYS = [key]
    logger = logging.getLogger("tests.obs.json")
    try:
        raise RuntimeError(f"DashScope refused key {key} for rtsp://u:pw@cam/1")
    except RuntimeError:
        record = logger.makeRecord(
            logger.name, logging.ERROR, __file__, 1, "call failed", None, sys.exc_info(),
            extra={"camera_id": 3, "api_key": key},
        )  # fmt: skip
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert key not in line and "pw@" not in line
    assert "…0123" in entry["exception"] and "u:***@cam" in entry["exception"]
    assert entry["camera_id"] == "3"
    assert "api_key" not in entry


def test_plain_lines_end_with_the_context_ids() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "frame dropped", None, None)
    with log_context(camera_id=4, event_key="abc"):
        from core.logging import ContextFilter

        ContextFilter().filter(record)
    assert PlainFormatter().format(record).endswith("x frame dropped [camera_id=4 event_key=abc]")


def test_log_context_accepts_only_the_listed_ids() -> None:
    with pytest.raises(ValueError, match="log context fields"), log_context(password="x"):
        pass


# -- traces --------------------------------------------------------------------------------------
def test_span_is_a_no_op_and_nothing_is_instrumented_while_tracing_is_off() -> None:
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    assert not tracing.enabled()
    with tracing.span("dashscope.call", model="qwen-vl-max") as current:
        assert current is None
    assert tracing.current_ids() == {}
    assert not RequestsInstrumentor().is_instrumented_by_opentelemetry


def test_only_requests_and_our_own_spans_start_a_trace_and_the_rest_follows_its_parent() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

    sampler = tracing.WorkStartsSampler(ALWAYS_ON)

    def decision(kind: SpanKind, parent_flags: int | None = None) -> Decision:
        parent = None
        if parent_flags is not None:
            remote = SpanContext(0x1F, 0x2F, is_remote=True, trace_flags=TraceFlags(parent_flags))
            parent = trace.set_span_in_context(NonRecordingSpan(remote))
        return sampler.should_sample(parent, 0x1F, "name", kind).decision

    assert decision(SpanKind.SERVER) is decision(SpanKind.INTERNAL) is Decision.RECORD_AND_SAMPLE
    # A task sent or run, a Redis or HTTP call, outside any trace: the frames of every camera.
    assert {decision(k) for k in (SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.CLIENT)} == {Decision.DROP}
    assert decision(SpanKind.CONSUMER, parent_flags=TraceFlags.SAMPLED) is Decision.RECORD_AND_SAMPLE


@pytest.mark.django_db
def test_a_web_request_is_traced_through_the_queue_into_the_worker(
    client: Client, settings, fresh_readyz, obs_worker: WorkerProcess, otlp: OtlpReceiver
) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    settings.READYZ_QUEUES = [OBS_QUEUE]
    # Django's instrumentation puts its middleware first in settings.MIDDLEWARE (taken out again by
    # disable()); the test client builds its handler at the first request, after this.
    tracing.configure(OTLPSpanExporter(endpoint=f"{otlp.endpoint}/v1/traces"), service_name="web", batch=False)
    try:
        trace_id, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        client.get("/readyz", HTTP_TRACEPARENT=f"00-{trace_id}-{caller_span}-01")
        server = otlp.wait_for("GET readyz", trace_id)
        assert (server.service, server.parent_span_id) == ("web", caller_span)
        assert server.attributes["http.route"] == "readyz"
        send = otlp.wait_for("apply_async/core.ping", trace_id)
        assert send.parent_span_id == server.span_id
        run = otlp.wait_for("run/core.ping", trace_id)
        assert (run.service, run.parent_span_id) == (WORKER_SERVICE, send.span_id)
        assert run.attributes["celery.task_name"] == "core.ping"
        # The request's Redis calls (the readiness check pings Redis) hang below its server span.
        redis_calls = [s for s in otlp.spans_of(trace_id) if s.attributes.get("db.system") == "redis"]
        assert any(s.service == "web" and s.parent_span_id == server.span_id for s in redis_calls)
    finally:
        tracing.disable()


def test_tasks_sent_outside_a_trace_are_not_traced(obs_worker: WorkerProcess, otlp: OtlpReceiver) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracing.configure(exporter, batch=False)
    try:
        result: AsyncResult = sleep_and_pid.apply_async((0,), queue=OBS_QUEUE)
        result.get(timeout=30)
        # No producer span, and none of the Redis calls of publishing and waiting: like every frame
        # the capture loop sends to detection, with the frame store's Redis calls around it.
        assert exporter.get_finished_spans() == ()
        time.sleep(0.5)  # the worker exports within 100 ms
        assert not [s for s in otlp.spans if s.attributes.get("messaging.message.id") == result.id]
    finally:
        tracing.disable()


@pytest.mark.django_db(transaction=True)
def test_a_camera_event_is_traced_from_capture_through_the_llm_and_alerts_tasks_to_the_dashscope_http_call(
    test_database_url: str, tmp_path: Path, otlp: OtlpReceiver, settings
) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    stub = DashScopeStub().start()
    clear_llm_state()
    settings.DASHSCOPE_API_KEYS = [KEY_A]  # this process plays the capture process: it dispatches to the LLM
    (tmp_path / "metrics").mkdir()
    worker = llm_worker(
        "traced", test_database_url, tmp_path / "metrics", keys=[KEY_A], base_url=stub.base_url,
        OTEL_ENABLED="true", OTEL_EXPORTER_OTLP_ENDPOINT=otlp.endpoint, OTEL_SERVICE_NAME=LLM_SERVICE,
        OTEL_BSP_SCHEDULE_DELAY="100",
    )  # fmt: skip
    try:
        with only_these_llm_consumers("llm", "alerts"):  # the alerts task must run in the traced worker too
            worker.start()
            wait_consuming(worker, "llm")
            wait_consuming(worker, "alerts")
            payload = make_payload(make_camera().pk)
            tracing.configure(OTLPSpanExporter(endpoint=f"{otlp.endpoint}/v1/traces"), service_name="capture",
                              batch=False)  # fmt: skip
            try:
                assert candidates.dispatch(payload) == "analysis.analyze_event"
            finally:
                tracing.disable()
            wait_for(lambda: Alert.objects.filter(idempotency_key=payload["event_key"]).exists(), 60, "the alert")
            event = otlp.wait_for_span("camera.event", event_key=payload["event_key"])
            trace_id = event.trace_id
            send = otlp.wait_for("apply_async/analysis.analyze_event", trace_id)
            run = otlp.wait_for("run/analysis.analyze_event", trace_id)
            model_call = otlp.wait_for("dashscope.call", trace_id)
            http_call = otlp.wait_for("POST", trace_id)
            send_alert = otlp.wait_for("apply_async/alerts.record_alert", trace_id)
            run_alert = otlp.wait_for("run/alerts.record_alert", trace_id)
    finally:
        worker.stop()
        stub.stop()
    assert (event.service, event.parent_span_id) == ("capture", "")
    assert (send.service, send.parent_span_id) == ("capture", event.span_id)
    assert (run.service, run.parent_span_id) == (LLM_SERVICE, send.span_id)
    assert model_call.parent_span_id == run.span_id and model_call.attributes["key_id"] == key_id(KEY_A)
    assert http_call.parent_span_id == model_call.span_id and http_call.attributes["http.status_code"] == 200
    # Only scheme, host and port of an outgoing URL leave the process (webhook URLs carry tokens).
    assert http_call.attributes["http.url"] == stub.base_url.split("/api/")[0] + "/"
    assert send_alert.parent_span_id == run.span_id and run_alert.parent_span_id == send_alert.span_id
    spans = otlp.spans_of(trace_id)
    # The LLM step's Redis calls (evidence, key pool, budget) are in the trace; no key is anywhere in it.
    assert any(s.service == LLM_SERVICE and s.attributes.get("db.system") == "redis" for s in spans)
    assert KEY_A not in repr(spans)
