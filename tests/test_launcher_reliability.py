"""./run's launcher keeps a single box running: it restarts what dies (its embedded Redis too) with a
capped back-off, never stops the others, shows a crash loop in /readyz, and queued work survives a
restart of its Redis (append-only file, as the launcher starts it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from alerts.models import Alert
from core.processes import PROCESS_STATE_ENV
from core.readiness import check_processes
from tests.factories import make_camera
from tests.support.waiting import wait_for
from tests.workers import WorkerProcess
from trafficsite import launcher, redeliver
from trafficsite.restarts import CRASH_LOOP_RESTARTS, MAX_DELAY_S, RestartPolicy

BASE_DIR = Path(__file__).resolve().parent.parent


def test_restarts_back_off_to_a_cap_and_never_give_up() -> None:
    policy = RestartPolicy()
    delays = [policy.exited(-9, now=float(t)) for t in range(30)]
    assert delays[0] == 0.0  # the first death in a while: at once
    assert delays[1:5] == [1.0, 2.0, 4.0, 8.0]
    assert max(delays) == MAX_DELAY_S and delays[-1] == MAX_DELAY_S


def test_a_crash_looping_child_is_restarted_and_shown_while_the_others_keep_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("trafficsite.restarts.MAX_DELAY_S", 0.5)  # keep the loop short; the policy is tested above
    state = tmp_path / "processes.json"
    env = {**os.environ, PROCESS_STATE_ENV: str(state)}
    steady = launcher.Child("steady", [sys.executable, "-c", "import time; time.sleep(120)"])
    crashing = launcher.Child("worker-detect", [sys.executable, "-c", "import sys; sys.exit(3)"])
    procs = [steady, crashing]
    for child in procs:
        child.start(env)
    first_pid = steady.proc.pid if steady.proc else None
    stop: list[bool] = []
    thread = threading.Thread(target=launcher.supervise, args=(procs, env, stop), daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(crashing.policy.exits) > CRASH_LOOP_RESTARTS, 30, "the crash loop")
        monkeypatch.setenv(PROCESS_STATE_ENV, str(state))
        result = wait_for(lambda: (r := check_processes(1.0)) and not r["ok"] and r, 10, "/readyz to show it")
        assert "worker-detect keeps dying" in result["error"] and "last exit code 3" in result["error"]
        assert json.loads(state.read_text())["crash_loops"]["worker-detect"]["last_exit_code"] == 3
        assert steady.alive() and steady.proc is not None and steady.proc.pid == first_pid
        assert thread.is_alive(), "the launcher gave up"
    finally:
        stop.append(True)
        thread.join(5)
        launcher.shutdown(procs, None)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_alert_work_queued_with_no_worker_survives_a_crash_of_the_embedded_redis(
    tmp_path: Path, test_database_url: str
) -> None:
    """The launcher's own embedded Redis (its real command line), SIGKILLed with 20 alerts queued."""
    camera = make_camera()
    redis_child, url = launcher.start_embedded_redis(tmp_path)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "TEST_DATABASE_URL": test_database_url,
           "TEST_REDIS_URL": url}  # fmt: skip
    worker = WorkerProcess(queues="alerts", name="durable", database_url=test_database_url, concurrency=1,
                           extra_env={"TEST_REDIS_URL": url})  # fmt: skip
    try:
        argv = [sys.executable, "-m", "tests.support.send_alerts", str(camera.pk), "20", "durable"]
        sent = subprocess.run(argv, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=True)
        keys = sent.stdout.split()
        assert len(keys) == 20
        time.sleep(1.5)  # appendfsync everysec: what was acknowledged a second ago is on disk
        assert redis_child.proc is not None
        redis_child.proc.send_signal(signal.SIGKILL)
        redis_child.proc.wait(10)
        redis_child.start({})  # what the launcher's supervise() does
        worker.start()
        wait_for(lambda: Alert.objects.filter(idempotency_key__in=keys).count() == 20, 90,
                 f"every alert after the restart ({worker.log()[-2000:]})")  # fmt: skip
        assert Alert.objects.filter(camera=camera).count() == 20
    finally:
        worker.stop()
        launcher.shutdown([], redis_child)


RESERVE = """
import os, sys, time
from kombu import Connection, Exchange, Queue
from core.topology import BROKER_KEY_PREFIX
from trafficsite.redisurl import for_celery
with Connection(for_celery(sys.argv[1]), transport_options={"global_keyprefix": BROKER_KEY_PREFIX}) as conn:
    queue = Queue("alerts", Exchange("trafficsite", "direct"), routing_key="alerts")(conn.default_channel)
    held = [m for m in (queue.get(no_ack=False) for _ in range(int(sys.argv[2]))) if m is not None]
    print(len(held), flush=True)
    time.sleep(600)  # holds them, unacknowledged, until killed
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_messages_a_killed_worker_held_go_back_to_their_queue_at_once(tmp_path: Path, test_database_url: str) -> None:
    """What a worker SIGKILLed as a whole had reserved is not left for the 3600 s visibility timeout."""
    camera = make_camera()
    redis_child, url = launcher.start_embedded_redis(tmp_path)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "TEST_DATABASE_URL": test_database_url,
           "TEST_REDIS_URL": url}  # fmt: skip
    worker = WorkerProcess(queues="alerts", name="redeliver", database_url=test_database_url, concurrency=1,
                           extra_env={"TEST_REDIS_URL": url})  # fmt: skip
    holder = None
    try:
        argv = [sys.executable, "-m", "tests.support.send_alerts", str(camera.pk), "5", "held"]
        keys = subprocess.run(argv, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
                              check=True).stdout.split()  # fmt: skip
        holder = subprocess.Popen([sys.executable, "-c", RESERVE, url, "5"], cwd=BASE_DIR, env=env,
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert holder.stdout is not None and holder.stdout.readline().strip() == "5"
        holder.send_signal(signal.SIGKILL)  # a whole "worker" killed with five messages reserved
        holder.wait(10)
        messages: list[str] = []
        redeliver.after_exit("worker-alerts", url, messages.append)  # what supervise() does on a death
        assert messages == ["worker-alerts died holding 5 message(s): back in queue 'alerts'"]
        worker.start()
        started = time.monotonic()
        wait_for(lambda: Alert.objects.filter(idempotency_key__in=keys).count() == 5, 60, "the five alerts")
        assert time.monotonic() - started < 60
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
        worker.stop()
        launcher.shutdown([], redis_child)
